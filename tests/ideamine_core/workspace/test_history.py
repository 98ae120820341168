"""A run's workspace summary: commits attributed to phase steps by their subject, the files of the last
commit, the commits the scanners and the sandboxed tests checked (from the tools cache, in commit order,
unknown SHAs ignored), and clear errors for an unknown run or a run without a workspace.
"""

from __future__ import annotations

import pytest

from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.errors import UserInputError, WorkspaceError
from ideamine_core.storage.run_store import RunStore
from ideamine_core.workspace.history import workspace_summary
from ideamine_core.workspace.repo import Workspace

SUB = IdeaSubmission(idea="Keep a list of books I have read")


def test_summary_attributes_commits_and_reads_the_checked_commits(store: RunStore) -> None:
    run_id = store.new_run_id(SUB)
    record = store.create(run_id, SUB, ["build", "story_loop"])
    ws = Workspace.open(store.run_dir(run_id) / "workspace", created_at=record.created_at)
    ws.write_files([("app/api.py", "x = 1\n")])
    build = ws.commit("build: Implementer (iteration 0)")
    ws.write_files([("STORIES.md", "# Stories\n")])
    story = ws.commit("story_loop: US-1 Capture a book")
    manual = ws.commit("a commit by hand")
    tools = store.run_dir(run_id) / "tools"
    tools.mkdir()
    for name in (f"tests-{story}-abc123", f"scan-{story}", f"scan-{build}", f"scan-{'f' * 40}", "other"):
        (tools / f"{name}.json").write_text("{}")

    summary = workspace_summary(store, run_id)

    assert summary.path == str(ws.root) and summary.head.sha == manual
    assert [(c.phase, c.step) for c in summary.commits] == [
        ("build", "Implementer (iteration 0)"),
        ("story_loop", "US-1 Capture a book"),
        ("", "a commit by hand"),  # not written by a phase step
    ]
    assert {p: c.sha for p, c in summary.last_by_phase().items()} == {
        "build": build,
        "story_loop": story,
        "": manual,
    }
    assert summary.files == ["STORIES.md", "app/api.py"]
    assert summary.checked == {"security": [build, story], "qa": [story]}  # commit order; unknown SHA dropped


def test_unknown_run_and_missing_workspace_are_clear_errors(store: RunStore) -> None:
    with pytest.raises(UserInputError, match="no run 'nope'"):
        workspace_summary(store, "nope")
    run_id = store.new_run_id(SUB)
    store.create(run_id, SUB, ["intake"])
    with pytest.raises(WorkspaceError, match="does not include the build phase") as info:
        workspace_summary(store, run_id)
    assert "ideamine run" in info.value.explain()
    assert not (store.run_dir(run_id) / "workspace").exists()
