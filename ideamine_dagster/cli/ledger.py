"""`ideamine ledger RUN [--type …] [--since …]`, `ideamine ledger verify RUN`, `ideamine ledger sign RUN`."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperGroup

from ideamine_core.errors import LedgerNotFoundError, UserInputError
from ideamine_core.ledger import Anchor, EntryType, Ledger
from ideamine_dagster.cli.common import command, console
from ideamine_dagster.cli.db import open_db
from ideamine_dagster.cli.errors import FAILURE_EXIT, fail

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class _ShowByDefault(TyperGroup):
    """`ideamine ledger RUN` means `ideamine ledger show RUN`."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().resolve_command(ctx, args)


ledger_app = typer.Typer(cls=_ShowByDefault, help="The append-only, hash-chained ledger of a run.")


def parse_time(text: str) -> float:
    """Epoch seconds of '30m', '2h', '7d' ago or of an ISO date/time (local time when no zone)."""
    match = _RELATIVE.match(text.strip())
    if match:
        return time.time() - float(match.group(1)) * _UNIT[match.group(2)]
    try:
        return dt.datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise UserInputError(
            f"cannot read the time {text!r}", fix="use e.g. 30m, 2h, 7d, or 2026-11-26T10:00"
        ) from None


def _ledger_of(run: str) -> Ledger:
    ledger = Ledger(open_db())
    if ledger.head(run) is None:
        raise LedgerNotFoundError(run)
    return ledger


@ledger_app.command()
@command
def show(
    run: Annotated[str, typer.Argument(help="Run id.")],
    type_: Annotated[list[str], typer.Option("--type", "-t", help="Entry type (repeatable).")] = [],  # noqa: B006
    since: Annotated[str | None, typer.Option(help="Only entries since: 2h, 1d, or an ISO time.")] = None,
    until: Annotated[str | None, typer.Option(help="Only entries before this time.")] = None,
    phase: Annotated[str | None, typer.Option(help="Only entries of this phase.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print a run's ledger entries (all, or filtered by type, phase and time)."""
    unknown = sorted(set(type_) - {t.value for t in EntryType})
    if unknown:
        raise UserInputError(
            f"unknown entry type {unknown[0]!r}", fix=f"use {', '.join(t.value for t in EntryType)}"
        )
    entries = _ledger_of(run).entries(
        run,
        types=type_ or None,
        phase=phase,
        since=parse_time(since) if since else None,
        until=parse_time(until) if until else None,
    )
    if as_json:
        for e in entries:
            console.print_json(json.dumps(e.model_dump() | {"payload": e.data}), indent=None)
        return
    table = Table(title=f"Ledger of {run} ({len(entries)} entries)")
    for column in ("seq", "time", "type", "phase", "payload", "hash"):
        table.add_column(column, overflow="fold")
    for e in entries:
        when = dt.datetime.fromtimestamp(e.ts).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(str(e.seq), when, e.type, e.phase or "", e.payload, e.hash[7:19])
    console.print(table)


@ledger_app.command()
@command
def verify(
    run: Annotated[str, typer.Argument(help="Run id.")],
    anchor: Annotated[
        str | None, typer.Option(help="The head copied into the dossier: a JSON file or JSON text.")
    ] = None,
) -> None:
    """Check the run's hash chain (and the anchored head); exit 1 at the first bad entry."""
    text = Path(anchor).read_text() if anchor and Path(anchor).is_file() else anchor
    try:
        head = Anchor.model_validate_json(text) if text else None
    except ValueError as exc:
        raise UserInputError(
            "the --anchor is not a ledger head", fix="pass the ledger_head JSON of the dossier"
        ) from exc
    report = _ledger_of(run).verify(run, head)
    for note in report.notes:
        console.print(f"note: {note}", style="dim")
    if not report.ok:
        raise fail(report.summary(), FAILURE_EXIT)
    console.print(f"[green]OK[/] {report.summary()} ({report.seconds:.3f}s)")


@ledger_app.command()
@command
def sign(run: Annotated[str, typer.Argument(help="Run id.")]) -> None:
    """Anchor the current head with a signature entry (HMAC with IDEAMINE_LEDGER_KEY) and print it."""
    anchor = _ledger_of(run).sign_head(run)
    if anchor.alg == "none":
        console.print("IDEAMINE_LEDGER_KEY is not set: the head is recorded unsigned", style="yellow")
    console.print_json(anchor.model_dump_json())


def register(app: typer.Typer) -> None:
    """Add the `ledger` command group to the CLI."""
    app.add_typer(ledger_app, name="ledger")
