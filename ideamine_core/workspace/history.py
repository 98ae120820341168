"""A run's workspace at a glance: where it is, its commits by phase and story, what the tools checked.

Writers commit with subjects ``<phase>: <step>`` (``build: Implementer (iteration 0)``, ``story_loop: US-3
Browse tasks``; see `agent_tools`), so the history reads back as one row per phase step. Scanners and the
sandboxed test run cache their results under ``<run>/tools/`` by commit, which says which commit the
security and QA phases checked.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.errors import WorkspaceError
from ideamine_core.storage.run_store import RunStore
from ideamine_core.workspace.agent_tools import checked_commits
from ideamine_core.workspace.repo import CommitInfo, Workspace

__all__ = ["PhaseCommit", "WorkspaceSummary", "workspace_summary"]


class PhaseCommit(BaseModel):
    """One commit of the workspace, attributed to the phase step that made it."""

    model_config = ConfigDict(extra="forbid")

    phase: str = Field(description="Phase that committed, e.g. 'build', 'story_loop' ('' if unknown).")
    step: str = Field(description="Agent and iteration, or story id and title.")
    sha: str
    timestamp: int = Field(description="Commit time, epoch seconds.")


class WorkspaceSummary(BaseModel):
    """A run's workspace at a glance."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    path: str = Field(description="Absolute path of the git repository.")
    head: CommitInfo = Field(description="The last commit.")
    commits: list[PhaseCommit] = Field(description="Every commit, oldest first.")
    files: list[str] = Field(description="Tracked files at the last commit, sorted.")
    checked: dict[str, list[str]] = Field(
        description="'security' (scanned) and 'qa' (tests run) → commit SHAs, oldest first."
    )

    def last_by_phase(self) -> dict[str, PhaseCommit]:
        """The newest commit of each phase, in the order phases first committed."""
        out: dict[str, PhaseCommit] = {}
        for commit in self.commits:
            out[commit.phase] = commit
        return out


def _attributed(info: CommitInfo) -> PhaseCommit:
    phase, sep, step = info.message.partition(": ")
    if not sep or not phase.replace("_", "").isalnum():
        phase, step = "", info.message
    return PhaseCommit(phase=phase, step=step, sha=info.sha, timestamp=info.timestamp)


def open_existing(run_dir: Path, created_at: float) -> Workspace | None:
    """The run's workspace if its repository exists (never creates one)."""
    root = run_dir / "workspace"
    return Workspace.open(root, created_at=created_at) if (root / ".git").is_dir() else None


def workspace_summary(store: RunStore, run_id: str) -> WorkspaceSummary:
    """The workspace of `run_id`; UserInputError for an unknown run, WorkspaceError when it has none yet."""
    record = store.load_run(run_id)
    run_dir = store.run_dir(run_id)
    ws = open_existing(run_dir, record.created_at)
    head = ws.head() if ws is not None else None
    if ws is None or head is None:
        build = "build" in record.phases
        raise WorkspaceError(
            f"run {run_id} has no workspace yet: "
            + (
                "its build phase has not committed any code"
                if build
                else "it does not include the build phase"
            ),
            fix=f"continue it with `ideamine resume {run_id}`"
            if build
            else 'start a run that includes the build phase, e.g. `ideamine run "your idea"`',
        )
    commits = ws.commits()
    order = {c.sha: i for i, c in enumerate(commits)}
    checked = {
        kind: sorted((s for s in shas if s in order), key=order.__getitem__)
        for kind, shas in checked_commits(run_dir).items()
    }
    return WorkspaceSummary(
        run_id=run_id,
        path=str(ws.root),
        head=commits[-1],
        commits=[_attributed(c) for c in commits],
        files=ws.files(head),
        checked=checked,
    )
