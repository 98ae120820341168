"""Agents backed by real tools on the run's workspace: writers, scanners and the sandboxed test run.

Three kinds of binding, by agent name:

- **writers** (Implementer, TestWriter, StoryImplementer): the model (or offline rules) proposes
  files; they are written through the path policy and committed. The commit SHA and every refused
  path are returned as a `ToolRecord`; the output is the model's, unchanged.
- **scanners** (Secrets, SAST, Dependencies, SBOM): no model; bandit, detect-secrets and
  cyclonedx-bom run on the workspace's last commit (one scan per commit, shared by the four agents).
- **test runners** (TestRunner, Coverage): no model; QA runs its own copy of the TestWriter tests,
  taken from the build artifact, in the sandbox against the workspace's last commit (one run per
  commit and test suite, shared by the two agents).

Scan and test results are cached under ``<run>/tools/`` by commit, so parallel agents and auto-fix
re-checks of an unchanged commit do not run the tools again, while a fix commit is checked afresh.
"""

from __future__ import annotations

import fcntl
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ideamine_core.agents.outputs.build import GeneratedTestSuite, ScaffoldPlan, SourceFile
from ideamine_core.agents.outputs.qa import CoveragePlan, QATestPlan, TestExecution
from ideamine_core.agents.outputs.security import SASTReport, SecretsReport
from ideamine_core.agents.outputs.story_loop import StoryImplementation
from ideamine_core.agents.rules._ctx import output_of
from ideamine_core.agents.spec import AgentSpec
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import ToolRecord, canonical_json, content_hash
from ideamine_core.storage.run_store import atomic_write
from ideamine_core.workspace.repo import Workspace, WriteReport
from ideamine_core.workspace.reports import dependency_report, findings_report, sbom_report
from ideamine_core.workspace.scanners import SecurityScan, scan_workspace
from ideamine_core.workspace.testing import run_tests

WRITERS = frozenset({"Implementer", "TestWriter", "StoryImplementer"})
SCANNERS = frozenset({"Secrets", "SAST", "Dependencies", "SBOM"})
TEST_RUNNERS = frozenset({"TestRunner", "Coverage"})
TOOL_AGENTS = SCANNERS | TEST_RUNNERS
"""Agents whose output comes from a tool, not from a model."""


@dataclass(frozen=True)
class ToolEnv:
    """Where an agent's tools work: the run folder (workspace inside it) and the run's creation time."""

    run_dir: Path
    created_at: float

    def workspace(self) -> Workspace:
        """The run's git workspace (created on first use)."""
        return Workspace.open(self.run_dir / "workspace", created_at=self.created_at)

    @contextmanager
    def cache_lock(self, name: str) -> Iterator[Path]:
        """Hold an exclusive lock for one cached tool result and yield the cache file's path."""
        folder = self.run_dir / "tools"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"{name}.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield folder / f"{name}.json"
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass(frozen=True)
class ToolOutput:
    """A tool agent's output and what the tool did."""

    output: BaseModel
    record: ToolRecord


def is_tool_agent(name: str) -> bool:
    """True when `name`'s output comes from a tool rather than a model."""
    return name in TOOL_AGENTS


def run_tool_agent(spec: AgentSpec, ctx: AgentContext, env: ToolEnv) -> ToolOutput:
    """Produce a scanner or test-runner agent's output from the real tool on the workspace."""
    if spec.name in SCANNERS:
        return _scanner(spec, ctx, env)
    if spec.name in TEST_RUNNERS:
        return _tests(spec, ctx, env)
    raise ValueError(f"{spec.name} is not a tool agent")


def after_model(
    spec: AgentSpec, ctx: AgentContext, output: dict[str, Any], env: ToolEnv
) -> ToolRecord | None:
    """For a writer agent, write its proposed files into the workspace and commit; else None."""
    if spec.name not in WRITERS:
        return None
    started = time.monotonic()
    ws = env.workspace()
    files, message = _proposed(spec.name, ctx, output, ws)
    report = ws.write_files(files) if files else WriteReport()
    sha = ws.commit(message)
    return ToolRecord(
        tool="workspace",
        seconds=round(time.monotonic() - started, 3),
        commit=sha,
        written=report.written,
        rejected=[{"path": r.path, "rule": r.rule, "message": r.message} for r in report.rejected],
        signals=[f"{p}: {s.kind}" for p, signals in report.injection_signals.items() for s in signals],
    )


def _proposed(
    agent: str, ctx: AgentContext, output: dict[str, Any], ws: Workspace
) -> tuple[list[tuple[object, str]], str]:
    """The files a writer proposes (path, content) and its commit message."""
    raw = output.get("files") if isinstance(output.get("files"), list) else []
    files = [(f.get("path"), f.get("content", "")) for f in raw if isinstance(f, dict)]
    if agent != "StoryImplementer":
        return files, f"build: {agent} (iteration {ctx.iteration})"
    story = StoryImplementation.model_validate(output)
    if story.story_id is None:
        return files, f"story_loop: nothing left (iteration {ctx.iteration})"
    done = ", ".join(story.implemented_story_ids)
    progress = f"# Story progress\n\nImplemented: {done}\n\nLast: {story.story_id} — {story.title}\n"
    return [*files, ("STORIES.md", progress)], f"story_loop: {story.story_id} {story.title}"


def _project_name(ctx: AgentContext) -> str:
    plan = output_of(ctx, "build", "Scaffolder", ScaffoldPlan)
    return plan.project_name if plan else ctx.submission.slug()


