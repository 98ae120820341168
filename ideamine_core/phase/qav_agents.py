"""The Q/A/V triad's agents: the policy, the evidence index, and the Question, Answer and Validator
Protocols with their offline rules and judge-backed versions.

Offline: the Question agent asks about every claim it is given; the Answer agent returns the
passages sharing most words with the claim (more each iteration) and how much of the claim they
cover together; the Validator REJECTs when a passage denies the claim (or gives it another
number), ACCEPTs when the evidence covers it, else says UNKNOWN. The judge-backed agents ask a
model through `Judge`, but the evidence they may cite is ours, so a model cannot invent a source.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.domain.evidence import Answer, Claim, Question, Verdict
from ideamine_core.domain.phase import GuardSpec
from ideamine_core.phase.claims import Statement, content_stems, excerpt
from ideamine_core.phase.guards.contradictions import number_conflicts, opposed, polarity, subject
from ideamine_core.phase.judge import Judge, as_data, ask, render_prompt


@dataclass(frozen=True)
class QAVPolicy:
    """How hard Q/A/V looks; `level` rises with each grounding fix (stricter: ask more, dig deeper)."""

    level: int = 0
    support: float = 0.5
    accept: float = 0.5
    min_claim_words: int = 3
    max_questions: int = 40
    max_iterations: int = 2
    max_claims: int = 2000
    top_k: int = 3

    @classmethod
    def from_spec(cls, spec: GuardSpec | None, level: int = 0) -> QAVPolicy:
        """Policy from a grounding guard's params (`support`, `accept`, `max_questions`, …) at `level`."""
        params = spec.params if spec else {}
        base = cls(
            support=float(params.get("support", cls.support)),
            accept=float(params.get("accept", cls.accept)),
            min_claim_words=int(params.get("min_claim_words", cls.min_claim_words)),
            max_questions=int(params.get("max_questions", cls.max_questions)),
            max_iterations=int(params.get("max_iterations", cls.max_iterations)),
        )
        return base.stricter(level)

    def stricter(self, level: int) -> QAVPolicy:
        """The same policy at `level`: more questions, more iterations, wider retrieval."""
        return QAVPolicy(
            level=level,
            support=self.support,
            accept=self.accept,
            min_claim_words=self.min_claim_words,
            max_questions=self.max_questions * (1 + level),
            max_iterations=self.max_iterations + level,
            max_claims=self.max_claims,
            top_k=self.top_k * (1 + level),
        )

    @property
    def question_all(self) -> bool:
        """From level 1 on, every claim is questioned, not only the unsupported ones."""
        return self.level >= 1


class EvidenceIndex:
    """Context passages (submission, upstream and sibling outputs) with an inverted index by stem."""

    def __init__(self, passages: Sequence[Statement], per_source: int = 1000) -> None:
        self.passages = _bounded(passages, per_source)
        self._by_stem: dict[str, list[int]] = defaultdict(list)
        self._by_subject: dict[frozenset[str], list[int]] = defaultdict(list)
        for i, p in enumerate(self.passages):
            for s in p.stems:
                self._by_stem[s].append(i)
            if polarity(p):
                self._by_subject[subject(p)].append(i)

    @staticmethod
    def _allowed(claim: Statement, passage: Statement) -> bool:
        return bool(passage.phase) or passage.agent != claim.agent  # an agent cannot support itself

    def top(self, claim: Statement, k: int) -> list[tuple[Statement, int]]:
        """The `k` passages sharing most content stems with `claim` (ties: index order)."""
        counts: Counter[int] = Counter()
        for s in claim.stems:
            counts.update(self._by_stem.get(s, ()))
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        out = [(self.passages[i], n) for i, n in ranked if self._allowed(claim, self.passages[i])]
        return out[:k]

    def support(self, claim: Statement) -> float:
        """Share of the claim's stems that the single best passage contains."""
        best = self.top(claim, 1)
        return best[0][1] / len(claim.stems) if best and claim.stems else 0.0

    def contradicting(self, claim: Statement, near: Sequence[Statement]) -> Statement | None:
        """A passage that denies what the claim asserts (or states another number for it)."""
        same = [self.passages[i] for i in self._by_subject.get(subject(claim), ())]
        for p in [*same, *near]:
            if self._allowed(claim, p) and (opposed(claim, p) or number_conflicts([p, claim])):
                return p
        return None


