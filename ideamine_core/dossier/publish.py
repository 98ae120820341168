"""Gather a run's dossier inputs from every component, compile it, write it and store it.

Inputs: the ledger's signed head and per-phase spend (tasks and billed calls, via metrics), waivers
the gates applied, the workspace's last commit, the QA phase's measured test run, and the security
scanners' findings. `publish_dossier` writes JSON, Markdown and HTML into the run folder and upserts
the `release_dossiers` row; it runs when the release phase passes, and `ideamine dossier` calls
`gather_inputs` for an on-demand copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ideamine_core.dossier import FORMATS, compile_dossier, write_dossier
from ideamine_core.dossier.model import (
    Dossier,
    DossierInputs,
    PhaseCost,
    QAReport,
    ScannerFinding,
    ScannerReport,
    WaiverApplied,
    WorkspaceInfo,
)
from ideamine_core.dossier.render import default_path
from ideamine_core.ledger import Ledger
from ideamine_core.metrics import run_metrics
from ideamine_core.storage.database import Database
from ideamine_core.storage.run_store import RunStore
from ideamine_core.storage.tables import ReleaseDossierRow

_SCANNED = {"Secrets": "detect-secrets", "SAST": "bandit"}


def gather_inputs(db: Database, store: RunStore, run_id: str) -> DossierInputs:
    """Every figure the dossier takes from outside the run's phase artifacts (absent ones stay None)."""
    ledger = Ledger(db)
    has_ledger = bool(ledger.entries(run_id, limit=1))
    return DossierInputs(
        ledger_head=ledger.latest_anchor(run_id) if has_ledger else None,
        phase_costs=_costs(db, run_id) if has_ledger else None,
        waivers=_waivers(store, run_id),
        workspace=_workspace(store, run_id),
        qa_report=_qa(store, run_id, _test_seconds(ledger, run_id) if has_ledger else None),
        scanners=_scanners(store, run_id),
    )


def publish_dossier(db: Database, store: RunStore, run_id: str) -> Dossier:
    """Sign the ledger head, compile the dossier, write every format to the run folder, store the row."""
    Ledger(db).sign_head(run_id)
    dossier = compile_dossier(store, run_id, gather_inputs(db, store, run_id))
    for fmt in FORMATS:
        write_dossier(dossier, default_path(store, run_id, fmt), fmt)
    row = dossier.storage_row()
    module = postgresql if db.dialect == "postgresql" else sqlite
    stmt = module.insert(ReleaseDossierRow.__table__).values(**row)
    stmt = stmt.on_conflict_do_update(
        index_elements=["run_id"], set_={k: v for k, v in row.items() if k != "run_id"}
    )
    db.write(lambda conn: conn.execute(stmt))
    return dossier


def stored_dossier(db: Database, run_id: str) -> dict[str, Any] | None:
    """The stored dossier JSON of a run, or None."""
    query = sa.select(ReleaseDossierRow.dossier).where(ReleaseDossierRow.run_id == run_id)
    return db.read_with_retry(lambda conn: conn.execute(query).scalar_one_or_none())


def _test_seconds(ledger: Ledger, run_id: str) -> float | None:
    """Tool seconds of the QA test run, from its ledger task entry (artifacts hold no timings)."""
    runs = [p for p in ledger.payloads(run_id, "task") if p.get("agent") == "TestRunner"]
    seconds = [float(p.get("tool_seconds") or 0.0) for p in runs if p.get("status") == "succeeded"]
    return round(max(seconds), 3) if seconds and max(seconds) > 0 else None


def _costs(db: Database, run_id: str) -> dict[str, PhaseCost]:
    return {
        p.phase: PhaseCost(
            cost_usd=round(p.cost_usd, 6), tokens_in=p.tokens_in, tokens_out=p.tokens_out, calls=p.model_calls
        )
        for p in run_metrics(db, run_id, recent_runs=0).phases
        if p.tasks_succeeded or p.tasks_failed
    }


def _artifact_output(store: RunStore, run_id: str, phase: str, agent: str) -> dict[str, Any] | None:
    if not store.has_artifact(run_id, phase):
        return None
    try:
        return store.load_artifact(run_id, phase).output_of(agent)
    except KeyError:
        return None


def _waivers(store: RunStore, run_id: str) -> list[WaiverApplied] | None:
    record = store.load_run(run_id)
    used: list[WaiverApplied] = []
    for phase in record.phases:
        if not store.has_artifact(run_id, phase):
            continue
        gate = store.load_artifact(run_id, phase).gate
        for w in gate.waivers_applied if gate else []:
            used.append(
                WaiverApplied(
                    phase=phase,
                    violation=w.violation,
                    owner=w.owner,
                    reason=w.reason,
                    expires_at=w.expires_at,
                )
            )
    return used


def _workspace(store: RunStore, run_id: str) -> WorkspaceInfo | None:
    from ideamine_core.workspace.repo import Workspace

    root = store.run_dir(run_id) / "workspace"
    if not (root / ".git").is_dir():
        return None
    ws = Workspace.open(root, created_at=store.load_run(run_id).created_at)
    head = ws.head()
    if head is None:
        return None
    files = len(ws.read_files(head))
    return WorkspaceInfo(path=str(Path(ws.root)), commit_sha=head, branch="main", files=files)


def _qa(store: RunStore, run_id: str, seconds: float | None = None) -> QAReport | None:
    plan = _artifact_output(store, run_id, "qa", "TestRunner")
    execution = (plan or {}).get("execution")
    if not isinstance(execution, dict):
        return None
    return QAReport(
        tests_run=execution["run"],
        passed=execution["passed"],
        failed=execution["failed"],
        errors=execution.get("errors", 0),
        skipped=execution.get("skipped", 0),
        coverage_percent=execution.get("coverage_percent"),
        duration_seconds=execution.get("duration_seconds") or seconds,
        command=(plan or {}).get("command"),
    )


def _scanners(store: RunStore, run_id: str) -> ScannerReport | None:
    tools: list[str] = []
    findings: list[ScannerFinding] = []
    for agent, default_tool in _SCANNED.items():
        output = _artifact_output(store, run_id, "security", agent)
        if not output:
            continue
        tool = output.get("tool") or default_tool
        tools.append(tool)
        for f in output.get("findings") or []:
            findings.append(
                ScannerFinding(
                    tool=tool,
                    rule_id=str(f.get("id") or "?"),
                    severity=f.get("severity", "info"),
                    location=str(f.get("location") or "?"),
                    message=str(f.get("title") or ""),
                )
            )
    return ScannerReport(tools=tools, findings=findings) if tools else None
