"""The CLI reads IDEAMINE_OTEL_EXPORTER before any command: a bad value stops it with one clear message
(exit 2, nothing started or written), a good one turns tracing on for the command.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ideamine_core import tracing
from ideamine_dagster.cli.app import app

IDEA = "Build a collaborative todo app with real-time sync"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wide_console: None) -> Iterator[Path]:
    home = tmp_path / "home"
    monkeypatch.setenv("IDEAMINE_HOME", str(home))
    yield home
    tracing.shutdown_tracing()


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("zipkin", "set IDEAMINE_OTEL_EXPORTER to one of none, console, otlp"),  # unknown exporter
        ("jaeger-thrift", "'jaeger-thrift' is not a known exporter"),  # another unknown name
    ],
)
def test_a_bad_exporter_stops_any_command_before_it_starts(
    home: Path, monkeypatch: pytest.MonkeyPatch, value: str, needle: str
) -> None:
    monkeypatch.setenv(tracing.EXPORTER_ENV, value)
    result = CliRunner().invoke(app, ["run", IDEA, "--phases", "intake"])
    assert result.exit_code == 2, result.output
    assert needle in result.output and "Traceback" not in result.output
    assert not home.exists()  # refused before any run, database or instance was created


def test_a_known_exporter_turns_tracing_on_for_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tracing.EXPORTER_ENV, "console")
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert tracing.tracing_enabled()
