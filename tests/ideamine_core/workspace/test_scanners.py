"""Real scanners on a workspace: bandit, detect-secrets and cyclonedx-bom, offline, with normalized findings.

Contract: the clean generated project has no secret and no high/critical SAST finding and gets a valid
CycloneDX SBOM; a planted AWS secret key and a planted ``eval(input())`` are both found and named, trip the
``secrets_found`` and ``sast_critical`` hard blockers, and never leak the secret's value; a private key is
critical; a failing tool is an error, not a clean scan; tool time is measured.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from workspace_support import project_files

from ideamine_core.agents.outputs.security import SASTReport, SecretsReport
from ideamine_core.workspace.findings import hard_blocker_metrics
from ideamine_core.workspace.repo import Workspace
from ideamine_core.workspace.reports import dependency_report, findings_report, sbom_report
from ideamine_core.workspace.scanners import (
    SecurityScan,
    run_bandit,
    run_detect_secrets,
    scan,
    scan_workspace,
)

SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"  # AWS's documented example secret key
PLANT = f'''

AWS_SECRET_ACCESS_KEY = "{SECRET}"


def calculator() -> object:
    """Evaluate what the user types."""
    return eval(input("expr> "))
'''


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, SecurityScan]:
    """The generated project with a planted secret and eval(input()), committed and scanned once."""
    code, tests = project_files()
    ws = Workspace.open(tmp_path_factory.mktemp("planted") / "workspace", created_at=1_764_000_000)
    service = next(f for f in code if f.path.endswith("/service.py"))
    files = [f if f is not service else f.model_copy(update={"content": f.content + PLANT}) for f in code]
    ws.write_files([*files, *tests])
    ws.commit("build")
    return ws, scan_workspace(ws, project_name="collaborative-todo")


def test_clean_generated_project_has_no_secret_and_no_serious_sast(tmp_path: Path) -> None:
    code, tests = project_files()
    ws = Workspace.open(tmp_path / "workspace", created_at=1_764_000_000)
    ws.write_files([*code, *tests])
    ws.commit("build")
    result = scan_workspace(ws, project_name="collaborative-todo", validate_sbom=False)
    metrics = result.metrics()
    print(
        f"scanners clean project: secrets={metrics['secrets_found']} sast_high+={metrics['sast_high']}"
        f"+{metrics['sast_critical']} tool_seconds={result.tool_seconds:.2f}"
    )
    assert result.complete and result.runs["sast"].scanned_files >= len(code)
    assert metrics["secrets_found"] == 0 and metrics["sast_critical"] == 0 and metrics["sast_high"] == 0
    assert not [f for f in result.findings if f.rule == "B101"]  # asserts in tests are not findings


def test_planted_secret_and_eval_are_found_and_named(planted: tuple[Workspace, SecurityScan]) -> None:
    _, result = planted
    metrics = result.metrics()
    secrets = [f for f in result.findings if f.category == "secret"]
    evals = [f for f in result.findings if f.rule == "B307"]
    print(
        f"scanners planted: secrets_found={metrics['secrets_found']} sast_critical={metrics['sast_critical']}"
        f" findings={len(result.findings)} tool_seconds={result.tool_seconds:.2f}"
    )
    assert metrics["secrets_found"] >= 1 and metrics["sast_critical"] >= 1 and metrics["scanner_errors"] == 0
    assert secrets[0].severity == "critical" and "AWS Access Key" in secrets[0].rule
    assert secrets[0].path.endswith("/service.py") and secrets[0].line > 0
    assert evals and evals[0].severity == "critical" and "User input" in evals[0].title
    sast = findings_report(SASTReport, result.runs["sast"], prefix="SAST", what="SAST")
    named = [f for f in sast.findings if "B307" in f.title]
    assert named and named[0].location == f"{evals[0].path}:{evals[0].line}"
    assert sast.tool.startswith("bandit")
    secrets_report = findings_report(SecretsReport, result.runs["secrets"], prefix="SEC", what="secret")
    assert secrets_report.counts["critical"] >= 1 and secrets_report.tool_seconds > 0
    dumped = json.dumps([f.model_dump() for f in result.findings]) + secrets_report.model_dump_json()
    assert SECRET not in dumped and SECRET[:12] not in dumped


def test_sbom_is_a_valid_cyclonedx_document(planted: tuple[Workspace, SecurityScan]) -> None:
    ws, result = planted
    assert result.sbom is not None
    doc = result.sbom.document
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    assert doc["metadata"]["component"]["name"] == "collaborative-todo"
    assert [(c["name"], c["scope"]) for c in result.sbom.components] == [("pytest", "optional")]
    report = sbom_report(result.sbom)
    assert report.components[0].type == "application" and report.components[1].version != "unpinned"
    assert report.document == doc and report.format == "CycloneDX 1.6 JSON"
    deps = dependency_report(ws.root)
    assert [(d.name, d.kind) for d in deps.dependencies] == [("pytest", "dev")]
    assert "not run" in deps.summary


def test_private_key_is_critical_and_a_failing_tool_is_an_error(tmp_path: Path) -> None:
    header = "-----BEGIN RSA " + "PRIVATE KEY-----"
    body = "MIIEpAIBAAKCAQEA7bq0kQ8bYxyz"
    (tmp_path / "deploy.pem").write_text(f"{header}\n{body}\n-----END RSA PRIVATE KEY-----\n")
    found = run_detect_secrets(tmp_path).findings
    assert [(f.rule, f.severity) for f in found] == [("Private Key", "critical")]
    (tmp_path / "bad.py").write_text("import pickle, subprocess\n\n\ndef f(b, c):\n")
    broken = run_bandit(tmp_path)
    assert [f.rule for f in broken.findings] == ["parse-error"]
    missing = scan(tmp_path / "does-not-exist", project_name="x", sbom=False)
    assert not missing.complete and set(missing.errors) >= {"sast"}
    assert missing.metrics()["scanner_errors"] >= 1
    failed = findings_report(SASTReport, None, prefix="SAST", what="SAST", error=missing.errors["sast"])
    assert "did not complete" in failed.summary and failed.notes


def test_metrics_match_the_gate_hard_blocker_names(planted: tuple[Workspace, SecurityScan]) -> None:
    _, result = planted
    config = Path(__file__).resolve().parents[3] / "phase_configs" / "security.yaml"
    blockers = yaml.safe_load(config.read_text())["gate"]["hard_blockers"]
    assert set(blockers) <= set(hard_blocker_metrics(result.findings))
