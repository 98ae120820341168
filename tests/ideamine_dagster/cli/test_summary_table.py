"""The end-of-run summary table: phase, status, gate score, attempts, duration, artifacts."""

from __future__ import annotations

from rich.console import Console

from ideamine_core.storage.run_store import PhaseRecord
from ideamine_dagster.cli.progress import summary_table

COLUMNS = ["phase", "status", "gate score", "attempts", "duration", "artifacts"]


def _rows(phases: list[str], records: dict[str, PhaseRecord | None]) -> list[list[str]]:
    console = Console(record=True, width=200, color_system=None)
    console.print(summary_table(phases, records))
    text = console.export_text()
    assert "IdeaMine run summary" in text
    lines = [line.replace("┃", "│") for line in text.splitlines()]  # the header row uses heavy bars
    return [[c.strip() for c in line.split("│")[1:-1]] for line in lines if line.startswith("│")]


def test_summary_table_shows_each_phase_record() -> None:
    records: dict[str, PhaseRecord | None] = {
        "intake": PhaseRecord(
            phase="intake",
            status="passed",
            started_at=1000.0,
            finished_at=1002.46,
            gate_score=0.9123,
            threshold=0.7,
            attempts=1,
            artifacts=3,
        ),
        "story_loop": PhaseRecord(
            phase="story_loop",
            status="escalated",
            started_at=2000.0,
            finished_at=2061.0,
            gate_score=0.875,
            threshold=0.8,
            attempts=5,
            artifacts=2,
        ),
        "ideation": PhaseRecord(phase="ideation", status="running", started_at=1003.0),
        "critique": None,
    }
    phases = ["intake", "ideation", "critique", "story_loop"]

    header, *rows = _rows(phases, records)

    assert header == COLUMNS
    assert rows == [
        ["intake", "passed", "0.91 / 0.70", "1", "2.5s", "3"],
        ["ideation", "running", "—", "0", "—", "0"],
        ["critique", "not run", "—", "—", "—", "—"],
        ["story_loop", "escalated", "0.88 / 0.80", "5", "61.0s", "2"],
    ]


def test_summary_table_lists_only_the_selected_phases_in_their_order() -> None:
    records = {"beta": PhaseRecord(phase="beta", status="failed", gate_score=0.5, threshold=0.75, attempts=2)}
    _, *rows = _rows(["beta", "intake"], records)
    assert rows == [
        ["beta", "failed", "0.50 / 0.75", "2", "—", "0"],
        ["intake", "not run", "—", "—", "—", "—"],
    ]
