"""Dossier compiler contract: every expected artifact is present (with its provenance hash) or listed as
missing with the reason; an input that was not supplied counts as missing, never as zero; the
completeness percentage is present / expected; the JSON form round-trips and fits `release_dossiers`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from dossier_runs import copy_of_full_run, full_run, partial_run
from pydantic import ValidationError

from ideamine_core.dossier import EXPECTED, Dossier, DossierInputs, compile_dossier
from ideamine_core.dossier.model import (
    PhaseCost,
    QAReport,
    ScannerFinding,
    ScannerReport,
    WaiverApplied,
    WorkspaceInfo,
)
from ideamine_core.dossier.render import render, render_json
from ideamine_core.ledger import Anchor
from ideamine_core.storage.run_store import RunStore
from ideamine_core.storage.tables import ReleaseDossierRow

INPUT_KEYS = [
    "code.workspace",
    "code.test_report",
    "code.coverage",
    "security.scanner_findings",
    "audit.ledger_head",
    "audit.phase_costs",
    "audit.waivers",
]
PRD_KEYS = ["product.prd", "product.user_stories", "product.traceability_matrix"]


def full_inputs(run_id: str) -> DossierInputs:
    """Every optional input, as the ledger, workspace, QA and scanner components would supply them."""
    return DossierInputs(
        model="offline:offline-rules",
        phase_costs={"prd": PhaseCost(cost_usd=0.25, tokens_in=1000, tokens_out=400, calls=5)},
        waivers=[
            WaiverApplied(phase="qa", violation="coverage", owner="lead", reason="spike", expires_at=2e9)
        ],
        ledger_head=Anchor(
            run_id=run_id,
            seq=42,
            hash="sha256:" + "a" * 64,
            signed_seq=41,
            signed_hash="sha256:" + "b" * 64,
            alg="hmac-sha256",
            key_id="0123456789abcdef",
            signature="c" * 64,
        ),  # fmt: skip
        workspace=WorkspaceInfo(path="/tmp/ws", commit_sha="0a1b2c3d4e5f", branch="main", files=9),
        qa_report=QAReport(tests_run=12, passed=11, failed=1, coverage_percent=81.5),
        scanners=ScannerReport(
            tools=["bandit 1.8.0"],
            findings=[ScannerFinding(tool="bandit", rule_id="B105", severity="low", location="app.py:3")],
        ),
    )


def test_full_run_without_inputs_misses_exactly_the_unsupplied_inputs() -> None:
    runs, run_id = full_run()
    dossier = compile_dossier(RunStore(runs), run_id)
    assert dossier.missing == INPUT_KEYS
    assert dossier.completeness_percent == 65.0  # 13 of 20
    assert [a.key for a in dossier.artifacts] == [e.key for e in EXPECTED]
    for key in INPUT_KEYS:
        status = next(a for a in dossier.artifacts if a.key == key)
        assert "not supplied" in status.reason and status.content_hash is None
    assert dossier.run.total_cost_usd is None and dossier.run.waivers is None and dossier.ledger_head is None
    assert all(p.cost is None for p in dossier.run.phases)
    architecture = json.loads((runs / run_id / "artifacts" / "architecture.json").read_text())
    api = next(r for r in architecture["results"] if r["agent"] == "APIDesigner")
    openapi = next(a for a in dossier.artifacts if a.key == "product.openapi")
    assert openapi.content_hash == api["provenance"]["output_hash"]
    assert dossier.product.api.openapi == api["output"]["openapi"]
    assert f"{api['provenance']['provider']}:{api['provenance']['model']}" in dossier.run.models


def test_full_run_summary_reflects_the_run_folder() -> None:
    runs, run_id = full_run()
    store = RunStore(runs)
    dossier = compile_dossier(store, run_id)
    assert dossier.run.status == "passed"
    assert [p.phase for p in dossier.run.phases] == store.load_run(run_id).phases
    for summary in dossier.run.phases:
        record = store.load_phase(run_id, summary.phase)
        assert (summary.status, summary.gate_score, summary.attempts) == ("passed", record.gate_score, 1)
        assert [a.attempt for a in summary.gate_history] == [1]
        assert summary.gate_history[0].threshold == record.threshold
        assert summary.started_at == record.started_at and summary.finished_at == record.finished_at
    security = json.loads((runs / run_id / "artifacts" / "security.json").read_text())
    counts = [r["output"]["counts"] for r in security["results"]]
    expected = {k: sum(c[k] for c in counts) for k in dossier.security.counts}
    assert dossier.security.counts == expected
    assert len(dossier.security.findings) == sum(expected.values())


def test_partial_run_lists_exactly_the_missing_artifacts() -> None:
    runs, run_id = partial_run()
    dossier = compile_dossier(RunStore(runs), run_id)
    assert [a.key for a in dossier.artifacts if a.present] == PRD_KEYS
    assert dossier.missing == [e.key for e in EXPECTED if e.key not in PRD_KEYS]
    assert dossier.completeness_percent == 15.0  # 3 of 20
    reasons = {a.key: a.reason for a in dossier.artifacts}
    assert reasons["product.openapi"] == "phase architecture was not part of this run (partial run)"
    assert reasons["security.sbom"] == "phase security was not part of this run (partial run)"
    states = {p.phase: p.status for p in dossier.run.phases}
    assert [p for p, s in states.items() if s == "passed"] == ["intake", "ideation", "critique", "prd"]
    assert {s for s in states.values() if s != "passed"} == {"not_selected"}
    assert dossier.product.api is None and dossier.security.findings is None
    assert dossier.security.counts is None


def test_every_input_supplied_makes_it_complete(tmp_path: Path) -> None:
    store, run_id = copy_of_full_run(tmp_path)
    dossier = compile_dossier(store, run_id, full_inputs(run_id))
    assert dossier.missing == [] and dossier.completeness_percent == 100.0
    phases = {p.phase: p for p in dossier.run.phases}
    assert phases["prd"].cost == PhaseCost(cost_usd=0.25, tokens_in=1000, tokens_out=400, calls=5)
    assert phases["intake"].cost == PhaseCost(cost_usd=0.0)  # costs supplied: no billed call means $0
    assert dossier.run.total_cost_usd == 0.25 and dossier.run.total_tokens == 1400
    assert dossier.security.counts["low"] == 1 + sum(f.severity == "low" for f in dossier.security.findings)
    assert dossier.ledger_head.seq == 42 and dossier.storage_row()["ledger_head"] == "sha256:" + "a" * 64


def _fail_architecture(store: RunStore, run_id: str) -> None:
    """Leave the run folder as a failed gate does: record failed, only the `.failed` artifact kept."""
    record = store.load_phase(run_id, "architecture")
    record.status, record.gate_score, record.detail = "failed", 0.5, "invalid_schema: APIDesigner"
    store.save_phase(run_id, record)
    path = store.artifact_path(run_id, "architecture")
    path.rename(path.with_name("architecture.failed.json"))


def _edit_artifact(store: RunStore, run_id: str, phase: str, edit) -> None:
    path = store.artifact_path(run_id, phase)
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _set_status(store: RunStore, run_id: str, phase: str, status: str, detail: str = "") -> None:
    record = store.load_phase(run_id, phase)
    record.status, record.detail = status, detail
    store.save_phase(run_id, record)
    store.artifact_path(run_id, phase).unlink()


def _drop_agent(data: dict) -> None:
    data["results"] = [r for r in data["results"] if r["agent"] != "APIDesigner"]


def _break_openapi(data: dict) -> None:
    next(r for r in data["results"] if r["agent"] == "APIDesigner")["output"].pop("openapi")


MUTATIONS = [
    (_fail_architecture, "phase architecture failed its gate (score 0.50 < threshold 0.80): invalid_schema"),
    (lambda s, r: _set_status(s, r, "architecture", "running"), "phase architecture is still running"),
    (
        lambda s, r: _set_status(s, r, "architecture", "error", "ModelOutputError: bad JSON"),
        "phase architecture stopped with an error: ModelOutputError: bad JSON",
    ),
    (
        lambda s, r: (
            (s.run_dir(r) / "phases" / "architecture.json").unlink()
            or s.artifact_path(r, "architecture").unlink()
        ),
        "phase architecture did not start",
    ),
    (lambda s, r: _edit_artifact(s, r, "architecture", _drop_agent), "agent APIDesigner has no result"),
    (lambda s, r: _edit_artifact(s, r, "architecture", _break_openapi), "does not match its schema"),
    (
        lambda s, r: s.artifact_path(r, "architecture").write_text("{not json"),
        "the artifact of phase architecture is unreadable",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    MUTATIONS,
    ids=[
        "gate-failed",  # the gate failed: only architecture.failed.json is left
        "running",  # the phase is still running (or its worker died)
        "error",  # an agent errored before the gate
        "not-started",  # selected, but never started
        "agent-missing",  # the artifact lacks the agent's result
        "schema-invalid",  # the agent's output does not validate
        "unreadable",  # the artifact file is corrupt
    ],
)
def test_a_missing_openapi_names_why(tmp_path: Path, mutate, reason: str) -> None:
    store, run_id = copy_of_full_run(tmp_path)
    mutate(store, run_id)
    dossier = compile_dossier(store, run_id, full_inputs(run_id))
    assert dossier.missing == ["product.openapi"]
    assert dossier.completeness_percent == 95.0
    status = next(a for a in dossier.artifacts if a.key == "product.openapi")
    assert reason in status.reason and not status.present and status.content_hash is None
    assert dossier.product.api is None


def test_a_failed_gate_fails_the_run_and_keeps_the_other_artifacts(tmp_path: Path) -> None:
    store, run_id = copy_of_full_run(tmp_path)
    _fail_architecture(store, run_id)
    dossier = compile_dossier(store, run_id)
    assert dossier.run.status == "failed"
    summary = next(p for p in dossier.run.phases if p.phase == "architecture")
    assert summary.status == "failed" and summary.gate_score == 0.5
    assert dossier.product.prd is not None and dossier.deployment.plan is not None


def test_coverage_is_missing_when_the_test_report_has_none(tmp_path: Path) -> None:
    store, run_id = copy_of_full_run(tmp_path)
    report = QAReport(tests_run=12, passed=12, failed=0)
    dossier = compile_dossier(store, run_id, full_inputs(run_id).model_copy(update={"qa_report": report}))
    assert dossier.missing == ["code.coverage"]
    coverage = next(a for a in dossier.artifacts if a.key == "code.coverage")
    assert coverage.reason == "the test report has no coverage"


def test_gate_history_input_replaces_the_evidence_packs(tmp_path: Path) -> None:
    store, run_id = copy_of_full_run(tmp_path)
    history = {
        "qa": [
            {"attempt": 1, "score": 0.6, "threshold": 0.8, "passed": False, "reasons": ["coverage: QA"]},
            {"attempt": 2, "score": 0.9, "threshold": 0.8, "passed": True},
        ]
    }
    dossier = compile_dossier(store, run_id, DossierInputs.model_validate({"gate_history": history}))
    qa = next(p for p in dossier.run.phases if p.phase == "qa")
    assert [(a.attempt, a.passed) for a in qa.gate_history] == [(1, False), (2, True)] and qa.attempts == 2
    assert next(p for p in dossier.run.phases if p.phase == "prd").gate_history == []


def test_json_round_trips_and_an_inconsistent_dossier_is_refused(tmp_path: Path) -> None:
    store, run_id = copy_of_full_run(tmp_path)
    dossier = compile_dossier(store, run_id)
    assert Dossier.model_validate_json(render_json(dossier)) == dossier
    data = dossier.model_dump(mode="json")
    with pytest.raises(ValidationError, match="completeness_percent"):
        Dossier.model_validate(data | {"completeness_percent": 100.0})
    with pytest.raises(ValidationError, match="missing"):
        Dossier.model_validate(data | {"missing": []})


def test_storage_row_fits_the_release_dossiers_table(tmp_path: Path, db) -> None:
    store, run_id = copy_of_full_run(tmp_path)
    dossier = compile_dossier(store, run_id, full_inputs(run_id))
    table = ReleaseDossierRow.__table__
    row = dossier.storage_row()
    assert set(row) == {c.name for c in table.columns}
    db.write(lambda conn: conn.execute(sa.insert(table).values(**row)))
    stored = db.read_with_retry(lambda conn: conn.execute(sa.select(table)).mappings().one())
    assert stored["completeness"] == 100.0 and stored["ledger_head"] == dossier.ledger_head.hash
    assert Dossier.model_validate(stored["dossier"]) == dossier


def test_secrets_never_reach_the_dossier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, run_id = copy_of_full_run(tmp_path)
    canary = "dossier-canary-5f0c1e2d9a8b7c6d"
    monkeypatch.setenv("IDEAMINE_TEST_API_KEY", canary)
    record = store.load_run(run_id)
    idea = f"{record.submission.idea}; my key is {canary}, db postgresql://app:pw-{canary}@db/x"
    submission = record.submission.model_copy(update={"idea": idea})
    store.save_run(record.model_copy(update={"submission": submission}))
    finding = ScannerFinding(
        tool="detect-secrets", rule_id="KW", severity="high", location="a.py:1", message=canary
    )
    inputs = DossierInputs(scanners=ScannerReport(tools=["detect-secrets"], findings=[finding]))
    dossier = compile_dossier(store, run_id, inputs)
    for fmt in ("json", "md", "html"):
        text = render(dossier, fmt)
        assert canary not in text and "[REDACTED" in text, fmt