def _bounded(passages: Sequence[Statement], per_source: int) -> list[Statement]:
    """Distinct passages, at most `per_source` from any one phase and agent (so one huge artifact
    cannot make every lookup slow; evidence drowned in megabytes is no evidence anyway)."""
    seen: set[tuple[str, str, str]] = set()
    count: Counter[tuple[str, str]] = Counter()
    out = []
    for p in passages:
        key = (p.phase, p.agent, p.text)
        if key in seen or count[(p.phase, p.agent)] >= per_source:
            continue
        seen.add(key)
        count[(p.phase, p.agent)] += 1
        out.append(p)
    return out


def coverage_of(claim: Statement, passages: Sequence[Statement]) -> float:
    """Share of the claim's stems found in the union of `passages`."""
    if not claim.stems:
        return 0.0
    union = frozenset().union(*(p.stems for p in passages)) if passages else frozenset()
    return len(claim.stems & union) / len(claim.stems)


class Questioner(Protocol):
    """Ask about claims: one Question per claim worth asking."""

    def __call__(self, claims: Sequence[Claim], index: EvidenceIndex, policy: QAVPolicy) -> list[Question]:
        """Return the questions, each naming its claim id."""
        ...


class Answerer(Protocol):
    """Answer a question from the context only."""

    def __call__(
        self, question: Question, claim: Statement, index: EvidenceIndex, policy: QAVPolicy, iteration: int
    ) -> Answer:
        """Return the answer with the evidence sources it used."""
        ...


class Validator(Protocol):
    """Judge an answer against its claim."""

    def __call__(self, claim: Statement, answer: Answer, index: EvidenceIndex, policy: QAVPolicy) -> Verdict:
        """ACCEPT, REJECT or UNKNOWN."""
        ...


def offline_questioner(claims: Sequence[Claim], index: EvidenceIndex, policy: QAVPolicy) -> list[Question]:
    """One question per claim, asking what in the idea or upstream artifacts supports it."""
    return [
        Question(
            id=f"Q-{i + 1}",
            claim_id=c.id,
            text=f'What in the idea or upstream artifacts supports "{excerpt(c.text, 120)}" ({c.item})?',
        )
        for i, c in enumerate(claims)
    ]


def offline_answerer(
    question: Question, claim: Statement, index: EvidenceIndex, policy: QAVPolicy, iteration: int
) -> Answer:
    """The top passages (more each iteration) and how much of the claim they cover together."""
    top = [p for p, _ in index.top(claim, policy.top_k * iteration)]
    if not top:
        return Answer(
            question_id=question.id, text="No passage of the idea or upstream artifacts addresses this."
        )
    quotes = "; ".join(f'{p.source}: "{excerpt(p.text, 80)}"' for p in top[:3])
    return Answer(
        question_id=question.id,
        text=f"From the context — {quotes}",
        evidence=[p.source for p in top],
        coverage=round(coverage_of(claim, top), 4),
    )


def offline_validator(claim: Statement, answer: Answer, index: EvidenceIndex, policy: QAVPolicy) -> Verdict:
    """REJECT when a passage contradicts the claim, ACCEPT when the evidence covers it, else UNKNOWN."""
    cited = set(answer.evidence)
    near = [p for p in index.passages if p.source in cited]
    if index.contradicting(claim, near) is not None:
        return Verdict.REJECT
    return Verdict.ACCEPT if answer.evidence and answer.coverage >= policy.accept else Verdict.UNKNOWN


@dataclass(frozen=True)
class QAVAgents:
    """The triad; defaults are the deterministic offline rules."""

    questioner: Questioner = offline_questioner
    answerer: Answerer = offline_answerer
    validator: Validator = offline_validator


class QuestionDraft(BaseModel):
    """One question a model asks about one claim."""

    model_config = ConfigDict(extra="forbid")

    claim_id: str = Field(description="The id of the claim asked about, e.g. 'C-3'.")
    question: str = Field(min_length=1)


class QuestionDrafts(BaseModel):
    """The Question agent's answer."""

    model_config = ConfigDict(extra="forbid")

    questions: list[QuestionDraft] = Field(default_factory=list)


class AnswerDraft(BaseModel):
    """The Answer agent's answer, citing evidence labels (E1, E2, …)."""

    model_config = ConfigDict(extra="forbid")

    answer: str
    evidence: list[str] = Field(default_factory=list, description="Labels of the passages used.")


