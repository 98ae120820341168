"""Coverage rules of the delivery phases (architecture, build, story_loop, aesthetic, qa, release).

Each rule returns one Check per required item; `min_line_coverage` (percent) comes from the YAML.
"""

from __future__ import annotations

import re

from ideamine_core.agents.outputs import aesthetic as aes
from ideamine_core.agents.outputs import architecture as arch
from ideamine_core.agents.outputs import build, qa, release, story_loop
from ideamine_core.domain.phase import GuardSpec
from ideamine_core.phase.guards.base import GuardInput, param
from ideamine_core.phase.guards.coverage_checks import Check, need, stories_of


def architecture_rule(spec: GuardSpec, data: GuardInput) -> list[Check]:
    """Every story's entity is modelled and served by an endpoint; every entity has an endpoint."""
    model = data.typed("DataModeler", arch.DataModel)
    api = data.typed("APIDesigner", arch.APIDesign)
    entities = {e.name for e in model.entities} if model else set()
    served = {ep.entity for ep in api.endpoints} if api else set()
    checks = [
        need("entities", bool(entities), "no valid data model", "DataModeler"),
        need("ADRs", data.typed("ADRWriter", arch.ADRLog) is not None, "no valid ADR log", "ADRWriter"),
    ]
    checks += [
        need(f"entity {e}", e in served, "entity has no endpoint", "APIDesigner") for e in sorted(entities)
    ]
    for s in stories_of(data):
        checks.append(
            need(
                f"{s.id} entity", s.entity in entities, f"entity '{s.entity}' is not modelled", "DataModeler"
            )
        )
        checks.append(
            need(f"{s.id} endpoint", s.entity in served, f"no endpoint serves '{s.entity}'", "APIDesigner")
        )
    return checks


def build_rule(spec: GuardSpec, data: GuardInput) -> list[Check]:
    """Every entity and planned file has code, and every story has a test."""
    impl = data.typed("Implementer", build.Implementation)
    tests = data.typed("TestWriter", build.GeneratedTestSuite)
    plan = data.typed("Scaffolder", build.ScaffoldPlan)
    code = "\n".join(f.content for f in impl.files).lower() if impl else ""
    paths = {f.path for f in (impl.files if impl else [])} | {f.path for f in (tests.files if tests else [])}
    model = data.upstream_typed("architecture", "DataModeler", arch.DataModel)
    checks = [need("implementation", impl is not None, "no valid implementation", "Implementer")]
    for e in model.entities if model else []:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", e.name).lower()
        checks.append(
            need(
                f"entity {e.name}",
                e.name.lower() in code or snake in code,
                "entity has no code",
                "Implementer",
            )
        )
    for f in plan.files if plan else []:
        owner = "TestWriter" if f.path.startswith("tests/") else "Implementer"
        checks.append(need(f.path, f.path in paths, "planned file was not written", owner))
    covered = set(tests.covered_story_ids) if tests else set()
    checks += [
        need(f"{s.id} test", s.id in covered, "story has no test", "TestWriter") for s in stories_of(data)
    ]
    return checks


def story_loop_rule(spec: GuardSpec, data: GuardInput) -> list[Check]:
    """Every PRD story implemented and approved by a review."""
    impl = data.typed("StoryImplementer", story_loop.StoryImplementation)
    done = set(impl.implemented_story_ids) if impl else set()
    approved = set()
    for r in data.results:
        if (
            r.agent == "StoryReviewer"
            and r.output.get("approved")
            and isinstance(r.output.get("story_id"), str)
        ):
            approved.add(r.output["story_id"])
    checks = []
    for s in stories_of(data):
        checks.append(need(f"{s.id} implemented", s.id in done, "story not implemented", "StoryImplementer"))
        checks.append(
            need(f"{s.id} approved", s.id in approved, "story not approved in review", "StoryReviewer")
        )
    return checks or [need("stories", impl is not None, "no valid story implementation", "StoryImplementer")]


def aesthetic_rule(spec: GuardSpec, data: GuardInput) -> list[Check]:
    """Every endpoint reviewed and accessibility checked."""
    review = data.typed("UIReview", aes.UIReviewReport)
    api = data.upstream_typed("architecture", "APIDesigner", arch.APIDesign)
    wanted = len(api.endpoints) if api else 1
    return [
        need(
            "endpoints reviewed",
            bool(review) and review.checked_endpoints >= wanted,
            f"fewer than {wanted} endpoints reviewed",
            "UIReview",
        ),
        need(
            "accessibility",
            data.typed("Accessibility", aes.AccessibilityReport) is not None,
            "no valid accessibility report",
            "Accessibility",
        ),
    ]


def qa_rule(spec: GuardSpec, data: GuardInput) -> list[Check]:
    """Enough tests for the stories, a coverage target per module at the minimum, a budget per endpoint."""
    runner = data.typed("TestRunner", qa.QATestPlan)
    cov = data.typed("Coverage", qa.CoveragePlan)
    perf = data.typed("Performance", qa.PerformanceBudgets)
    stories = stories_of(data)
    minimum = float(param(spec, "min_line_coverage", 70.0))
    measured = _measured_coverage(data)
    line = measured if measured is not None else (cov.overall_target_percent if cov else 0.0)
    checks = [
        need(
            "tests",
            bool(runner) and runner.total_tests >= max(len(stories), 1),
            "fewer tests than stories",
            "TestRunner",
        ),
        need("line coverage", line >= minimum, f"line coverage {line:.1f}% < {minimum:.1f}%", "Coverage"),
    ]
    impl = data.upstream_typed("build", "Implementer", build.Implementation)
    targets = {t.module for t in cov.targets} if cov else set()
    checks += [
        need(f.path, f.path in targets, "module has no coverage target", "Coverage")
        for f in (impl.files if impl else [])
        if f.path.endswith(".py")
    ]
    api = data.upstream_typed("architecture", "APIDesigner", arch.APIDesign)
    budgets = {b.endpoint for b in perf.budgets} if perf else set()
    checks += [
        need(
            f"{e.method} {e.path}",
            f"{e.method} {e.path}" in budgets,
            "endpoint has no performance budget",
            "Performance",
        )
        for e in (api.endpoints if api else [])
    ]
    return checks


def _measured_coverage(data: GuardInput) -> float | None:
    """Line coverage measured in the sandbox, when QA executed the tests (it wins over the target)."""
    cov = data.output("Coverage") or {}
    runner = data.output("TestRunner") or {}
    execution = runner.get("execution") if isinstance(runner.get("execution"), dict) else {}
    for value in (cov.get("measured_percent"), execution.get("coverage_percent")):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def release_rule(spec: GuardSpec, data: GuardInput) -> list[Check]:
    """Every 'must' story shipped, a canary that reaches 100%, and rollback triggers."""
    notes = data.typed("ReleaseNotes", release.ReleaseNotes)
    plan = data.typed("DeploymentPlan", release.DeploymentPlan)
    back = data.typed("Rollback", release.RollbackPlan)
    shipped = set(notes.stories_included) if notes else set()
    checks = [
        need(f"{s.id} shipped", s.id in shipped, "must story not in the release", "ReleaseNotes")
        for s in stories_of(data)
        if s.priority == "must"
    ]
    full = bool(plan) and plan.canary_stages[-1].traffic_percent == 100
    checks.append(need("canary to 100%", full, "canary never reaches 100% of traffic", "DeploymentPlan"))
    checks.append(need("rollback triggers", bool(back and back.triggers), "no rollback trigger", "Rollback"))
    return checks
