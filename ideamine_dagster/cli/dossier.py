"""`ideamine dossier RUN`: compile a run's release dossier and write it as HTML, Markdown or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ideamine_core.dossier import FORMATS, compile_dossier, write_dossier
from ideamine_core.dossier.render import default_path
from ideamine_core.errors import UserInputError
from ideamine_core.settings import Settings
from ideamine_core.storage.database import open_database
from ideamine_core.storage.run_store import RunStore
from ideamine_dagster.cli.common import command, console


@command
def dossier(
    run: Annotated[str, typer.Argument(help="Run id, as `ideamine status` lists it.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"One of {', '.join(FORMATS)}.")] = "html",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: runs/<id>/dossier.<fmt>).")
    ] = None,
) -> None:
    """Write the release dossier of a run and print where it is."""
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise UserInputError(f"unknown dossier format {fmt!r}", fix=f"use --format {' | '.join(FORMATS)}")
    settings = Settings.from_env()
    store = RunStore(settings.runs_dir)
    store.load_run(run)  # an unknown run is a clear error before any database is opened
    db = open_database(settings.db_url, embedded=settings.embedded_database)
    from ideamine_core.dossier.publish import gather_inputs  # metrics and pandas: only here

    compiled = compile_dossier(store, run, gather_inputs(db, store, run))
    path = write_dossier(compiled, output or default_path(store, run, fmt), fmt)
    missing = f", missing: {', '.join(compiled.missing)}" if compiled.missing else ""
    console.print(f"dossier of {run}: completeness {compiled.completeness_percent}%{missing}", style="dim")
    console.print(str(path.absolute()))


def register(app: typer.Typer) -> None:
    """Add `dossier` to the CLI."""
    app.command()(dossier)