class VerdictDraft(BaseModel):
    """The Validator's answer."""

    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    rationale: str = ""


def _statement(claim: Claim) -> Statement:
    return Statement(claim.agent, claim.item, "", claim.text, "", content_stems(claim.text))


@dataclass(frozen=True)
class JudgeQuestioner:
    """The Question agent backed by a model; the offline rule answers when the model fails."""

    judge: Judge
    phase: str

    def __call__(self, claims: Sequence[Claim], index: EvidenceIndex, policy: QAVPolicy) -> list[Question]:
        """One question per claim the model asks about (ids it invents are ignored)."""
        if not claims:
            return []
        nearby = {
            c.id: [f"[{p.source}] {as_data(excerpt(p.text, 200))}" for p, _ in index.top(_statement(c), 3)]
            for c in claims
        }
        shown = [c.model_copy(update={"text": as_data(c.text)}) for c in claims]
        prompt = render_prompt("qav_question.j2", phase=self.phase, claims=shown, nearby=nearby)
        answer = ask(self.judge, "qav.question", prompt, QuestionDrafts)
        if isinstance(answer, str):
            return offline_questioner(claims, index, policy)
        known = {c.id for c in claims}
        drafts = [d for d in answer.questions if d.claim_id in known]
        unique = {d.claim_id: d for d in reversed(drafts)}
        ordered = [unique[c.id] for c in claims if c.id in unique]
        return [
            Question(id=f"Q-{i + 1}", claim_id=d.claim_id, text=excerpt(d.question, 300))
            for i, d in enumerate(ordered)
        ]


@dataclass(frozen=True)
class JudgeAnswerer:
    """The Answer agent backed by a model, restricted to citing the passages it is shown."""

    judge: Judge
    phase: str

    def __call__(
        self, question: Question, claim: Statement, index: EvidenceIndex, policy: QAVPolicy, iteration: int
    ) -> Answer:
        """The model's answer; the coverage is measured on the passages it actually cited."""
        top = [p for p, _ in index.top(claim, policy.top_k * iteration)]
        labelled = {f"E{i + 1}": p for i, p in enumerate(top)}
        evidence = [(label, p.source, as_data(excerpt(p.text, 300))) for label, p in labelled.items()]
        prompt = render_prompt(
            "qav_answer.j2",
            phase=self.phase,
            question=as_data(question.text),
            claim=as_data(claim.text),
            evidence=evidence,
        )
        answer = ask(self.judge, "qav.answer", prompt, AnswerDraft)
        if isinstance(answer, str):
            return offline_answerer(question, claim, index, policy, iteration)
        cited = [labelled[e.strip()] for e in answer.evidence if e.strip() in labelled]
        return Answer(
            question_id=question.id,
            text=excerpt(answer.answer, 600),
            evidence=[p.source for p in cited],
            coverage=round(coverage_of(claim, cited), 4),
        )


@dataclass(frozen=True)
class JudgeValidator:
    """The Validator backed by a model; a contradiction the rules see, or no evidence, is never accepted."""

    judge: Judge
    phase: str

    def __call__(self, claim: Statement, answer: Answer, index: EvidenceIndex, policy: QAVPolicy) -> Verdict:
        """REJECT on a rule-found contradiction, UNKNOWN without evidence, else the model's verdict."""
        cited = set(answer.evidence)
        near = [p for p in index.passages if p.source in cited]
        if index.contradicting(claim, near) is not None:
            return Verdict.REJECT
        if not near:
            return Verdict.UNKNOWN
        evidence = [(p.source, as_data(excerpt(p.text, 300))) for p in near]
        prompt = render_prompt(
            "qav_validate.j2",
            phase=self.phase,
            claim=as_data(claim.text),
            answer=as_data(answer.text),
            evidence=evidence,
        )
        verdict = ask(self.judge, "qav.validate", prompt, VerdictDraft)
        if isinstance(verdict, str):
            return offline_validator(claim, answer, index, policy)
        return verdict.verdict


def judge_agents(judge: Judge, phase: str) -> QAVAgents:
    """The triad backed by `judge` (the grounding guard's `use_model_judge: true`)."""
    return QAVAgents(JudgeQuestioner(judge, phase), JudgeAnswerer(judge, phase), JudgeValidator(judge, phase))
