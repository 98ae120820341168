"""`ideamine workspace RUN` as a user runs it: where the workspace is, its last commit, the commit per
phase step and the file count (`--files` lists them); an unknown run or a run with no workspace yet ends
in one clear message and exit 2.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_cli import assert_clean_error, ideamine
from workspace_support import DEMO, build_chain

from ideamine_core.agents.registry import get_agent
from ideamine_core.domain.agent import AgentContext
from ideamine_core.storage.run_store import RunStore
from ideamine_core.workspace.agent_tools import ToolEnv, after_model
from ideamine_core.workspace.repo import Workspace

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A home with one run whose build writers committed the offline project (as the build phase does).

    The writers are the pipeline's own binding (`after_model`); running the phases first would add
    ~15 s of Dagster and CLI start-up that the pipeline tests already pay for.
    """
    home = tmp_path_factory.mktemp("ws") / "home"
    store = RunStore(home / "runs")
    run_id = store.new_run_id(DEMO)
    record = store.create(run_id, DEMO, ["intake", "ideation", "critique", "prd", "architecture", "build"])
    env = ToolEnv(store.run_dir(run_id), record.created_at)
    build = build_chain(DEMO)["build"]
    for agent in ("Implementer", "TestWriter"):
        ctx = AgentContext(run_id=run_id, phase="build", agent=agent, submission=DEMO, upstream={})
        after_model(get_agent(agent), ctx, build.output_of(agent), env)
    return home, run_id


def test_workspace_prints_path_last_commit_commit_per_step_and_file_count(built) -> None:
    home, run_id = built
    proc = ideamine(home, "workspace", run_id)
    assert proc.returncode == 0, proc.stderr
    ws = Workspace.open(home / "runs" / run_id / "workspace", created_at=0)
    commits = ws.commits()
    out = proc.stdout
    assert f"workspace of run {run_id}: {ws.root}" in out
    assert f"last commit: {commits[-1].sha}  {commits[-1].message}" in out
    assert [c.message for c in commits] == [
        "build: Implementer (iteration 0)",
        "build: TestWriter (iteration 0)",
    ]
    for c in commits:  # one table row per commit: phase, step, short SHA
        assert re.search(rf"build\s+│\s+{re.escape(c.message[7:])}\s+│\s+{c.sha[:12]}", out), out
    assert f"last commit per phase: build {commits[-1].sha[:12]}" in out
    assert f"files: {len(ws.files())} (list them with --files)" in out and len(ws.files()) >= 6
    assert "checked: not yet scanned or tested" in out


def test_files_option_lists_every_tracked_file(built) -> None:
    home, run_id = built
    proc = ideamine(home, "workspace", run_id, "--files")
    assert proc.returncode == 0, proc.stderr
    listed = [line.strip() for line in proc.stdout.splitlines() if line.startswith("  ")]
    ws = Workspace.open(home / "runs" / run_id / "workspace", created_at=0)
    assert listed == ws.files() and "tests/test_api.py" in listed


def test_unknown_run_is_one_clear_message_and_exit_2(built) -> None:
    home, _ = built
    assert_clean_error(ideamine(home, "workspace", "no-such-run"), "no run 'no-such-run'", "ideamine status")


@pytest.mark.parametrize(
    ("phases", "needles"),
    [
        (["intake", "build"], ["has no workspace yet", "build phase has not committed", "ideamine resume"]),
        (["intake"], ["has no workspace yet", "does not include the build phase", "ideamine run"]),
    ],  # build selected but not run yet; a partial run without build
)
def test_a_run_without_a_workspace_yet_is_one_clear_message_and_exit_2(
    tmp_path: Path, phases: list[str], needles: list[str]
) -> None:
    home = tmp_path / "home"
    store = RunStore(home / "runs")
    run_id = store.new_run_id(DEMO)
    store.create(run_id, DEMO, phases)
    assert_clean_error(ideamine(home, "workspace", run_id), *needles)
    assert not (store.run_dir(run_id) / "workspace").exists()  # looking does not create it
