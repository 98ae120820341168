"""Output models of the qa phase: TestRunner, Coverage and Performance."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ideamine_core.agents.outputs._base import AgentOutput, Strict

__all__ = [
    "CoveragePlan",
    "ModuleTarget",
    "PerfBudget",
    "PerformanceBudgets",
    "QATestPlan",
    "SuitePlan",
    "TestExecution",
    "TestFailure",
]


class TestFailure(Strict):
    """One test that did not pass when QA executed the suite."""

    __test__ = False  # not a pytest test class

    test_id: str = Field(min_length=1, description="pytest node id, e.g. 'tests/test_api.py::test_x'.")
    kind: Literal["failed", "error", "not_run"] = Field(description="Assertion failure, error, or never ran.")
    message: str = Field(default="", description="Short traceback (invisible characters removed, truncated).")


class TestExecution(Strict):
    """What executing QA's own copy of the tests in the sandbox really gave."""

    __test__ = False  # not a pytest test class

    isolation: str = Field(description="'bubblewrap', 'unshare' or 'rlimits'.")
    reduced_isolation: bool = Field(description="True when the full bubblewrap recipe was not used.")
    isolation_notes: list[str] = Field(
        default_factory=list, description="Why isolation was reduced, if it was."
    )
    expected: int = Field(ge=0, description="Test functions in QA's copy of the tests.")
    collected: int = Field(ge=0, description="Test items pytest collected.")
    run: int = Field(ge=0, description="Tests executed (passed + failed + errors among collected).")
    passed: int = Field(ge=0, description="Tests that passed.")
    failed: int = Field(ge=0, description="Tests whose assertions failed.")
    errors: int = Field(
        ge=0, description="Setup/teardown/collection errors and expected tests that never ran."
    )
    skipped: int = Field(ge=0, description="Skipped or expected-to-fail tests.")
    coverage_percent: float | None = Field(
        default=None, ge=0, le=100, description="Line coverage of the code."
    )
    covered_lines: int = Field(default=0, ge=0, description="Statements executed.")
    total_lines: int = Field(default=0, ge=0, description="Statements in the measured code.")
    file_coverage: dict[str, float] = Field(default_factory=dict, description="Path → line coverage %.")
    duration_seconds: float | None = Field(
        default=None,
        ge=0,
        description="Wall-clock time of the sandboxed run; None in stored artifacts, whose content must not "
        "depend on timing (the ledger's task entry holds it as tool seconds).",
    )
    timed_out: bool = Field(default=False, description="The wall-clock limit stopped the run.")
    exit_code: int | None = Field(default=None, description="pytest's exit status as the sandbox saw it.")
    failures: list[TestFailure] = Field(default_factory=list, description="Tests that did not pass.")
    tampering: list[str] = Field(
        default_factory=list, description="Signs the code tried to forge the result."
    )
    output_tail: str = Field(default="", description="End of pytest's output (sanitized).")
    green: bool = Field(description="Ran > 0, no failure, error, timeout or tampering.")


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
    execution: TestExecution | None = Field(
        default=None, description="The real sandboxed run of the tests, when QA executed them."
    )


class ModuleTarget(Strict):
    """A coverage target for one module."""

    module: str = Field(min_length=1, description="Module path.")
    target_percent: float = Field(ge=0, le=100, description="Line coverage target.")
    rationale: str = Field(min_length=1, description="Why this target.")


class CoveragePlan(AgentOutput):
    """Coverage: planned coverage targets per module."""

    overall_target_percent: float = Field(ge=0, le=100, description="Overall line coverage.")
    targets: list[ModuleTarget] = Field(default_factory=list, description="Targets, by module.")
    measured_percent: float | None = Field(
        default=None, ge=0, le=100, description="Line coverage measured by coverage.py in the sandbox."
    )
    measured_files: dict[str, float] = Field(
        default_factory=dict, description="Path → measured line coverage %."
    )


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
