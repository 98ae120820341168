"""Context helpers shared by the offline rules: typed access to earlier outputs, features, notes."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.idea import IdeaSubmission

M = TypeVar("M", bound=BaseModel)


def output_of(ctx: AgentContext, phase: str, agent: str, model: type[M]) -> M | None:
    """An earlier agent's output typed as `model` (same phase: ctx.previous; else upstream).

    None when the output is absent or does not validate, so callers fall back to a derivation.
    """
    raw = ctx.previous.get(agent) if phase == ctx.phase else ctx.upstream_output(phase, agent)
    if raw is None:
        return None
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def notes(ctx: AgentContext, *extra: str) -> list[str]:
    """The notes of an output: the extra instruction (if any), then `extra`."""
    out: list[str] = []
    if ctx.instruction and ctx.instruction.strip():
        out.append(f"Instruction followed: {ctx.instruction.strip()}")
    return out + [e for e in extra if e]


def idea_text(sub: IdeaSubmission) -> str:
    """The idea, users and constraints as one lower-case text."""
    return " \n".join([sub.idea, *sub.users, *sub.constraints]).lower()


def segment(sub: IdeaSubmission) -> str:
    """The first target-user segment, or a neutral default."""
    return sub.users[0] if sub.users else "individual users"


_FEATURE_PATTERNS: dict[str, str] = {
    "mobile": r"\b(mobile|phones?|smartphones?|ios|android)\b",
    "offline": r"\boffline\b",
    "realtime": r"\b(real-?time|live|instant(ly)?|sync(ed|ing|hroni[sz]ed)?)\b",
    "collaborative": r"\b(collaborat\w*|teams?|shared?|sharing|multi-user|together)\b",
    "payments": r"\b(pay(ment)?s?|checkout|subscriptions?|billing)\b",
    "ai": r"\b(ai|ml|llm|gpt|machine learning|recommendations?)\b",
    "notifications": r"\b(remind\w*|notif\w*|alerts?)\b",
    "privacy": r"\b(privacy|gdpr|hipaa|private|personal data)\b",
}


@dataclass(frozen=True)
class Features:
    """Product traits detected in the idea, users and constraints."""

    mobile: bool = False
    offline: bool = False
    realtime: bool = False
    collaborative: bool = False
    payments: bool = False
    ai: bool = False
    notifications: bool = False
    privacy: bool = False

    def labels(self) -> list[str]:
        """Names of the detected traits, in declaration order."""
        return [f.name for f in fields(self) if getattr(self, f.name)]

    def hard_parts(self) -> list[str]:
        """The detected traits that make the build harder, described."""
        table = {
            "realtime": "real-time propagation of changes to every participant",
            "offline": "offline storage with conflict resolution when syncing",
            "collaborative": "shared data with per-user access control",
            "payments": "payment processing and its compliance scope",
            "ai": "model-backed features whose quality is hard to guarantee",
            "privacy": "personal-data handling under privacy regulation",
        }
        return [table[name] for name in self.labels() if name in table]


def features(sub: IdeaSubmission) -> Features:
    """Detect the product traits of a submission by keyword patterns."""
    text = idea_text(sub)
    found = {name: bool(re.search(p, text)) for name, p in _FEATURE_PATTERNS.items()}
    return Features(**found)
