"""Shared fixtures: a temporary IdeaMine home, a temporary Dagster instance, and a run helper."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore

REPO = Path(__file__).resolve().parent.parent
DEMO = IdeaSubmission(
    idea="Build a collaborative todo app with real-time sync",
    users=["remote teams"],
    constraints=["mobile-first", "offline-capable"],
)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A private, editable copy of the default phase configs."""
    target = tmp_path / "phase_configs"
    shutil.copytree(REPO / "phase_configs", target)
    return target


@pytest.fixture
def settings(tmp_path: Path, config_dir: Path) -> Settings:
    """Settings on a temporary home and the private config copy."""
    return Settings(home=tmp_path / "home", config_dir=config_dir)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A temporary persistent (SQLite) Dagster instance."""
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def store(settings: Settings) -> RunStore:
    """The run store of the temporary home."""
    return RunStore(settings.runs_dir)
