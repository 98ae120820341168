"""Why a run waits and what to type next, for `ideamine status` (escalated gate, interrupted worker)."""

from __future__ import annotations

from ideamine_core.storage.run_store import PhaseRecord


def next_step(run_id: str, status: str, phases: dict[str, PhaseRecord | None]) -> str | None:
    """One sentence for a run that needs someone (or `ideamine resume`), else None."""
    if status == "waiting for a person":
        escalated = [(p, r) for p, r in phases.items() if r is not None and r.status == "escalated"]
        phase, record = escalated[0]
        reasons = record.detail[:300] or "see `ideamine ui`"
        return (
            f"waiting for a person: the gate of {phase} failed {record.attempts} attempt(s) ({reasons}); "
            f"waive a violation (`ideamine waive {run_id} {phase} VIOLATION --owner NAME --reason TEXT "
            f"--expires 7d`) or change the phase config, then `ideamine resume {run_id}`"
        )
    if status == "interrupted":
        return f"interrupted: its worker process died; continue it with `ideamine resume {run_id}`"
    if status == "failed":
        return f"failed: fix the cause shown by `ideamine ui`, then `ideamine resume {run_id}`"
    return None
