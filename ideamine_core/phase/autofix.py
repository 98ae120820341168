"""Loop-until-pass with auto-fix: evaluate, choose a fix from the failure reasons, re-run, re-evaluate.

Strategies, by the kind of failure: schema → re-ask the agent with the validation error;
contradictions → re-run the owning agents with the conflicting items; blockers (security, tests,
build) → the build agents get the findings, then the phase's tool agents re-check the new commit;
coverage → re-run the owners of the missing items with the gap; grounding → stricter Q/A/V and the owners told
which claims lack support. Sequential phases also re-run the agents after a re-run one, so they
see its new output. After `max_attempts` evaluations the outcome fails and asks for escalation.
Pure core: the caller supplies `rerun(agent, instruction)`.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ideamine_core.domain.artifact import AgentResult, EvidencePack, GateResult
from ideamine_core.domain.evidence import FixAction, FixPlan, GateAttempt, GateReason, GuardResult, Waiver
from ideamine_core.domain.phase import Parallelism, PhaseConfig
from ideamine_core.phase.claims import GateContext, excerpt, latest
from ideamine_core.phase.evidence_store import KnowledgeStore
from ideamine_core.phase.gatekeeper import Evaluation, Gatekeeper
from ideamine_core.phase.guards.base import SchemaLookup
from ideamine_core.phase.judge import Judge
from ideamine_core.phase.qav import Emit, QAVAgents, QAVResult
from ideamine_core.phase.rerun import Rerun, next_iteration, replace_result
from ideamine_core.phase.waivers import StaticWaivers, WaiverSource
from ideamine_core.workspace.agent_tools import is_tool_agent

MAX_LINES = 12
"""Reasons quoted per instruction."""
_BUILD_FIXES = re.compile(r"^(secrets_found|sast_\w+|vulnerable_dependencies_\w+|\w+_findings|tests_failed)$")
"""Blocker metrics whose cure is a change to the generated code (so the build agents get them)."""
BUILD_PHASE = "build"
_LOCATION = re.compile(r"^(?P<path>[^:\s]+\.[A-Za-z0-9]+)(?::\d+)?$")

_LEADS = {
    "schema": "Your previous output failed the schema check. Return complete, valid output with every "
    "required field filled with real content:",
    "contradictions": "Your output contradicts itself or a sibling agent. Resolve these contradictions so "
    "every statement agrees (keep what the idea and upstream artifacts support):",
    "coverage": "Your output leaves required items uncovered. Cover each of these gaps:",
    "grounding": "These claims are not supported by the idea or the upstream artifacts. Ground each in "
    "them or remove it:",
    "blockers": "Fix these blocking findings:",
    "rescan": "Re-check after the fix of:",
    "retry": "The phase gate failed for these reasons. Produce a complete, consistent output:",
}


def _kind(g: GuardResult) -> str:
    if g.hard:
        return "contradictions" if g.guard == "contradictions_found" else "blockers"
    return g.guard


_PRIORITY = ("schema", "contradictions", "blockers", "coverage", "grounding")


def _line(reason: GateReason) -> str:
    return f"- {excerpt(reason.item, 100)}: {excerpt(reason.detail, 220)}"


def _owner_of_file(path: str, context: GateContext, results: Sequence[AgentResult]) -> tuple[str, str] | None:
    """(phase, agent) of the build agent that wrote `path`, searched in this phase then upstream."""
    pools = [(r.phase, r) for r in latest(results).values()]
    build = context.upstream.get(BUILD_PHASE)
    pools += [(BUILD_PHASE, r) for r in latest(build.results).values()] if build else []
    for phase, r in pools:
        files = r.output.get("files") if isinstance(r.output, dict) else None
        if isinstance(files, list) and any(isinstance(f, dict) and f.get("path") == path for f in files):
            return phase, r.agent
    return None


@dataclass
class _Plan:
    lines: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    leads: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, phase: str, agent: str, lead: str, line: str) -> None:
        key = (phase, agent)
        if lead not in self.leads[key]:
            self.leads[key].append(lead)
            self.lines[key].append(_LEADS[lead])
        if line not in self.lines[key] and len(self.lines[key]) < MAX_LINES + len(self.leads[key]):
            self.lines[key].append(line)


def _add_blocker(
    plan: _Plan, reason: GateReason, config: PhaseConfig, context: GateContext, results: Sequence[AgentResult]
) -> None:
    m = _LOCATION.match(reason.item)
    owner = _owner_of_file(m.group("path"), context, results) if m else None
    wants_build = _BUILD_FIXES.match(reason.code) is not None
    if owner is None and reason.code == "tests_failed" and BUILD_PHASE in context.upstream:
        owner = (BUILD_PHASE, "Implementer")
    if owner is not None and (wants_build or owner[0] == config.phase):
        plan.add(owner[0], owner[1], "blockers", _line(reason))
        # a fix upstream is a new workspace commit: every tool agent checks it, not only the reporter
        checkers = [a for a in config.agent_names if is_tool_agent(a)] if owner[0] != config.phase else []
        for agent in [*reason.agents, *checkers]:
            if agent != owner[1] and agent in config.agent_names:
                plan.add(config.phase, agent, "rescan", _line(reason))
        return
    for agent in reason.agents or config.agent_names:
        plan.add(config.phase, agent, "blockers", _line(reason))


def choose_fix(
    gate: GateResult,
    config: PhaseConfig,
    context: GateContext,
    results: Sequence[AgentResult],
    qav_level: int = 0,
) -> FixPlan:
    """The fix for a failed attempt: which agents to re-run, with which instruction, in which order."""
    failed = [g for g in gate.guards if not g.passed and not g.waived]
    if not failed and not gate.passed:  # all guards pass but the mean is low: work on the weakest
        soft = sorted((g for g in gate.guards if not g.hard and not g.waived), key=lambda g: g.score)
        failed = soft[:1]
    kinds = sorted({_kind(g) for g in failed}, key=lambda k: _PRIORITY.index(k) if k in _PRIORITY else 99)
    plan = _Plan()
    for g in failed:
        kind = _kind(g)
        for reason in g.reasons:
            if kind == "blockers":
                _add_blocker(plan, reason, config, context, results)
            else:
                for agent in [a for a in reason.agents if a in config.agent_names]:
                    plan.add(config.phase, agent, kind, _line(reason))
    if not plan.lines:
        kinds = [*kinds, "retry"] if "retry" not in kinds else kinds
        for agent in config.agent_names:
            for reason in gate.reasons[:MAX_LINES]:
                plan.add(config.phase, agent, "retry", _line(reason))
    actions = _order(plan, config)
    level = qav_level + 1 if "grounding" in kinds else qav_level
    agents = ", ".join(a.agent for a in actions)
    summary = f"{' + '.join(kinds) or 'score'}: re-run {agents}" + (f"; Q/A/V level {level}" if level else "")
    return FixPlan(strategies=kinds or ["score"], actions=actions, qav_level=level, summary=summary)


def _order(plan: _Plan, config: PhaseConfig) -> list[FixAction]:
    """Upstream fixes first, then this phase's agents in configured order (followers of sequential ones)."""
    upstream = [
        FixAction(agent=a, instruction="\n".join(plan.lines[(p, a)]), phase=p)
        for (p, a) in plan.lines
        if p != config.phase
    ]
    own = {a: "\n".join(lines) for (p, a), lines in plan.lines.items() if p == config.phase}
    order = config.agent_names
    if config.parallelism is Parallelism.SEQUENTIAL and own:
        first = min(order.index(a) for a in own)
        names = order[first:]
    else:
        names = [a for a in order if a in own]
    return upstream + [FixAction(agent=a, instruction=own.get(a, "")) for a in names]