def checked_commits(run_dir: Path) -> dict[str, list[str]]:
    """Commits whose scan ('security') or sandboxed test run ('qa') is cached under ``<run>/tools/``."""
    folder = run_dir / "tools"
    names = [p.stem for p in folder.glob("*.json")] if folder.is_dir() else []
    found = {kind: {n.split("-")[1] for n in names if n.startswith(f"{prefix}-")} for kind, prefix in _CACHES}
    return {kind: sorted(shas) for kind, shas in found.items()}


_CACHES = (("security", "scan"), ("qa", "tests"))
"""(phase, cache file prefix): `_scanner` caches `scan-<sha>`, `_tests` caches `tests-<sha>-<suite>`."""


def _cached(
    env: ToolEnv, name: str, model: type[BaseModel], make: Callable[[], BaseModel]
) -> tuple[Any, bool]:
    """The cached tool result `name`, or `make()` stored under it; (result, reused)."""
    with env.cache_lock(name) as path:
        if path.exists():
            try:
                return model.model_validate_json(path.read_text(encoding="utf-8")), True
            except ValueError:
                path.unlink()
        result = make()
        atomic_write(path, result.model_dump_json())
        return result, False


def _input_commit(ws: Workspace, ctx: AgentContext) -> str | None:
    """The last commit made by a phase this task depends on ('<phase>: …' messages), else HEAD.

    A scanner scans what its inputs describe, not what a phase running beside it has committed since
    (story_loop commits while security scans the build): the same inputs give the same scan.
    """
    mine = [c.sha for c in ws.commits() if c.message.split(":", 1)[0] in ctx.upstream]
    return mine[-1] if mine else ws.head()


def _scanner(spec: AgentSpec, ctx: AgentContext, env: ToolEnv) -> ToolOutput:
    ws = env.workspace()
    sha = _input_commit(ws, ctx)
    if sha is None:
        raise _no_code(spec.name)
    scan, reused = _cached(
        env, f"scan-{sha}", SecurityScan, lambda: scan_workspace(ws, project_name=_project_name(ctx), rev=sha)
    )
    output: BaseModel
    if spec.name == "Secrets":
        output = findings_report(
            SecretsReport,
            scan.runs.get("secrets"),
            prefix="SEC",
            what="secret",
            error=scan.errors.get("secrets"),
        )
    elif spec.name == "SAST":
        output = findings_report(
            SASTReport, scan.runs.get("sast"), prefix="SAST", what="SAST", error=scan.errors.get("sast")
        )
    elif spec.name == "Dependencies":
        with tempfile.TemporaryDirectory(prefix="ideamine-deps-") as tmp:  # that commit, not the live tree
            ws.export(Path(tmp), sha)
            output = dependency_report(Path(tmp))
    else:
        output = _sbom(scan)
    seconds = 0.0 if reused else scan.tool_seconds
    if hasattr(output, "tool_seconds"):
        output = output.model_copy(update={"tool_seconds": None})  # timing goes to the ledger, not content
    tool = "cyclonedx-bom" if spec.name == "SBOM" else "bandit+detect-secrets"
    return ToolOutput(output, ToolRecord(tool=tool, seconds=round(seconds, 3), commit=sha))


def _sbom(scan: SecurityScan) -> BaseModel:
    from ideamine_core.agents.outputs.security import SBOMReport

    if scan.sbom is None:
        reason = scan.errors.get("sbom", "the SBOM generator did not run")
        return SBOMReport(
            scanned_files=0,
            findings=[],
            counts={s: 0 for s in ("info", "low", "medium", "high", "critical")},
            summary="No SBOM: the generator failed.",
            notes=[f"SBOM failed: {reason}"],
            components=[],
        )
    return sbom_report(scan.sbom)


def _suite(ctx: AgentContext) -> list[SourceFile]:
    """QA's own copy of the tests: TestWriter's files from the build artifact, never the workspace."""
    suite = output_of(ctx, "build", "TestWriter", GeneratedTestSuite)
    return list(suite.files) if suite else []


def _tests(spec: AgentSpec, ctx: AgentContext, env: ToolEnv) -> ToolOutput:
    ws = env.workspace()
    sha = ws.head()
    tests = _suite(ctx)
    if sha is None or not tests:
        raise _no_code(spec.name)
    key = content_hash(canonical_json([t.model_dump() for t in tests]))[7:19]
    execution, reused = _cached(env, f"tests-{sha}-{key}", TestExecution, lambda: run_tests(ws, tests))
    seconds = 0.0 if reused else execution.duration_seconds or 0.0
    execution = _untimed(execution)
    base = spec.offline_rule(ctx)
    if isinstance(base, QATestPlan):
        output: BaseModel = base.model_copy(update={"execution": execution})
    else:
        assert isinstance(base, CoveragePlan)
        output = base.model_copy(
            update={"measured_percent": execution.coverage_percent, "measured_files": execution.file_coverage}
        )
    tool = f"pytest+coverage in {execution.isolation}"
    return ToolOutput(output, ToolRecord(tool=tool, seconds=round(seconds, 3), commit=sha))


_TIMING = re.compile(r" in \d+(?:\.\d+)?s\b")


def _untimed(execution: TestExecution) -> TestExecution:
    """The run without wall-clock figures: equal code and tests give an equal artifact."""
    return execution.model_copy(
        update={"duration_seconds": None, "output_tail": _TIMING.sub("", execution.output_tail)}
    )


def _no_code(agent: str) -> Exception:
    from ideamine_core.errors import WorkspaceError

    return WorkspaceError(
        f"{agent} has nothing to check: the workspace has no commit or the build artifact no tests",
        fix="run the build phase first (e.g. --phases build,...) or resume the run",
    )
