"""`ideamine metrics RUN`: per-phase and run metrics from the ledger and phase records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ideamine_dagster.cli.common import command, console
from ideamine_dagster.cli.db import open_db

if TYPE_CHECKING:
    from ideamine_core.metrics import RunMetrics


def _num(value: float | int | None, fmt: str = "{:g}") -> str:
    return "—" if value is None else fmt.format(value)


def phase_table(m: RunMetrics) -> Table:
    """One row per phase: duration, gate, tasks, tokens, cost, tool minutes, p95 over recent runs."""
    table = Table(title=f"Phases of {m.run_id}")
    columns = (
        "phase",
        "status",
        "duration",
        "p95",
        "gate",
        "attempts",
        "tasks ok/failed",
        "tokens in/out",
        "cost $",
    )
    for column in (*columns, "tool min"):
        table.add_column(column, justify="left" if column in ("phase", "status") else "right")
    for p in m.phases:
        gate = "—" if p.gate_passed is None else ("passed" if p.gate_passed else "failed")
        score = (
            f" {p.gate_score:.2f}/{p.gate_threshold:.2f}"
            if p.gate_score is not None and p.gate_threshold
            else ""
        )
        table.add_row(
            p.phase,
            p.status or "—",
            _num(p.duration_seconds, "{:.1f}s"),
            _num(m.p95_phase_seconds.get(p.phase), "{:.1f}s"),
            gate + score,
            str(p.gate_attempts),
            f"{p.tasks_succeeded}/{p.tasks_failed}",
            f"{p.tokens_in}/{p.tokens_out}",
            f"{p.cost_usd:.4f}",
            f"{p.tool_minutes:.2f}",
        )
    return table


def totals_table(m: RunMetrics) -> Table:
    """The run's totals."""
    table = Table(title="Run totals", show_header=False)
    rate = "—" if m.gate_pass_rate is None else f"{m.gate_pass_rate:.0%} of {m.gate_evaluations} evaluations"
    rows = {
        "cost": f"${m.cost_usd:.4f}",
        "tokens in/out": f"{m.tokens_in}/{m.tokens_out}",
        "completion": f"{m.completion_rate:.0%} ({m.phases_passed}/{m.planned_phases} phases passed)",
        "gate pass rate": rate,
        "agent tasks ok/failed": f"{m.tasks_succeeded}/{m.tasks_failed}",
        "tool minutes": f"{m.tool_minutes:.2f}",
        "duration": _num(m.duration_seconds, "{:.1f}s"),
        "p95 over": f"{m.recent_runs} recent run(s)",
    }
    for name, value in rows.items():
        table.add_row(name, value)
    return table


@command
def metrics(
    run: Annotated[str, typer.Argument(help="Run id.")],
    recent: Annotated[int, typer.Option(help="Runs the p95 phase latency covers.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Print a run's per-phase metrics and totals (p95 phase latency over recent runs)."""
    from ideamine_core.metrics import run_metrics  # pandas: loaded only for this command

    m = run_metrics(open_db(), run, recent_runs=recent)
    if as_json:
        console.print_json(m.model_dump_json())
        return
    if not m.phases:
        console.print(f"no metrics recorded for run {run} (no ledger entries or phase records)")
        return
    console.print(phase_table(m))
    console.print(totals_table(m))


def register(app: typer.Typer) -> None:
    """Add `metrics` to the CLI."""
    app.command()(metrics)
