"""PhaseConfig and its parts: the schema of one `phase_configs/*.yaml` file."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ISO_DURATION = re.compile(r"^P(?!$)(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Parallelism(StrEnum):
    """How a phase dispatches its agents (an integer N means at most N at once)."""

    SEQUENTIAL = "sequential"
    PARALLEL = "parallel"
    ITERATIVE = "iterative"


class Aggregation(StrEnum):
    """How a phase fans its agents' results back in."""

    MERGE = "merge"
    CONCAT = "concat"
    VOTE = "vote"
    CUSTOM = "custom"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentRef(_Strict):
    """One agent of a phase, optionally with a model or prompt override."""

    name: str = Field(description="Agent name from the agent registry, e.g. 'Persona'.")
    model: str | None = Field(default=None, description="Model override, 'provider:model'.")
    prompt: str | None = Field(default=None, description="Prompt template override (file name).")
    instruction: str | None = Field(
        default=None, description="Extra instruction appended to the agent's task."
    )
    models: list[str] = Field(
        default_factory=list,
        description="Fallback ladder for this agent, 'provider:model' ids in order; overrides `model`.",
    )


class Budgets(_Strict):
    """Per-phase limits; None means unlimited."""

    tokens: int | None = Field(default=None, ge=0)
    tools_minutes: float | None = Field(default=None, ge=0)
    wallclock_minutes: float | None = Field(default=None, ge=0)
    cost_usd: float | None = Field(default=None, ge=0)


GuardType = Literal["contradictions", "grounding", "coverage", "schema", "blockers"]


class GuardSpec(_Strict):
    """A guard to run on the phase's artifacts, with its threshold."""

    type: GuardType
    threshold: float = Field(description="Guard-specific threshold (max count or min share).")
    use_model_judge: bool = False
    params: dict[str, float | int | str | bool] = Field(default_factory=dict)


class GateSpec(_Strict):
    """The phase gate: pass threshold, auto-fix and hard blockers."""

    pass_threshold: float = Field(default=0.7, ge=0, le=1)
    auto_fix_enabled: bool = True
    max_attempts: int = Field(default=5, ge=1, le=50)
    hard_blockers: dict[str, float] = Field(
        default_factory=dict, description="Metric name → maximum allowed, e.g. secrets_found: 0."
    )


class HeartbeatSpec(_Strict):
    """Heartbeat interval and the number of missed beats that means a stall."""

    interval_seconds: float = Field(default=30, gt=0)
    stall_threshold: int = Field(default=3, ge=1)
    max_silence_seconds: float | None = Field(
        default=None,
        gt=0,
        description="A task whose work shows no sign of progress this long stops beating (and is then "
        "judged stalled); None: the phase timebox.",
    )


class PhaseConfig(_Strict):
    """One phase of the pipeline, as read from its YAML file."""

    phase: str = Field(description="Phase name, lower_snake_case; also the Dagster asset name.")
    description: str = ""
    depends_on: list[str] = Field(default_factory=list)
    parallelism: Parallelism | Annotated[int, Field(ge=1)] = Parallelism.PARALLEL
    aggregation_strategy: Aggregation = Aggregation.MERGE
    custom_aggregator: str | None = Field(
        default=None, description="Dotted path 'module:function' when aggregation is custom."
    )
    agents: list[AgentRef] = Field(min_length=1)
    max_iterations: int = Field(default=10, ge=1, le=1000)
    budgets: Budgets = Field(default_factory=Budgets)
    guards: list[GuardSpec] = Field(default_factory=list)
    gate: GateSpec = Field(default_factory=GateSpec)
    heartbeat: HeartbeatSpec = Field(default_factory=HeartbeatSpec)
    timebox: str = Field(default="PT1H", description="ISO-8601 duration, e.g. PT2H30M.")
    models: list[str] = Field(
        default_factory=list,
        description="Fallback ladder for every agent of the phase ('provider:model' ids in order).",
    )

    @field_validator("phase")
    @classmethod
    def _phase_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} is not lower_snake_case (letters, digits, underscores)")
        return value

    @field_validator("timebox")
    @classmethod
    def _iso_duration(cls, value: str) -> str:
        if not _ISO_DURATION.match(value):
            raise ValueError(f"{value!r} is not an ISO-8601 duration such as PT2H or P1DT30M")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PhaseConfig:
        if self.aggregation_strategy is Aggregation.CUSTOM and not self.custom_aggregator:
            raise ValueError("aggregation_strategy custom needs custom_aggregator: 'module:function'")
        names = [a.name for a in self.agents]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"agent(s) listed twice: {', '.join(dupes)}")
        if self.phase in self.depends_on:
            raise ValueError("a phase cannot depend on itself")
        return self

    def models_for(self, agent: str) -> list[str]:
        """The model ladder configured for `agent` ([] means the run's default model)."""
        ref = next((a for a in self.agents if a.name == agent), None)
        if ref is not None and ref.models:
            return list(ref.models)
        if ref is not None and ref.model:
            return [ref.model]
        return list(self.models)

    @property
    def agent_names(self) -> list[str]:
        """Agent names in configured order."""
        return [a.name for a in self.agents]

    @property
    def max_concurrency(self) -> int | None:
        """At most this many agents at once (None: no limit, 1: sequential)."""
        if isinstance(self.parallelism, int):
            return self.parallelism
        if self.parallelism is Parallelism.PARALLEL:
            return None
        return 1

    def max_silence_seconds(self) -> float:
        """How long a task may go without finishing a step before its heartbeat stops vouching for it:
        ``heartbeat.max_silence_seconds``, else the timebox."""
        return self.heartbeat.max_silence_seconds or self.timebox_seconds()

    def timebox_seconds(self) -> float:
        """The timebox as seconds."""
        m = _ISO_DURATION.match(self.timebox)
        assert m is not None  # validated above
        d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        return d * 86400 + h * 3600 + mi * 60 + s
