"""`ideamine waive` and `ideamine waivers`: record and list gate waivers."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from ideamine_core.agents.registry import agent_names
from ideamine_core.config.loader import cached_phase_graph
from ideamine_core.errors import UserInputError
from ideamine_core.phase.waivers import EXPIRY_HELP, WaiverStore, parse_expiry, violation_names
from ideamine_core.settings import Settings
from ideamine_core.storage.database import open_database
from ideamine_core.storage.run_store import RunStore
from ideamine_dagster.cli.common import command, console


def _when(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _store(settings: Settings) -> WaiverStore:
    return WaiverStore(open_database(settings.db_url, embedded=settings.embedded_database))


@command
def waive(
    run: Annotated[str, typer.Argument(help="The run id (see `ideamine status`).")],
    phase: Annotated[str, typer.Argument(help="The phase whose gate the waiver applies to.")],
    violation: Annotated[str, typer.Argument(help="What may pass: a guard type or a hard-blocker metric.")],
    owner: Annotated[str, typer.Option(help="Who accepts the risk.")],
    reason: Annotated[str, typer.Option(help="Why the violation may pass.")],
    expires: Annotated[str, typer.Option(help=f"Until when: {EXPIRY_HELP}.")],
) -> None:
    """Let one named violation of a phase gate pass until the waiver expires."""
    settings = Settings.from_env()
    graph = cached_phase_graph(str(settings.config_dir), agent_names())
    if phase not in graph.phases:
        raise UserInputError(f"unknown phase {phase!r}", fix=f"use one of {', '.join(graph.order())}")
    names = violation_names(graph.phases[phase])
    if violation not in names:
        raise UserInputError(
            f"phase {phase} has no violation {violation!r}", fix=f"waive one of {', '.join(names)}"
        )
    expires_at = parse_expiry(expires)
    known = (RunStore(settings.runs_dir).run_dir(run) / "run.json").exists()  # also validates the id
    waiver = _store(settings).record(run, phase, violation, owner, reason, expires_at)
    console.print(
        f"waiver {waiver.waiver_id}: `{violation}` of {phase} in run {run} may pass until "
        f"{_when(waiver.expires_at)} (owner {waiver.owner})"
    )
    if not known:
        console.print(f"note: no run {run} in {settings.runs_dir} yet; the waiver applies once it runs")


@command
def waivers(run: Annotated[str | None, typer.Argument(help="Only this run's waivers.")] = None) -> None:
    """List recorded waivers, active and expired."""
    settings = Settings.from_env()
    found = _store(settings).list(run_id=run)
    if not found:
        console.print("no waivers recorded" + (f" for run {run}" if run else ""))
        return
    table = Table(title="Gate waivers")
    for column in ("waiver", "run", "phase", "violation", "owner", "reason", "expires", "state"):
        table.add_column(column)
    now = dt.datetime.now(dt.UTC).timestamp()
    for w in found:
        state = "active" if w.is_active(now) else "expired"
        table.add_row(
            w.waiver_id, w.run_id, w.phase, w.violation, w.owner, w.reason, _when(w.expires_at), state
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `waive` and `waivers` to the CLI."""
    app.command()(waive)
    app.command()(waivers)
