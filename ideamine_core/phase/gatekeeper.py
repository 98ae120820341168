"""The gatekeeper: score one attempt's evidence pack against the phase rubric, applying waivers.

One evaluation runs Q/A/V (when the phase has a grounding guard), every configured guard (plus an
implicit schema guard), the optional model judge and the gate's hard blockers, then decides:
the attempt passes when the mean guard score reaches `pass_threshold`, every guard passes and no
hard blocker is exceeded — except what an active waiver names, which passes and is recorded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ideamine_core.domain.artifact import AgentResult, EvidencePack, GateResult, canonical_json
from ideamine_core.domain.evidence import FixPlan, GateReason, GuardResult, Waiver, WaiverUse
from ideamine_core.domain.phase import GuardSpec, PhaseConfig
from ideamine_core.errors import ConfigError
from ideamine_core.phase.claims import GateContext, clean_text, latest, phase_statements
from ideamine_core.phase.evidence_store import KnowledgeStore
from ideamine_core.phase.gate import evaluate_artifacts
from ideamine_core.phase.guards.base import GuardInput, SchemaLookup, count_result
from ideamine_core.phase.guards.blockers import KNOWN_METRICS, measure
from ideamine_core.phase.guards.contradictions import find_conflicts
from ideamine_core.phase.guards.registry import run_guards
from ideamine_core.phase.judge import Judge, judge_guard
from ideamine_core.phase.qav import Clarifier, Emit, QAVAgents, QAVPolicy, QAVResult
from ideamine_core.phase.qav_agents import judge_agents

JUDGE_TEXT_LIMIT = 60_000


@dataclass
class Evaluation:
    """One attempt judged: the gate result, its evidence pack, and the Q/A/V result behind it."""

    gate: GateResult
    pack: EvidencePack
    qav: QAVResult | None


def output_hash(output: Any) -> str:
    """sha256 of an output's canonical JSON; bytes and lone surrogates cannot make it fail."""
    text = json.dumps(output, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def implicit_specs(config: PhaseConfig) -> list[GuardSpec]:
    """The phase's guards; a schema guard at the pass threshold is added when none is configured."""
    specs = list(config.guards)
    if not any(s.type == "schema" for s in specs):
        specs.insert(0, GuardSpec(type="schema", threshold=config.gate.pass_threshold))
    return specs


def check_hard_blockers(config: PhaseConfig) -> None:
    """ConfigError naming the file and field when a hard blocker names a metric nobody measures."""
    for name in config.gate.hard_blockers:
        if name not in KNOWN_METRICS:
            raise ConfigError(
                f"{config.phase}.yaml",
                f"gate.hard_blockers.{name}",
                "is not a measured metric",
                f"use one of: {', '.join(KNOWN_METRICS)}",
            )


class Gatekeeper:
    """Evaluate attempts of one phase."""

    def __init__(
        self,
        config: PhaseConfig,
        schema_of: SchemaLookup,
        *,
        judge: Judge | None = None,
        qav_agents: QAVAgents | None = None,
        store: KnowledgeStore | None = None,
        emit: Emit | None = None,
    ) -> None:
        check_hard_blockers(config)
        self.config, self.schema_of, self.judge, self.store = config, schema_of, judge, store
        self.specs = implicit_specs(config)
        grounding = next((s for s in self.specs if s.type == "grounding"), None)
        if qav_agents is None and judge is not None and grounding is not None and grounding.use_model_judge:
            qav_agents = judge_agents(judge, config.phase)
        self.clarifier = Clarifier(qav_agents, store, emit)

    def evaluate(
        self,
        run_id: str,
        attempt: int,
        results: Sequence[AgentResult],
        context: GateContext,
        waivers: Sequence[Waiver] = (),
        qav_level: int = 0,
        fix_applied: FixPlan | None = None,
    ) -> Evaluation:
        """Judge `results` (the latest per agent counts) and build the attempt's evidence pack."""
        statements = phase_statements(results)
        grounding = next((s for s in self.specs if s.type == "grounding"), None)
        qav = None
        if grounding is not None:
            policy = QAVPolicy.from_spec(grounding, qav_level)
            qav = self.clarifier.run(run_id, self.config.phase, attempt, results, context, policy, statements)
        data = GuardInput(self.config, results, context, self.schema_of, qav, statements)
        guards = [
            self._judged(spec, r, data)
            for spec, r in zip(self.specs, run_guards(self.specs, data), strict=True)
        ]
        guards += self._hard_blockers(data, guards)
        guards, used = _apply_waivers(guards, waivers)
        gate = self._decide(attempt, guards, used, data, qav)
        pack = self._pack(attempt, data, gate, qav, fix_applied)
        if self.store is not None and run_id:
            self.store.save_pack(run_id, pack)
        return Evaluation(gate, pack, qav)

    def _judged(self, spec: GuardSpec, result: GuardResult, data: GuardInput) -> GuardResult:
        if not spec.use_model_judge:
            return result
        text = canonical_json({a: r.output for a, r in sorted(data.latest.items())})
        return judge_guard(spec, result, clean_text(text)[:JUDGE_TEXT_LIMIT], self.judge)

    def _hard_blockers(self, data: GuardInput, guards: list[GuardResult]) -> list[GuardResult]:
        limits = self.config.gate.hard_blockers
        if not limits:
            return []
        measured = measure(data)
        if "contradictions_found" in limits:
            found = next((g for g in guards if g.guard == "contradictions"), None)
            reasons = (
                found.reasons
                if found
                else [c.reason() for c in find_conflicts(data.statements, _outputs(data))]
            )
            measured.metrics["contradictions_found"] = found.value if found else float(len(reasons))
            measured.reasons["contradictions_found"] = list(reasons)
        out = []
        for metric, limit in limits.items():
            spec = GuardSpec(type="blockers", threshold=limit)
            result = count_result(spec, measured.metrics.get(metric, 0.0), measured.reasons.get(metric, []))
            out.append(
                result.model_copy(update={"guard": metric, "hard": True, "metrics": {metric: result.value}})
            )
        return out

    def _decide(
        self,
        attempt: int,
        guards: list[GuardResult],
        used: list[WaiverUse],
        data: GuardInput,
        qav: QAVResult | None,
    ) -> GateResult:
        scored = [g for g in guards if not g.hard and not g.waived]
        score = round(sum(g.score for g in scored) / len(scored), 4) if scored else 1.0
        threshold = self.config.gate.pass_threshold
        reasons: list[GateReason] = []
        for g in guards:
            if not g.passed and not g.waived:
                reasons.extend(g.reasons or [_below(g)])
        if score < threshold:
            weakest = ", ".join(f"{g.guard} {g.score:.2f}" for g in sorted(scored, key=lambda g: g.score)[:2])
            reasons.append(
                GateReason(
                    code="score",
                    item="gate",
                    detail=f"score {score:.2f} < {threshold:.2f} (weakest: {weakest})",
                )
            )
        checked = evaluate_artifacts(self.config, data.results, self.schema_of).checked
        return GateResult(
            phase=self.config.phase,
            score=score,
            threshold=threshold,
            passed=not reasons,
            attempts=attempt,
            reasons=reasons,
            checked=checked,
            guards=guards,
            qav=qav.summary if qav else None,
            waivers_applied=used,
        )

    def _pack(
        self, attempt: int, data: GuardInput, gate: GateResult, qav: QAVResult | None, fix: FixPlan | None
    ) -> EvidencePack:
        artifacts = {agent: output_hash(r.output) for agent, r in sorted(data.latest.items())}
        metrics: dict[str, float] = {
            "agents": float(len(self.config.agents)),
            "results": float(len(data.results)),
        }
        for g in gate.guards:
            metrics.update({f"{g.guard}.{k}": v for k, v in g.metrics.items()})
        return EvidencePack(
            phase=self.config.phase,
            attempt=attempt,
            artifact_hash=output_hash(artifacts),
            artifacts=artifacts,
            gate=gate,
            metrics=metrics,
            guards=gate.guards,
            qav=gate.qav,
            kmap_frame_ids=qav.summary.frame_ids if qav else [],
            waivers_applied=gate.waivers_applied,
            fix_applied=fix,
        )


def _outputs(data: GuardInput) -> dict[str, Any]:
    return {agent: r.output for agent, r in latest(data.results).items() if isinstance(r.output, dict)}


def _below(g: GuardResult) -> GateReason:
    relation = "≤" if g.mode == "max" else "≥"
    return GateReason(code=g.guard, item=g.guard, detail=f"{g.value:g} is not {relation} {g.threshold:g}")


WAIVER_ALIASES = {"contradictions_found": "contradictions"}
"""Hard blockers that count what a guard judges: a waiver on the guard covers them too."""


def _apply_waivers(
    guards: list[GuardResult], waivers: Sequence[Waiver]
) -> tuple[list[GuardResult], list[WaiverUse]]:
    by_violation = {w.violation: w for w in waivers}
    out, used = [], []
    for g in guards:
        w = by_violation.get(g.guard) or by_violation.get(WAIVER_ALIASES.get(g.guard, ""))
        if w is not None and not g.passed:
            g = g.model_copy(update={"waived": True})
            if all(u.waiver_id != w.waiver_id for u in used):
                used.append(
                    WaiverUse(
                        waiver_id=w.waiver_id,
                        violation=w.violation,
                        owner=w.owner,
                        reason=w.reason,
                        expires_at=w.expires_at,
                    )
                )
        out.append(g)
    return out, used
