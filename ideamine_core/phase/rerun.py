"""Re-running agents for auto-fix: a `rerun(agent, instruction)` callback over any `run_agent(ctx)`.

`AgentRerun` keeps the latest outputs, so a sequential agent re-run sees its predecessors' newest
outputs, and a fix that re-runs an upstream agent (a build agent fixing a security finding)
replaces that agent's result in the upstream artifact the phase's own agents then see.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from ideamine_core.agents.registry import get_agent
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import AgentResult, PhaseArtifact
from ideamine_core.domain.phase import Aggregation, Parallelism, PhaseConfig
from ideamine_core.phase.claims import latest
from ideamine_core.phase.fan_in import aggregate


class Rerun(Protocol):
    """Re-run one agent with an instruction and return its new result."""

    def __call__(self, agent: str, instruction: str | None) -> AgentResult:
        """Run `agent` again; `instruction` says what to fix."""
        ...


def replace_result(artifact: PhaseArtifact, result: AgentResult) -> PhaseArtifact:
    """`artifact` with `result` superseding its agent's earlier results (aggregate recomputed)."""
    results = [r for r in artifact.results if r.agent != result.agent] + [result]
    results.sort(key=lambda r: (r.iteration, r.agent))
    strategy = artifact.aggregation_strategy
    merged = artifact.aggregate
    if strategy in {a.value for a in Aggregation} - {Aggregation.CUSTOM.value}:
        merged = aggregate(Aggregation(strategy), results)
    return artifact.model_copy(update={"results": results, "aggregate": merged})


def next_iteration(results: Sequence[AgentResult], agent: str) -> int:
    """One more than the highest iteration `agent` has reached (0 when it never ran)."""
    return max((r.iteration for r in results if r.agent == agent), default=-1) + 1


def merge_instruction(configured: str | None, fix: str | None) -> str | None:
    """The YAML instruction of the agent, then the fix instruction."""
    parts = [p.strip() for p in (configured, fix) if p and p.strip()]
    return "\n\n".join(parts) or None


class AgentRerun:
    """A Rerun over `run_agent(ctx)` (e.g. `PhaseService.run_agent`) and the phase's planned contexts."""

    def __init__(
        self,
        run_agent: Callable[[AgentContext], AgentResult],
        contexts: Sequence[AgentContext],
        results: Sequence[AgentResult],
        config: PhaseConfig,
    ) -> None:
        if not contexts:
            raise ValueError("AgentRerun needs the phase's planned contexts (one per agent)")
        self.run_agent = run_agent
        self.contexts = {c.agent: c for c in contexts}
        self.order = [c.agent for c in contexts]
        self.results = list(results)
        self.upstream: dict[str, PhaseArtifact] = dict(contexts[0].upstream)
        self.mode = config.parallelism

    def __call__(self, agent: str, instruction: str | None) -> AgentResult:
        """Re-run `agent` (of this phase, or of an upstream phase) with the fix instruction."""
        ctx = self._own(agent, instruction) if agent in self.contexts else self._upstream(agent, instruction)
        result = self.run_agent(ctx)
        if result.phase == ctx.phase and agent in self.contexts:
            self.results.append(result)
        elif ctx.phase in self.upstream:
            self.upstream[ctx.phase] = replace_result(self.upstream[ctx.phase], result)
        return result

    def _own(self, agent: str, instruction: str | None) -> AgentContext:
        base = self.contexts[agent]
        current = {a: r.output for a, r in latest(self.results).items()}
        if self.mode is Parallelism.SEQUENTIAL:
            before = self.order[: self.order.index(agent)]
            previous = {a: current[a] for a in before if a in current}
        elif self.mode is Parallelism.ITERATIVE:
            previous = current  # the loop's agents always see each other's latest outputs
        else:
            previous = dict(base.previous)
        return base.model_copy(
            update={
                "upstream": dict(self.upstream),
                "previous": previous,
                "iteration": next_iteration(self.results, agent),
                "instruction": merge_instruction(base.instruction, instruction),
            }
        )

    def _upstream(self, agent: str, instruction: str | None) -> AgentContext:
        phase = get_agent(agent).phase
        artifact = self.upstream.get(phase)
        if artifact is None:
            raise KeyError(f"agent {agent!r} belongs to phase {phase!r}, which is not upstream of this phase")
        template = next(iter(self.contexts.values()))
        siblings: Mapping[str, AgentResult] = latest(artifact.results)
        return AgentContext(
            run_id=template.run_id,
            phase=phase,
            agent=agent,
            submission=template.submission,
            upstream={p: a for p, a in self.upstream.items() if p != phase},
            previous={a: r.output for a, r in siblings.items() if a != agent},
            iteration=next_iteration(artifact.results, agent),
            instruction=instruction,
        )
