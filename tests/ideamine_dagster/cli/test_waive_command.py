"""`ideamine waive` / `ideamine waivers` in-process: the waiver reaches the store the gate reads,
and every mistake ends in one clear error with exit code 2 and nothing recorded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ideamine_core.phase.waivers import WaiverStore
from ideamine_core.storage.database import Database
from ideamine_dagster.cli.app import app


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wide_console: None) -> Path:
    home = tmp_path / "home"
    for name in ("IDEAMINE_CONFIG_DIR", "DATABASE_URL", "IDEAMINE_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDEAMINE_HOME", str(home))
    return home


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def store(home: Path) -> WaiverStore:
    return WaiverStore(Database(f"sqlite:///{home / 'ideamine.db'}"))


def test_waive_then_list(home: Path) -> None:
    result = invoke("waive", "run-1", "security", "secrets_found", "--owner", "bob", "--reason", "test key",
                    "--expires", "2099-01-01")  # fmt: skip
    assert result.exit_code == 0, result.output
    [waiver] = store(home).active("run-1", "security", now=0)
    assert (waiver.violation, waiver.owner, waiver.reason) == ("secrets_found", "bob", "test key")
    assert "2099-01-02 00:00 UTC" in result.output  # a date is valid through that day
    listed = invoke("waivers")
    assert listed.exit_code == 0 and "secrets_found" in listed.output and "active" in listed.output
    assert "no waivers recorded for run run-2" in invoke("waivers", "run-2").output


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        # a phase that does not exist
        (("run-1", "prod", "coverage", "--expires", "7d"), ("unknown phase 'prod'", "prd")),
        # a violation the phase cannot have
        (
            ("run-1", "prd", "secrets_found", "--expires", "7d"),
            ("no violation 'secrets_found'", "contradictions"),
        ),
        # an expiry nobody can read
        (("run-1", "prd", "coverage", "--expires", "next week"), ("cannot read the expiry", "7d")),
        # an expiry in the past
        (("run-1", "prd", "coverage", "--expires", "2001-01-01"), ("already be expired",)),
        # a run id that tries to leave the runs folder
        (("../etc", "prd", "coverage", "--expires", "7d"), ("not a valid run id",)),
    ],
)
def test_waive_mistakes_end_in_one_clear_error(
    home: Path, args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    result = invoke("waive", *args, "--owner", "alice", "--reason", "why")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output
    assert not (home / "ideamine.db").exists() or store(home).list() == []
