"""Live per-phase progress from the run's event log, and the end-of-run summary table."""

from __future__ import annotations

import threading
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from ideamine_core.config.graph import PhaseGraph
from ideamine_core.events import Event, JsonlEventLog
from ideamine_core.storage.run_store import PhaseRecord

_STYLE = {"passed": "green", "failed": "red", "error": "red", "running": "yellow", "not run": "dim"}


class PhaseProgress:
    """Follows a run's events in a thread and shows one progress bar per phase."""

    def __init__(self, console: Console, graph: PhaseGraph, phases: list[str], log: JsonlEventLog) -> None:
        self.graph, self.log = graph, log
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<14}"),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks: dict[str, TaskID] = {
            p: self.progress.add_task(p, total=len(graph.phases[p].agents) + 1, status="waiting", start=False)
            for p in phases
        }
        self._offset = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self) -> PhaseProgress:
        self.progress.start()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._drain()
        self.progress.stop()

    def _follow(self) -> None:
        while not self._stop.wait(0.2):
            self._drain()

    def _drain(self) -> None:
        events, self._offset = self.log.follow_from(self._offset)
        for event in events:
            self._apply(event)

    def _apply(self, event: Event) -> None:
        task = self.tasks.get(event.phase or "")
        if task is None:
            return
        handlers: dict[str, Callable[[], None]] = {
            "phase.started": lambda: (
                self.progress.start_task(task),
                self.progress.update(task, status="running"),
            ),
            "phase.agent.complete": lambda: self.progress.advance(task),
            "phase.gate.passed": lambda: self.progress.update(
                task, completed=self.progress.tasks[task].total, status="[green]gate passed"
            ),
            "phase.gate.failed": lambda: self.progress.update(task, status="[red]gate failed"),
        }
        handler = handlers.get(event.type)
        if handler:
            handler()


def summary_table(phases: list[str], records: dict[str, PhaseRecord | None]) -> Table:
    """Phase, status, gate score, attempts, duration and artifacts for each selected phase."""
    table = Table(title="IdeaMine run summary")
    for column in ("phase", "status", "gate score", "attempts", "duration", "artifacts"):
        table.add_column(column, justify="left" if column in ("phase", "status") else "right")
    for phase in phases:
        rec = records.get(phase)
        status = rec.status if rec else "not run"
        score = f"{rec.gate_score:.2f} / {rec.threshold:.2f}" if rec and rec.gate_score is not None else "—"
        duration = f"{rec.duration:.1f}s" if rec and rec.duration is not None else "—"
        table.add_row(
            phase,
            f"[{_STYLE.get(status, 'white')}]{status}[/]",
            score,
            str(rec.attempts) if rec else "—",
            duration,
            str(rec.artifacts) if rec else "—",
        )
    return table