@dataclass
class GateOutcome:
    """The loop's result: the final gate (with every attempt), the final results, and escalation."""

    final: GateResult
    attempts: list[GateAttempt]
    results: list[AgentResult]
    evidence: list[EvidencePack]
    escalate: bool
    upstream_results: list[AgentResult] = field(default_factory=list)
    qav: QAVResult | None = None

    @property
    def passed(self) -> bool:
        """True when the last attempt passed."""
        return self.final.passed


class GateLoop:
    """Evaluate a phase's results and auto-fix them until the gate passes or attempts run out."""

    def __init__(
        self,
        config: PhaseConfig,
        schema_of: SchemaLookup,
        waivers: WaiverSource | Sequence[Waiver] | None = None,
        judge: Judge | None = None,
        emit: Emit | None = None,
        *,
        store: KnowledgeStore | None = None,
        qav_agents: QAVAgents | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.waivers = (
            StaticWaivers(waivers or []) if waivers is None or isinstance(waivers, Sequence) else waivers
        )
        self.emit = emit
        self.clock = clock
        self.gatekeeper = Gatekeeper(
            config, schema_of, judge=judge, qav_agents=qav_agents, store=store, emit=emit
        )

    def run(
        self, run_id: str, results: Sequence[AgentResult], context: GateContext, rerun: Rerun
    ) -> GateOutcome:
        """Attempt → evaluate → (fail) fix → re-evaluate, at most `gate.max_attempts` evaluations."""
        state = _State(list(results), context)
        attempts: list[GateAttempt] = []
        packs: list[EvidencePack] = []
        fix: FixPlan | None = None
        level, limit = 0, self.config.gate.max_attempts
        for n in range(1, limit + 1):
            waivers = self.waivers.active(run_id, self.config.phase, self.clock())
            ev = self.gatekeeper.evaluate(run_id, n, state.results, state.context, waivers, level, fix)
            packs.append(ev.pack)
            last = ev.gate.passed or n == limit or not self.config.gate.auto_fix_enabled
            fix = None if last else choose_fix(ev.gate, self.config, state.context, state.results, level)
            attempts.append(_attempt(n, ev, fix))
            if fix is None:
                break
            self._announce(
                "phase.gate.autofix",
                attempt=n,
                score=ev.gate.score,
                threshold=ev.gate.threshold,
                strategies=list(fix.strategies),
                agents=[a.agent for a in fix.actions],
            )
            for action in fix.actions:
                state.apply(self.config.phase, action, rerun(action.agent, action.instruction or None))
            level = fix.qav_level
        return self._outcome(ev, attempts, packs, state)

    def _outcome(
        self,
        ev: Evaluation,
        attempts: list[GateAttempt],
        packs: list[EvidencePack],
        state: _State,
    ) -> GateOutcome:
        escalate = not ev.gate.passed
        final = ev.gate.model_copy(
            update={"attempts": len(attempts), "history": attempts, "escalate": escalate}
        )
        if escalate:
            self._announce(
                "phase.gate.escalated",
                attempts=len(attempts),
                score=final.score,
                threshold=final.threshold,
                reasons=[{"code": r.code, "item": r.item} for r in final.reasons[:20]],
            )
        return GateOutcome(
            final=final,
            attempts=attempts,
            results=state.final(self.config),
            evidence=packs,
            escalate=escalate,
            upstream_results=state.upstream_results,
            qav=ev.qav,
        )

    def _announce(self, type_: str, **data: object) -> None:
        if self.emit is not None:
            self.emit(type_, dict(data))


def _attempt(n: int, ev: Evaluation, fix: FixPlan | None) -> GateAttempt:
    g = ev.gate
    return GateAttempt(
        attempt=n,
        score=g.score,
        threshold=g.threshold,
        passed=g.passed,
        reasons=g.reasons,
        guards=g.guards,
        qav=g.qav,
        waivers_applied=g.waivers_applied,
        evidence_hash=ev.pack.artifact_hash,
        fix=fix,
    )


@dataclass
class _State:
    results: list[AgentResult]
    context: GateContext
    upstream_results: list[AgentResult] = field(default_factory=list)

    def apply(self, phase: str, action: FixAction, result: AgentResult) -> None:
        """Take a re-run's result: this phase's results grow, or an upstream artifact is updated."""
        if result.agent != action.agent:
            raise ValueError(f"rerun({action.agent!r}) returned a result of agent {result.agent!r}")
        if result.phase != phase:
            self.upstream_results.append(result)
            upstream = dict(self.context.upstream)
            if result.phase in upstream:
                upstream[result.phase] = replace_result(upstream[result.phase], result)
            self.context = GateContext(self.context.submission, upstream)
            return
        if result.iteration < next_iteration(self.results, result.agent):
            result = result.model_copy(update={"iteration": next_iteration(self.results, result.agent)})
        self.results.append(result)

    def final(self, config: PhaseConfig) -> list[AgentResult]:
        """Iterative phases keep every iteration; others keep each agent's latest result, in config order."""
        if config.parallelism is Parallelism.ITERATIVE:
            return list(self.results)
        newest = latest(self.results)
        named = [newest[a] for a in config.agent_names if a in newest]
        return named + [r for a, r in newest.items() if a not in config.agent_names]
