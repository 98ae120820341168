"""Offline rules of the intake phase: Classifier, Expander and Validator."""

from __future__ import annotations

from ideamine_core.agents.outputs.intake import (
    Ambiguity,
    Classification,
    Feasibility,
    IdeaExpansion,
    IdeaSpec,
)
from ideamine_core.agents.rules._ctx import Features, features, notes, output_of, segment
from ideamine_core.agents.rules._domain import category_of, entity_names
from ideamine_core.agents.rules._text import (
    capitalize,
    human,
    human_list,
    keywords,
    plural,
    title_from_idea,
    tokens,
)
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.idea import IdeaSubmission

__all__ = ["classifier", "expander", "idea_spec_of", "validator"]

_VAGUE = (
    "simple",
    "easy",
    "fast",
    "intuitive",
    "smart",
    "better",
    "modern",
    "seamless",
    "powerful",
    "user-friendly",
    "collaborative",
    "real-time",
    "sync",
    "scalable",
    "secure",
    "ai",
    "platform",
)


def _things(sub: IdeaSubmission) -> str:
    """The plural of the primary entity, for prose ('tasks')."""
    return plural(human(entity_names([sub.idea], with_user=False)[0]))


def _qualifiers(feats: Features) -> list[str]:
    table = (
        ("collaborative", "together"),
        ("realtime", "in real time"),
        ("offline", "without a connection"),
        ("mobile", "from their phones"),
    )
    return [text for name, text in table if getattr(feats, name)]


def classify(sub: IdeaSubmission) -> Classification:
    """Category, domain keywords, platforms and complexity of a submission."""
    feats = features(sub)
    words = keywords(sub.idea) or keywords(" ".join(sub.users)) or ["general"]
    hard = len(feats.hard_parts())
    complexity = "low" if hard <= 1 else "medium" if hard <= 3 else "high"
    platforms = ["mobile", "web"] if feats.mobile else ["web"]
    return Classification(
        category=category_of([sub.idea, *sub.constraints]),
        domain_keywords=words,
        platforms=platforms,
        complexity=complexity,
    )


def expand(sub: IdeaSubmission) -> IdeaExpansion:
    """Problem, users, goals and non-goals spelled out from a submission."""
    feats = features(sub)
    users = sub.users or ["individual users"]
    things = _things(sub)
    how = human_list(_qualifiers(feats))
    problem = (
        f"{capitalize(human_list(users))} have no reliable way to manage {things}"
        f"{' ' + how if how else ''}; today they juggle ad-hoc tools and lose track of work."
    )
    goals = [f"Let {segment(sub)} capture and organise {things} in a few seconds each"]
    if feats.collaborative:
        goals.append(f"Keep everyone on the same page about shared {things}")
    if feats.realtime:
        goals.append("Show every change to all participants within a second")
    if feats.offline:
        goals.append("Keep every core action available without a network connection")
    if feats.mobile:
        goals.append("Make the phone the primary, fully capable client")
    non_goals = ["Enterprise administration (SSO, audit exports) in the first release"]
    if not feats.payments:
        non_goals.append("Payments and billing inside the product")
    if not feats.ai:
        non_goals.append("AI-generated suggestions")
    non_goals.append("Desktop-native clients" if feats.mobile else "Native mobile apps")
    return IdeaExpansion(
        problem=problem,
        target_users=users,
        goals=goals,
        non_goals=non_goals,
        constraints=list(sub.constraints),
    )


def _ambiguity(sub: IdeaSubmission) -> Ambiguity:
    words = tokens(sub.idea)
    terms = [v for v in _VAGUE if v in words or (v == "real-time" and "realtime" in words)]
    score = 0.1 * len(terms)
    score += 0.25 if not sub.users else 0.0
    score += 0.15 if not sub.constraints else 0.0
    score += 0.2 if len(keywords(sub.idea)) < 3 else 0.0
    return Ambiguity(score=round(min(1.0, score), 2), terms=terms)


def _feasibility(sub: IdeaSubmission) -> Feasibility:
    hard = features(sub).hard_parts()
    level = "high" if len(hard) <= 1 else "medium" if len(hard) <= 3 else "low"
    if hard:
        rationale = f"{len(hard)} hard part(s): {human_list(hard)}; each has known solutions."
    else:
        rationale = "A conventional CRUD product with no unusual technical demands."
    return Feasibility(level=level, rationale=rationale, hard_parts=hard)


def idea_spec_of(ctx: AgentContext) -> IdeaSpec:
    """The intake IdeaSpec: the Validator's output (previous or upstream) or one built now."""
    spec = output_of(ctx, "intake", "Validator", IdeaSpec)
    if spec is not None:
        return spec
    sub = ctx.submission
    cls = output_of(ctx, "intake", "Classifier", Classification) or classify(sub)
    exp = output_of(ctx, "intake", "Expander", IdeaExpansion) or expand(sub)
    return IdeaSpec(
        title=title_from_idea(sub.idea),
        problem=exp.problem,
        target_users=exp.target_users,
        goals=exp.goals,
        constraints=exp.constraints or list(sub.constraints),
        non_goals=exp.non_goals,
        category=cls.category,
        domain_keywords=cls.domain_keywords,
        ambiguity=_ambiguity(sub),
        feasibility=_feasibility(sub),
    )


def classifier(ctx: AgentContext) -> Classification:
    """Classifier: category, domain keywords, platforms and complexity."""
    return classify(ctx.submission).model_copy(update={"notes": notes(ctx)})


def expander(ctx: AgentContext) -> IdeaExpansion:
    """Expander: problem, users, goals and non-goals (sees the Classifier's output)."""
    out = expand(ctx.submission)
    cls = output_of(ctx, "intake", "Classifier", Classification)
    extra = f"Classified as {cls.category}." if cls is not None else ""
    return out.model_copy(update={"notes": notes(ctx, extra)})


def validator(ctx: AgentContext) -> IdeaSpec:
    """Validator: the final IdeaSpec assembled from Classifier and Expander."""
    missing = [a for a in ("Classifier", "Expander") if a not in ctx.previous]
    extra = f"Derived without {human_list(missing)} output." if missing else ""
    spec = idea_spec_of(ctx.model_copy(update={"previous": _without_self(ctx)}))
    return spec.model_copy(update={"notes": notes(ctx, extra)})


def _without_self(ctx: AgentContext) -> dict[str, dict[str, object]]:
    """ctx.previous without a stale Validator output, so the spec is assembled afresh."""
    return {k: v for k, v in ctx.previous.items() if k != "Validator"}
