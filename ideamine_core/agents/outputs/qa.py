"""Output models of the qa phase: TestRunner, Coverage and Performance."""

from __future__ import annotations

from pydantic import Field

from ideamine_core.agents.outputs._base import AgentOutput, Strict

__all__ = [
    "CoveragePlan",
    "ModuleTarget",
    "PerfBudget",
    "PerformanceBudgets",
    "QATestPlan",
    "SuitePlan",
]


class SuitePlan(Strict):
    """One planned test file and the test functions found in it."""

    path: str = Field(min_length=1, description="Test file path.")
    test_count: int = Field(ge=0, description="Number of test functions.")
    test_names: list[str] = Field(default_factory=list, description="Test function names.")


class QATestPlan(AgentOutput):
    """TestRunner: the planned test run, from parsing the generated test files."""

    command: str = Field(min_length=1, description="Command that runs the suites.")
    suites: list[SuitePlan] = Field(default_factory=list, description="Suites, by path.")
    total_tests: int = Field(ge=0, description="Total test functions.")
    parse_errors: list[str] = Field(default_factory=list, description="Files that did not parse.")


class ModuleTarget(Strict):
    """A coverage target for one module."""

    module: str = Field(min_length=1, description="Module path.")
    target_percent: float = Field(ge=0, le=100, description="Line coverage target.")
    rationale: str = Field(min_length=1, description="Why this target.")


class CoveragePlan(AgentOutput):
    """Coverage: planned coverage targets per module."""

    overall_target_percent: float = Field(ge=0, le=100, description="Overall line coverage.")
    targets: list[ModuleTarget] = Field(default_factory=list, description="Targets, by module.")


class PerfBudget(Strict):
    """A performance budget for one endpoint."""

    endpoint: str = Field(min_length=1, description="'GET /tasks'.")
    p95_ms: int = Field(gt=0, description="95th percentile latency budget in ms.")
    max_payload_kb: int = Field(gt=0, description="Maximum response size in KB.")
    min_rps: int = Field(gt=0, description="Throughput it must sustain.")


class PerformanceBudgets(AgentOutput):
    """Performance: performance budgets per endpoint."""

    budgets: list[PerfBudget] = Field(min_length=1, description="Budgets, by endpoint.")
    summary: str = Field(min_length=1, description="Where the numbers come from.")
