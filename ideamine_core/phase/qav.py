"""Q/A/V clarification: question unsupported claims, answer from context, validate, bind or assume.

The Question agent extracts claims from a draft and asks about those no single context passage
supports; the Answer agent answers from the idea and upstream artifacts (widening its search each
iteration); the Validator marks each answer ACCEPT, REJECT or UNKNOWN. ACCEPTs become bindings,
UNKNOWNs are recorded as assumptions, every question becomes a knowledge-map frame. Iterations are
bounded, so the loop always terminates. The agents live in `qav_agents`: deterministic offline rules
by default, or `judge_agents(judge, phase)` backing the same three Protocols with a model.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ideamine_core.domain.artifact import AgentResult
from ideamine_core.domain.evidence import (
    Answer,
    Assumption,
    Binding,
    Claim,
    KmapFrame,
    QAVSummary,
    Question,
    Verdict,
)
from ideamine_core.phase.claims import GateContext, Statement, excerpt, phase_statements
from ideamine_core.phase.evidence_store import KnowledgeStore
from ideamine_core.phase.qav_agents import EvidenceIndex, QAVAgents, QAVPolicy

__all__ = ["Clarifier", "Emit", "EvidenceIndex", "QAVAgents", "QAVPolicy", "QAVResult", "frame_id"]

Emit = Callable[[str, dict[str, Any]], None]
"""`emit(event_type, data)`; the caller knows the run and phase and adds them when it publishes."""
LABEL_FIELDS = frozenset(
    {
        "name",
        "title",
        "persona",
        "segment",
        "role",
        "entity",
        "guideline",
        "endpoint",
        "actor",
        "as_a",
        "metric",
        "target",
        "category",
        "cadence",
    }
)
"""Fields that name things rather than claim something about them."""


@dataclass
class QAVResult:
    """Everything one clarification produced."""

    summary: QAVSummary
    claims: list[Claim] = field(default_factory=list)
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    supported: set[str] = field(default_factory=set)
    frames: list[KmapFrame] = field(default_factory=list)
    assumptions: list[Assumption] = field(default_factory=list)

    def ungrounded(self) -> list[tuple[Claim, str]]:
        """Claims neither supported nor accepted, with why: REJECT first, then UNKNOWN, then NOT ASKED."""
        out = []
        for c in self.claims:
            verdict = self.verdicts.get(c.id)
            if verdict is Verdict.ACCEPT or (c.id in self.supported and verdict is not Verdict.REJECT):
                continue
            out.append((c, verdict.value if verdict else "NOT ASKED"))
        return sorted(out, key=lambda cv: _UNGROUNDED_ORDER[cv[1]])


_UNGROUNDED_ORDER = {"REJECT": 0, "UNKNOWN": 1, "NOT ASKED": 2}


def _claims(draft: Sequence[Statement], policy: QAVPolicy) -> tuple[list[Claim], dict[str, Statement]]:
    unique: dict[str, Statement] = {}
    for st in draft:
        if len(st.stems) >= policy.min_claim_words and st.field not in LABEL_FIELDS:
            unique.setdefault(" ".join(st.text.lower().split()), st)
    picked = list(unique.values())
    if len(picked) > policy.max_claims:  # a systematic sample keeps the cost bounded and deterministic
        step = len(picked) / policy.max_claims
        picked = [picked[int(i * step)] for i in range(policy.max_claims)]
    claims = [
        Claim(id=f"C-{i + 1}", agent=s.agent, item=s.item, text=excerpt(s.text, 300))
        for i, s in enumerate(picked)
    ]
    return claims, {c.id: s for c, s in zip(claims, picked, strict=True)}


def frame_id(run_id: str, phase: str, attempt: int, claim: Claim) -> str:
    """A stable id, so a repeated attempt writes the same frames (idempotent persistence).

    The run is not part of it (frames are stored per run): equal input gives equal artifacts.
    """
    del run_id
    digest = hashlib.sha256(f"{phase}|{attempt}|{claim.item}|{claim.text}".encode()).hexdigest()
    return f"kf-{digest[:20]}"


class Clarifier:
    """Run the Q/A/V triad on one attempt; persist frames and assumptions; announce the frames."""

    def __init__(
        self, agents: QAVAgents | None = None, store: KnowledgeStore | None = None, emit: Emit | None = None
    ) -> None:
        self.agents = agents or QAVAgents()
        self.store = store
        self.emit = emit

    def run(
        self,
        run_id: str,
        phase: str,
        attempt: int,
        results: Sequence[AgentResult],
        context: GateContext,
        policy: QAVPolicy | None = None,
        statements: Sequence[Statement] | None = None,
    ) -> QAVResult:
        """Clarify the draft `results` against `context` (idea, upstream and sibling outputs).

        `statements` are the draft's statements when the caller already extracted them.
        """
        policy = policy or QAVPolicy()
        draft = list(statements) if statements is not None else phase_statements(results)
        claims, stmts = _claims(draft, policy)
        passages = context.submission_statements() + context.upstream_statements() + draft
        index = EvidenceIndex(passages)
        supported = {c.id for c in claims if index.support(stmts[c.id]) >= policy.support}
        wanted = [c for c in claims if policy.question_all or c.id not in supported]
        asked = wanted[: policy.max_questions]
        questions = [q for q in self.agents.questioner(asked, index, policy) if q.claim_id in stmts]
        answers, verdicts, iterations = self._loop(questions, stmts, index, policy)
        result = QAVResult(QAVSummary(), claims, verdicts, supported)
        by_id = {c.id: c for c in claims}
        for q in questions:
            claim, answer = by_id[q.claim_id], answers[q.id]
            frame = KmapFrame(
                frame_id=frame_id(run_id, phase, attempt, claim),
                run_id=run_id,
                phase=phase,
                question=q.text,
                answer=answer.text,
                verdict=verdicts[claim.id],
                evidence=answer.evidence,
                claim_item=claim.item,
            )
            result.frames.append(frame)
        unknown = [by_id[cid] for cid, v in verdicts.items() if v is Verdict.UNKNOWN]
        result.assumptions = [_assumption(run_id, phase, c) for c in unknown]
        result.summary = _summary(result, len(wanted) - len(asked), iterations, policy, answers, questions)
        self._record(run_id, phase, attempt, result)
        return result

    def _loop(
        self,
        questions: Sequence[Question],
        stmts: dict[str, Statement],
        index: EvidenceIndex,
        policy: QAVPolicy,
    ) -> tuple[dict[str, Answer], dict[str, Verdict], int]:
        answers: dict[str, Answer] = {}
        verdicts: dict[str, Verdict] = {}
        open_ = list(questions)
        iteration = 0
        while open_ and iteration < policy.max_iterations:
            iteration += 1
            for q in open_:
                claim = stmts[q.claim_id]
                answers[q.id] = self.agents.answerer(q, claim, index, policy, iteration)
                verdicts[q.claim_id] = self.agents.validator(claim, answers[q.id], index, policy)
            open_ = [q for q in open_ if verdicts[q.claim_id] is Verdict.UNKNOWN]
        return answers, verdicts, iteration

    def _record(self, run_id: str, phase: str, attempt: int, result: QAVResult) -> None:
        if self.store is not None and run_id:
            self.store.save_frames(result.frames)
            self.store.save_assumptions(result.assumptions)
        if self.emit is not None and result.frames:
            s = result.summary
            self.emit(
                "kmap.delta.created",
                {
                    "attempt": attempt,
                    "frame_ids": s.frame_ids,
                    "accepted": s.accepted,
                    "rejected": s.rejected,
                    "unknown": s.unknown,
                    "grounding": s.grounding,
                },
            )


def _assumption(run_id: str, phase: str, claim: Claim) -> Assumption:
    key = hashlib.sha256(f"{phase}|{claim.item}|{claim.text}".encode()).hexdigest()[:32]
    return Assumption(
        run_id=run_id,
        phase=phase,
        claim=claim.text,
        source=f"{claim.agent}:{claim.item}",
        idempotency_key=key,
    )


def _summary(
    result: QAVResult,
    not_asked: int,
    iterations: int,
    policy: QAVPolicy,
    answers: dict[str, Answer],
    questions: Sequence[Question],
) -> QAVSummary:
    counts = Counter(result.verdicts.values())
    grounded = len(result.claims) - len(result.ungrounded())
    question_of = {q.claim_id: q for q in questions}
    frame_of = {q.claim_id: f.frame_id for q, f in zip(questions, result.frames, strict=True)}
    bindings = [
        Binding(
            claim_id=c.id,
            claim=c.text,
            item=c.item,
            evidence=answers[question_of[c.id].id].evidence,
            frame_id=frame_of[c.id],
        )
        for c in result.claims
        if result.verdicts.get(c.id) is Verdict.ACCEPT
    ]
    return QAVSummary(
        claims=len(result.claims),
        supported=len(result.supported),
        questions=len(questions),
        accepted=counts[Verdict.ACCEPT],
        rejected=counts[Verdict.REJECT],
        unknown=counts[Verdict.UNKNOWN],
        not_asked=not_asked,
        grounding=round(grounded / len(result.claims), 4) if result.claims else 0.0,
        iterations=iterations,
        level=policy.level,
        frame_ids=[f.frame_id for f in result.frames],
        bindings=bindings,
        assumptions=[a.claim for a in result.assumptions],
        rejected_claims=[
            f"{c.item}: {c.text}" for c in result.claims if result.verdicts.get(c.id) is Verdict.REJECT
        ],
    )
