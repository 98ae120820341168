"""Core results → Dagster metadata values, in one place."""

from __future__ import annotations

import datetime as dt
from typing import Any

import dagster as dg

from ideamine_core.domain.artifact import GateResult
from ideamine_core.domain.evidence import GuardResult
from ideamine_core.providers.accounting import UsageTotals


def gate_metadata(gate: GateResult) -> dict[str, Any]:
    """Score and threshold as numbers the UI can plot, plus attempts and the reasons."""
    reasons = [f"{r.code}: {r.item} — {r.detail}" for r in gate.reasons]
    return {
        "gate_score": dg.MetadataValue.float(gate.score),
        "threshold": dg.MetadataValue.float(gate.threshold),
        "passed": dg.MetadataValue.bool(gate.passed),
        "attempts": dg.MetadataValue.int(gate.attempts),
        "artifacts_valid": dg.MetadataValue.int(sum(gate.checked.values())),
        "artifacts_expected": dg.MetadataValue.int(len(gate.checked)),
        "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in reasons) or "none"),
    }


def _utc(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="minutes")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _guard_cell(g: GuardResult) -> str:
    relation = "≤" if g.mode == "max" else "≥"
    mark = "waived" if g.waived else ("✓" if g.passed else "✗")
    return f"{g.guard} {g.value:g} {relation} {g.threshold:g} {mark}"


def gate_history_metadata(gate: GateResult) -> dict[str, Any]:
    """Per-attempt gate history for the check: score vs threshold, each guard's result, the fix applied."""
    rows = [
        "| attempt | score / threshold | passed | guards | fix applied after it |",
        "|---|---|---|---|---|",
    ]
    for a in gate.history:
        guards = "; ".join(_guard_cell(g) for g in a.guards)
        fix = a.fix.summary if a.fix else "—"
        score = f"{a.score:.2f} / {a.threshold:.2f}"
        rows.append(
            f"| {a.attempt} | {score} | {'yes' if a.passed else 'no'} | {_cell(guards)} | {_cell(fix)} |"
        )
    waivers = [
        f"- `{w.violation}` by {w.owner} until {_utc(w.expires_at)}: {w.reason}" for w in gate.waivers_applied
    ]
    out: dict[str, Any] = {
        "attempt_history": dg.MetadataValue.md("\n".join(rows) if gate.history else "no attempt history"),
        "attempt_scores": dg.MetadataValue.json(
            [{"attempt": a.attempt, "score": a.score} for a in gate.history]
        ),
        "escalate": dg.MetadataValue.bool(gate.escalate),
        "waivers_applied": dg.MetadataValue.md("\n".join(waivers) or "none"),
    }
    for g in gate.guards:
        out[f"guard_{g.guard}"] = dg.MetadataValue.float(float(g.value))
    if gate.qav is not None:
        out["qav_grounding"] = dg.MetadataValue.float(gate.qav.grounding)
        out["kmap_frames"] = dg.MetadataValue.int(len(gate.qav.frame_ids))
        out["assumptions"] = dg.MetadataValue.int(len(gate.qav.assumptions))
    return out


def phase_metrics_metadata(metrics: dict[str, float], usage: dict[str, UsageTotals]) -> dict[str, Any]:
    """The phase's numbers (plotted across runs by the UI) and a per-agent usage table."""
    values: dict[str, Any] = {
        f"metric_{k}": dg.MetadataValue.float(float(v)) for k, v in sorted(metrics.items())
    }
    if usage:
        rows = [
            "| agent | calls | cached | tokens in | tokens out | cost USD | repairs |",
            "|---|---|---|---|---|---|---|",
        ]
        for agent, u in usage.items():
            cost = "unknown" if u.cost_usd is None else f"{u.cost_usd:.6f}"
            rows.append(
                f"| {agent} | {u.calls} | {u.cached_requests} | {u.tokens_in} | {u.tokens_out} | {cost} "
                f"| {u.repair_attempts} |"
            )
        values["agent_usage"] = dg.MetadataValue.md("\n".join(rows))
    return values
