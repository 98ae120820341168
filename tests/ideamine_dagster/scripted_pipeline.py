"""Helpers of the workspace pipeline tests: scripted models, a shared designed run, forks of it.

A *scripted model* is the offline rules with some agents' outputs changed by a script — what a real
model could answer — plugged in as the resource's `provider()` (as `test_gate_blocking.py` does), so the
outputs go through the same model call, validation, writers, tools, gates and auto-fix as any model's.
Every call is logged (agent, iteration, instruction) so a test can see what reached the model.

Phases up to architecture are the same for every scenario: one module-scoped run makes them, and each
scenario runs on a *fork* (a copy of that home: run folder, database and configs), in a fresh Dagster
instance, with only the phases it needs.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from pipeline_helpers import run_phases
from support import REPO

from ideamine_core.agents.spec import AgentSpec
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.providers.base import Provider
from ideamine_core.providers.offline import OfflineProvider
from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore
from ideamine_dagster.resources import IdeaMineResource

SIMPLE = IdeaSubmission(idea="Keep a list of books I have read", users=["readers"])
"""A small idea: five stories, so the story loop is short."""
DESIGN = ["intake", "ideation", "critique", "prd", "architecture"]
PLANNED = [*DESIGN, "build", "security", "story_loop", "qa"]

Script = Callable[[AgentContext, dict[str, Any]], dict[str, Any]]
"""Changes the offline output of one agent: (context, offline output) → the scripted output."""
SCRIPTS: dict[str, dict[str, Script]] = {}
"""Script name → agent → script; the resource names its script (resource fields are plain config)."""
CALLS: list[tuple[str, str, int, str | None]] = []
"""(script, agent, iteration, instruction) of every scripted agent call, in order."""


class Scripted(OfflineProvider):
    """The offline rules, with the named script's agents answering differently."""

    def __init__(self, script: str) -> None:
        super().__init__()
        self.script = script

    def generate(self, spec: AgentSpec, ctx: AgentContext) -> dict[str, Any]:
        """The offline output, passed through the agent's script when it has one."""
        output = super().generate(spec, ctx)
        change = SCRIPTS[self.script].get(spec.name)
        if change is None:
            return output
        CALLS.append((self.script, spec.name, ctx.iteration, ctx.instruction))
        return change(ctx, output)


class ScriptedResource(IdeaMineResource):
    """The pipeline's resource with a scripted model."""

    script: str

    def provider(self) -> Provider:
        """The scripted offline generator."""
        return Scripted(self.script)


def calls(script: str, agent: str) -> list[tuple[int, str | None]]:
    """(iteration, instruction) of each call of `agent` under `script`."""
    return [(i, text) for s, a, i, text in CALLS if s == script and a == agent]


@dataclass(frozen=True)
class Fork:
    """A copy of the designed run's home where one scenario runs its phases."""

    settings: Settings
    run_id: str

    @property
    def store(self) -> RunStore:
        """The fork's run store."""
        return RunStore(self.settings.runs_dir)

    @property
    def run_dir(self) -> Path:
        """The fork's run folder."""
        return self.store.run_dir(self.run_id)

    def edit_config(self, phase: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Change the fork's copy of `phase`.yaml."""
        path = self.settings.config_dir / f"{phase}.yaml"
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data))

    def run(self, phases: list[str], script: str | None = None) -> dg.ExecuteInProcessResult:
        """Execute `phases` of the run in-process on a fresh instance, with the scripted model if named."""
        resources = None
        if script is not None:
            resource = ScriptedResource(
                home=str(self.settings.home), config_dir=str(self.settings.config_dir), script=script
            )
            resources = {"ideamine": resource}
        with dg.instance_for_test() as instance:
            _, result = run_phases(
                self.settings, instance, SIMPLE, phases=phases, run_id=self.run_id, resources=resources
            )
        return result


def design(root: Path, submission: IdeaSubmission = SIMPLE, planned: list[str] = PLANNED) -> Fork:
    """A new home whose run has passed the phases up to architecture (offline rules)."""
    settings = Settings(home=root / "home", config_dir=root / "phase_configs")
    shutil.copytree(REPO / "phase_configs", settings.config_dir)
    store = RunStore(settings.runs_dir)
    run_id = store.new_run_id(submission)
    store.create(run_id, submission, planned)
    with dg.instance_for_test() as instance:
        _, result = run_phases(settings, instance, submission, phases=DESIGN, run_id=run_id)
    assert result.success, "the offline design phases must pass"
    return Fork(settings, run_id)


def fork(base: Fork, root: Path) -> Fork:
    """A copy of `base`'s home (run folder, SQLite database, configs) under `root`."""
    settings = Settings(home=root / "home", config_dir=root / "phase_configs")
    shutil.copytree(base.settings.home, settings.home)
    shutil.copytree(base.settings.config_dir, settings.config_dir)
    return Fork(settings, base.run_id)


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    """The phases the run materialized."""
    return {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}


def gate_check(result: dg.ExecuteInProcessResult, phase: str) -> dg.AssetCheckEvaluation:
    """The gate check evaluation of `phase`."""
    return next(c for c in result.get_asset_check_evaluations() if c.asset_key.path[-1] == phase)
