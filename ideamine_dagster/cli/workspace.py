"""`ideamine workspace RUN`: where a run's code workspace is, its last commit, the commit per phase step."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore
from ideamine_core.workspace.history import WorkspaceSummary, workspace_summary
from ideamine_dagster.cli.common import command, console

SHORT = 12
"""Characters of a SHA shown in tables."""


def _when(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def commits_table(summary: WorkspaceSummary) -> Table:
    """One row per commit: phase, step (agent or story), SHA."""
    table = Table(title="Commits per phase step (oldest first)")
    for column in ("phase", "step", "commit"):
        table.add_column(column)
    for c in summary.commits:
        table.add_row(c.phase or "?", c.step, c.sha[:SHORT])
    return table


def _checked(summary: WorkspaceSummary) -> str:
    parts = [
        f"{what} {', '.join(s[:SHORT] for s in summary.checked.get(phase, []))}"
        for phase, what in (("security", "security scanned"), ("qa", "qa tested"))
        if summary.checked.get(phase)
    ]
    return "; ".join(parts) or "not yet scanned or tested"


@command
def workspace(
    run: Annotated[str, typer.Argument(help="Run id (see `ideamine status`).")],
    files: Annotated[bool, typer.Option("--files", help="List the files of the last commit.")] = False,
) -> None:
    """Show where a run's code workspace is, its last commit and the commit of each phase step."""
    summary = workspace_summary(RunStore(Settings.from_env().runs_dir), run)
    head = summary.head
    console.print(f"workspace of run [bold]{run}[/]: {summary.path}")
    console.print(f"last commit: {head.sha}  {head.message}  ({_when(head.timestamp)})")
    last = ", ".join(f"{p} {c.sha[:SHORT]}" for p, c in summary.last_by_phase().items() if p)
    console.print(f"last commit per phase: {last or 'none attributed'}")
    console.print(f"checked: {_checked(summary)}")
    console.print(f"files: {len(summary.files)}" + ("" if files else " (list them with --files)"))
    console.print(commits_table(summary))
    if files:
        for path in summary.files:
            console.print(f"  {path}", markup=False)


def register(app: typer.Typer) -> None:
    """Add `workspace` to the CLI."""
    app.command()(workspace)
