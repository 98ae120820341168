"""The `ideamine` command: run, resume, status, ui and daemon (other commands register themselves).

Dagster, the model providers and the launcher are imported inside the commands that use them, so a
bad argument is refused, and `--help` answers, without loading them.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import Annotated

import typer
from rich.table import Table

from ideamine_core.agents.registry import agent_names
from ideamine_core.config.graph import PhaseGraph
from ideamine_core.config.loader import cached_phase_graph
from ideamine_core.errors import UserInputError
from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore, run_status
from ideamine_dagster.cli.common import command, console, parse_submission
from ideamine_dagster.cli.errors import FAILURE_EXIT, fail
from ideamine_dagster.cli.progress import PhaseProgress, summary_table
from ideamine_dagster.cli.waiting import next_step
from ideamine_dagster.executor_names import DEFAULT_EXECUTOR, EXECUTORS

app = typer.Typer(
    help="IdeaMine: turn a product idea into a release-ready package.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
@command
def _start() -> None:
    """Set up tracing first, so a bad IDEAMINE_OTEL_EXPORTER stops any command with one clear message."""
    from ideamine_core.tracing import configure_tracing

    configure_tracing()


@app.command()
@command
def run(
    idea: Annotated[str, typer.Argument(help="The product idea, in quotes.")],
    users: Annotated[list[str], typer.Option("--users", "-u", help="Target users (repeatable).")] = [],  # noqa: B006
    constraint: Annotated[
        list[str], typer.Option("--constraint", "-c", help="A constraint (repeatable).")
    ] = [],  # noqa: B006
    phases: Annotated[str | None, typer.Option(help="Comma-separated phases for a partial run.")] = None,
    executor: Annotated[
        str, typer.Option(help=f"Dagster executor: {', '.join(EXECUTORS)}.")
    ] = DEFAULT_EXECUTOR,
    replay: Annotated[
        str | None,
        typer.Option(help="Reproduce recorded run RUN_ID exactly from the response cache, with no network."),
    ] = None,
) -> None:
    """Run the pipeline for an idea on the embedded default (or configured) instance."""
    submission = parse_submission(idea, users, constraint)
    if executor not in EXECUTORS:
        raise UserInputError(f"unknown executor {executor!r}", fix=f"use one of {', '.join(EXECUTORS)}")
    settings = Settings.from_env()
    graph = phase_graph(str(settings.config_dir))
    wanted = [p.strip() for p in phases.split(",") if p.strip()] if phases is not None else None
    if wanted == []:
        raise UserInputError(
            "--phases is empty", fix=f"list phases, e.g. --phases {','.join(graph.order()[:2])}"
        )
    store = RunStore(settings.runs_dir)
    if replay:  # the recorded run's idea and phases, every model call from the cache
        recorded = store.load_run(replay)
        submission, wanted = recorded.submission, recorded.phases
    selected = graph.plan(wanted)
    # the heavy imports (Dagster, pydantic-ai) only once the input is known to be good
    from ideamine_core.providers.cache import CacheMode
    from ideamine_core.providers.caller import CACHE_MODE_ENV
    from ideamine_core.providers.preflight import check_models
    from ideamine_dagster.launcher import create_run, execute_run, open_instance

    if replay:
        os.environ[CACHE_MODE_ENV] = CacheMode.REPLAY.value
    for warning in check_models(settings, [graph.phases[p] for p in selected], replay=bool(replay)):
        console.print(f"[yellow]warning:[/] {warning}")
    store.check_writable()
    instance = open_instance(settings)
    record = create_run(settings, submission, selected)
    console.print(f"run [bold]{record.run_id}[/] · {len(selected)} phase(s) · model {settings.model}")
    with PhaseProgress(console, graph, selected, store.event_log(record.run_id)):
        dagster_run_id, success = execute_run(settings, instance, record, executor)
    _finish(store, record.run_id, selected, dagster_run_id, success)


def phase_graph(config_dir: str) -> PhaseGraph:
    """The validated phase graph (a bad YAML is a ConfigError naming file, field and fix)."""
    return cached_phase_graph(config_dir, agent_names())


def _finish(store: RunStore, run_id: str, phases: list[str], dagster_run_id: str, success: bool) -> None:
    records = {p: store.load_phase(run_id, p) for p in phases}
    console.print(summary_table(phases, records))
    console.print(f"artifacts: {store.run_dir(run_id) / 'artifacts'}")
    console.print(f"dagster run: {dagster_run_id}")
    if not success:
        failed = [p for p, r in records.items() if r and r.status in ("failed", "error", "escalated")]
        detail = "; ".join(f"{p}: {records[p].detail}" for p in failed if records[p]) or "see the Dagster run"
        raise fail(
            f"run {run_id} did not complete ({detail}). Inspect it with `ideamine ui`; "
            f"continue it with `ideamine resume {run_id}`",
            FAILURE_EXIT,
        )


@app.command()
@command
def resume(
    run_id: Annotated[str, typer.Argument(help="The run to continue (see `ideamine status`).")],
    executor: Annotated[
        str, typer.Option(help=f"Dagster executor: {', '.join(EXECUTORS)}.")
    ] = DEFAULT_EXECUTOR,
) -> None:
    """Continue a run that failed, was killed or waits for a person: completed phases are not re-run."""
    from ideamine_dagster.launcher import open_instance, resume_run

    settings = Settings.from_env()
    store = RunStore(settings.runs_dir)
    record = store.load_run(run_id)
    graph = phase_graph(str(settings.config_dir))
    instance = open_instance(settings)
    console.print(f"resuming run [bold]{run_id}[/] · {len(record.phases)} phase(s)")
    with PhaseProgress(console, graph, record.phases, store.event_log(run_id)):
        dagster_run_id, success = resume_run(settings, instance, run_id, executor)
    if dagster_run_id is None:
        console.print(f"run {run_id} had already completed; nothing to resume")
        return
    _finish(store, record.run_id, record.phases, dagster_run_id, success)


@app.command()
@command
def status(limit: Annotated[int, typer.Option(help="How many runs to list.")] = 20) -> None:
    """List recent runs with their phase statuses."""
    settings = Settings.from_env()
    store = RunStore(settings.runs_dir)
    runs = store.list_runs()[:limit]
    if not runs:
        console.print(f'no runs yet in {settings.runs_dir}; start one with `ideamine run "your idea"`')
        return
    table = Table(title=f"Recent runs in {settings.home}")
    for column in ("run", "created", "idea", "phases passed", "status"):
        table.add_column(column)
    steps = []
    for rec in runs:
        phases = {p: store.load_phase(rec.run_id, p) for p in rec.phases}
        passed = sum(1 for r in phases.values() if r and r.status == "passed")
        overall = run_status(rec, phases)
        created = dt.datetime.fromtimestamp(rec.created_at).strftime("%Y-%m-%d %H:%M")
        idea = rec.submission.idea if len(rec.submission.idea) <= 48 else rec.submission.idea[:47] + "…"
        table.add_row(rec.run_id, created, idea, f"{passed}/{len(rec.phases)}", overall)
        steps += [f"{rec.run_id}: {step}"] if (step := next_step(rec.run_id, overall, phases)) else []
    console.print(table)
    for step in steps:
        console.print(step, soft_wrap=True)


@app.command()
@command
def ui(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
) -> None:
    """Start the Dagster webserver on the same instance as `ideamine run`."""
    from ideamine_dagster.launcher import open_instance

    settings = Settings.from_env()
    instance = open_instance(settings)
    env = os.environ | settings.as_env() | {"DAGSTER_HOME": str(instance.root_directory)}
    console.print(f"Dagster UI on http://{host}:{port} (instance {instance.root_directory})")
    args = [
        sys.executable,
        "-m",
        "dagster_webserver",
        "-m",
        "ideamine_dagster.definitions",
        "-h",
        host,
        "-p",
        str(port),
    ]
    os.execvpe(sys.executable, args, env)


@app.command()
@command
def daemon() -> None:
    """Start the Dagster daemon on the same instance: sensors (idea inbox, supervisor) and schedules."""
    from ideamine_dagster.launcher import open_instance

    settings = Settings.from_env()
    instance = open_instance(settings)
    env = os.environ | settings.as_env() | {"DAGSTER_HOME": str(instance.root_directory)}
    console.print(f"Dagster daemon on instance {instance.root_directory} (Ctrl-C to stop)")
    args = [sys.executable, "-m", "dagster._daemon", "run", "-m", "ideamine_dagster.definitions"]
    os.execvpe(sys.executable, args, env)


COMMAND_MODULES: tuple[str, ...] = (
    "submit",
    "dossier",
    "waive",
    "db",
    "ledger",
    "metrics",
    "lineage",
    "events",
    "workspace",
)
"""Modules under ideamine_dagster.cli whose `register(app)` adds their commands."""


def _register_commands() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"ideamine_dagster.cli.{name}").register(app)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    app()
