"""The gate check's metadata shows every attempt: score vs threshold, each guard's result and the fix
applied after it, plus escalation, waivers applied, per-guard values and the Q/A/V figures.
"""

from __future__ import annotations

import dagster as dg

from ideamine_core.domain.artifact import GateResult
from ideamine_core.domain.evidence import FixAction, FixPlan, GateAttempt, GuardResult, QAVSummary, WaiverUse
from ideamine_dagster.metadata import gate_history_metadata, gate_metadata


def guard(name: str, value: float, threshold: float, mode: str, passed: bool, **extra) -> GuardResult:
    score = value if mode == "min" else (1.0 if passed else 0.5)
    return GuardResult(
        guard=name, score=score, value=value, threshold=threshold, mode=mode, passed=passed, **extra
    )


FIX = FixPlan(
    strategies=["coverage"],
    actions=[FixAction(agent="StoryCutter", instruction="Cover UC-7 | and UC-8")],
    summary="coverage: re-run StoryCutter | PRDWriter",
)
FIRST = GateAttempt(
    attempt=1,
    score=0.62,
    threshold=0.8,
    passed=False,
    guards=[guard("coverage", 0.9, 1.0, "min", False), guard("contradictions", 0, 0, "max", True)],
    fix=FIX,
)
SECOND = GateAttempt(
    attempt=2,
    score=0.95,
    threshold=0.8,
    passed=True,
    guards=[
        guard("coverage", 1.0, 1.0, "min", True),
        guard("contradictions", 1, 0, "max", False, waived=True),
    ],
)
WAIVER = WaiverUse(
    waiver_id="wv-1", violation="contradictions", owner="alice", reason="known", expires_at=4102444800
)
GATE = GateResult(
    phase="prd",
    score=0.95,
    threshold=0.8,
    passed=True,
    attempts=2,
    guards=SECOND.guards,
    history=[FIRST, SECOND],
    waivers_applied=[WAIVER],
    qav=QAVSummary(claims=10, grounding=0.7, frame_ids=["kf-1", "kf-2"], assumptions=["a claim"]),
)


def test_history_table_has_one_row_per_attempt_with_guards_and_fix() -> None:
    meta = gate_history_metadata(GATE)
    table = meta["attempt_history"].value
    rows = [line for line in table.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert len(rows) == 2
    assert "0.62 / 0.80" in rows[0] and "| no |" in rows[0] and "coverage 0.9 ≥ 1 ✗" in rows[0]
    assert "coverage: re-run StoryCutter \\| PRDWriter" in rows[0]  # a pipe cannot break the table
    assert "0.95 / 0.80" in rows[1] and "| yes |" in rows[1] and "contradictions 1 ≤ 0 waived" in rows[1]
    assert rows[1].endswith("| — |")
    assert meta["attempt_scores"].value == [{"attempt": 1, "score": 0.62}, {"attempt": 2, "score": 0.95}]


def test_escalation_waivers_guards_and_qav_are_plottable_values() -> None:
    meta = gate_history_metadata(GATE)
    assert meta["escalate"] == dg.MetadataValue.bool(False)
    assert "`contradictions` by alice until 2100-01-01T00:00+00:00: known" in meta["waivers_applied"].value
    assert meta["guard_coverage"] == dg.MetadataValue.float(1.0)
    assert meta["guard_contradictions"] == dg.MetadataValue.float(1.0)
    assert meta["qav_grounding"] == dg.MetadataValue.float(0.7) and meta[
        "kmap_frames"
    ] == dg.MetadataValue.int(2)
    assert meta["assumptions"] == dg.MetadataValue.int(1)


def test_a_gate_without_history_still_renders_with_the_first_gate_metadata() -> None:
    plain = GateResult(phase="p", score=1.0, threshold=0.7, passed=True)
    meta = gate_metadata(plain) | gate_history_metadata(plain)
    assert meta["attempt_history"].value == "no attempt history" and meta["waivers_applied"].value == "none"
    assert "qav_grounding" not in meta and meta["attempts"] == dg.MetadataValue.int(1)
