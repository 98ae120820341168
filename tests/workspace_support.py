"""Shared helpers of the workspace and sandbox tests: offline projects and the bubblewrap requirement."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

from ideamine_core.agents.outputs.build import SourceFile
from ideamine_core.agents.registry import agents_of_phase, get_agent
from ideamine_core.agents.rules.build import build_files_of
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import AgentResult, PhaseArtifact, Provenance, content_hash
from ideamine_core.domain.idea import IdeaSubmission

DEMO = IdeaSubmission(
    idea="Build a collaborative todo app with real-time sync",
    users=["remote teams"],
    constraints=["mobile-first", "offline-capable"],
)
OTHERS = (
    IdeaSubmission(
        idea="A recipe planner that turns weekly meal plans into shopping lists",
        users=["busy parents"],
        constraints=["works offline"],
    ),
    IdeaSubmission(
        idea="Track equipment loans and returns for a university lab, with reminders",
        users=["lab managers", "students"],
        constraints=["privacy: GDPR"],
    ),
)
_UP_TO_BUILD = ("intake", "ideation", "critique", "prd", "architecture", "build")
_SEQUENTIAL = {"intake", "prd", "build"}


def _artifact(phase: str, outputs: dict[str, dict[str, Any]]) -> PhaseArtifact:
    results = [
        AgentResult(
            agent=agent,
            phase=phase,
            output=output,
            provenance=Provenance(
                agent=agent,
                phase=phase,
                provider="offline",
                model="rules",
                generator_version="test",
                output_hash=content_hash(output),
            ),
        )
        for agent, output in sorted(outputs.items())
    ]
    return PhaseArtifact(phase=phase, results=results, aggregate=outputs, aggregation_strategy="merge")


_CHAINS: dict[str, dict[str, PhaseArtifact]] = {}


def build_chain(sub: IdeaSubmission = DEMO) -> dict[str, PhaseArtifact]:
    """The offline artifacts from intake to build for one submission (like the runtime computes them)."""
    key = sub.model_dump_json()
    if key in _CHAINS:
        return _CHAINS[key]
    chain: dict[str, PhaseArtifact] = _CHAINS.setdefault(key, {})
    for phase in _UP_TO_BUILD:
        outputs: dict[str, dict[str, Any]] = {}
        for spec in agents_of_phase(phase):
            ctx = AgentContext(
                run_id="test-run",
                phase=phase,
                agent=spec.name,
                submission=sub,
                upstream=dict(chain),
                previous=dict(outputs) if phase in _SEQUENTIAL else {},
            )
            outputs[spec.name] = get_agent(spec.name).offline_rule(ctx).model_dump(mode="json")
        chain[phase] = _artifact(phase, outputs)
    return chain


def project_files(sub: IdeaSubmission = DEMO) -> tuple[list[SourceFile], list[SourceFile]]:
    """(code files, test files) the offline build phase generates for `sub`."""
    chain = build_chain(sub)
    ctx = AgentContext(run_id="test-run", phase="security", agent="SAST", submission=sub, upstream=chain)
    files = build_files_of(ctx)
    tests = [f for f in files if f.path.startswith("tests/")]
    return [f for f in files if f not in tests], tests


def require_bubblewrap() -> None:
    """Fail under CI=true, skip elsewhere, when bubblewrap (`bwrap`) is not installed."""
    if shutil.which("bwrap"):
        return
    what = "bubblewrap (bwrap) is not installed"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what}; CI=true requires the real sandbox", pytrace=False)
    pytest.skip(f"{what}; install it with `apt-get install -y bubblewrap` to run the sandbox tests")
