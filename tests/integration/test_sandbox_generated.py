"""The offline build's projects run in the real sandbox: their tests pass, with counts and coverage.

For the demo idea and two others, the generated files go into a workspace through the path policy,
are committed, and QA runs TestWriter's files against the commit under bubblewrap. Contract: every
expected test runs and passes, nothing is flagged, line coverage is measured (and clears the QA gate's
0.7 coverage guard), isolation is full. Needs bubblewrap: under CI=true its absence fails these tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from workspace_support import DEMO, OTHERS, project_files, require_bubblewrap

from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.workspace.repo import Workspace
from ideamine_core.workspace.testing import run_tests


@pytest.fixture(autouse=True)
def _bubblewrap() -> None:
    require_bubblewrap()


@pytest.mark.parametrize(
    "sub",
    [
        DEMO,  # collaborative todo app, mobile-first, offline-capable
        OTHERS[0],  # recipe planner
        OTHERS[1],  # lab equipment loans with reminders
    ],
)
def test_generated_project_passes_in_the_sandbox(tmp_path: Path, sub: IdeaSubmission) -> None:
    code, tests = project_files(sub)
    ws = Workspace.open(tmp_path / "workspace", created_at=1_764_000_000)
    assert ws.write_files([*code, *tests]).rejected == []
    sha = ws.commit("build")
    result = run_tests(ws, tests)
    print(
        f"sandbox generated project {code[1].path.split('/')[0]}: commit={sha[:10]} run={result.run} "
        f"passed={result.passed} failed={result.failed} errors={result.errors} "
        f"coverage={result.coverage_percent}% seconds={result.duration_seconds} isolation={result.isolation}"
    )
    assert result.green and result.isolation == "bubblewrap" and not result.reduced_isolation
    assert result.run == result.passed == result.expected > 0 and result.failures == []
    assert result.coverage_percent is not None and result.coverage_percent >= 70.0
    assert not any(path.startswith("tests/") for path in result.file_coverage)
