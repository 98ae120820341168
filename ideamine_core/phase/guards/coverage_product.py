"""Coverage rules of the product phases (intake, ideation, critique, prd, bizdev, beta).

Each rule returns one Check per required item; parameters come from the guard's YAML `params`
(`min_goals`, `personas_min`, `personas_max`, `min_risks`, `min_stories`).
"""

from __future__ import annotations

import re

from ideamine_core.agents.outputs import beta, bizdev, critique, ideation, intake, prd
from ideamine_core.agents.rules._ctx import features
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.domain.phase import GuardSpec
from ideamine_core.phase.claims import excerpt
from ideamine_core.phase.guards.base import GuardInput, param
from ideamine_core.phase.guards.coverage_checks import (
    Check,
    idea_spec,
    mentions,
    need,
    stories_of,
    use_cases_of,
)


def intake_rule(spec: GuardSpec, data: GuardInput) -> list[Check]:
    """Every submitted user and constraint is in the IdeaSpec; it states a problem and goals."""
    owners = ("Expander", "Validator")
    idea = data.typed("Validator", intake.IdeaSpec)
    if idea is None:
        return [need("IdeaSpec", False, "the Validator produced no valid IdeaSpec", "Validator")]
    sub = data.context.submission
    checks = [
        need(f"user '{u}'", mentions(idea.target_users, u), "target user missing", *owners) for u in sub.users
    ]
    checks += [
        need(f"constraint '{c}'", mentions(idea.constraints, c), "constraint missing", *owners)
        for c in sub.constraints
    ]
    checks.append(
        need("goals", len(idea.goals) >= int(param(spec, "min_goals", 1)), "too few goals", *owners)
    )
    return checks


def ideation_rule(spec: GuardSpec, data: GuardInput) -> list[Check]:
    """Personas within range, each with a use case, every actor a persona, every user segment served."""
    pset = data.typed("Persona", ideation.PersonaSet)
    if pset is None:
        return [need("personas", False, "no valid persona set", "Persona")]
    low, high = int(param(spec, "personas_min", 3)), int(param(spec, "personas_max", 5))
    names = {p.name for p in pset.personas}
    checks = [
        need(
            "persona count", low <= len(names) <= high, f"{len(names)} personas, want {low}–{high}", "Persona"
        )
    ]
    actors = {uc.actor for uc in pset.use_cases}
    checks += [
        need(f"persona '{n}'", n in actors, "persona has no use case", "Persona") for n in sorted(names)
    ]
    checks += [
        need(uc.id, uc.actor in names, f"actor '{uc.actor}' is not a persona", "Persona")
        for uc in pset.use_cases
    ]
    idea = idea_spec(data)
    segments = [p.segment for p in pset.personas]
    for user in idea.target_users if idea else data.context.submission.users:
        checks.append(
            need(f"segment '{user}'", mentions(segments, user), "no persona for this user", "Persona")
        )
    checks += _stack_checks(data)
    return checks


def _stack_checks(data: GuardInput) -> list[Check]:
    stack = data.typed("TechStack", ideation.TechStack)
    if stack is None:
        return [need("tech stack", False, "no valid tech stack", "TechStack")]
    feats = features(data.context.submission)
    want = [("offline", feats.offline, stack.offline_sync), ("realtime", feats.realtime, stack.realtime)]
    return [
        need(
            f"{name} in tech stack",
            value.strip().lower() not in ("none", "n/a", ""),
            f"{name} not addressed",
            "TechStack",
        )
        for name, needed, value in want
        if needed
    ]


def critique_rule(spec: GuardSpec, data: GuardInput) -> list[Check]:
    """Risks, failure scenarios and assumptions exist, and every constraint is an assumption to test."""
    risks = data.typed("RedTeam", critique.RiskRegister)
    mortem = data.typed("PreMortem", critique.PreMortemReport)
    log = data.typed("AssumptionHunter", critique.AssumptionLog)
    min_risks = int(param(spec, "min_risks", 1))
    checks = [
        need(
            "risks",
            bool(risks) and len(risks.risks) >= min_risks,
            f"fewer than {min_risks} risk(s)",
            "RedTeam",
        ),
        need("failure scenarios", bool(mortem and mortem.scenarios), "no failure scenario", "PreMortem"),
        need("assumptions", bool(log and log.assumptions), "no assumption to test", "AssumptionHunter"),
    ]
    statements = [a.statement for a in log.assumptions] if log else []
    checks += [
        need(
            f"constraint '{c}'",
            mentions(statements, c),
            "constraint not tested as an assumption",
            "AssumptionHunter",
        )
        for c in data.context.submission.constraints
    ]
    return checks


def prd_rule(spec: GuardSpec, data: GuardInput) -> list[Check]:
    """Enough stories; use cases traced to stories and flows; stories with criteria and requirements."""
    stories, use_cases = stories_of(data), use_cases_of(data)
    min_stories = int(param(spec, "min_stories", max(len(use_cases), 1)))
    checks = [
        need(
            "stories",
            len(stories) >= min_stories,
            f"{len(stories)} stories, want ≥ {min_stories}",
            "StoryCutter",
        )
    ]
    traced = {s.use_case_id for s in stories}
    checks += [
        need(uc.id, uc.id in traced, f"use case '{excerpt(uc.title, 60)}' has no story", "StoryCutter")
        for uc in use_cases
    ]
    checks += [
        need(s.id, _gwt(s.acceptance_criteria), "acceptance criteria are not Given/When/Then", "StoryCutter")
        for s in stories
    ]
    doc = data.typed("PRDWriter", prd.PRDDocument)
    required = {sid for r in doc.requirements for sid in r.story_ids} if doc else set()
    checks += [
        need(f"{s.id} requirement", s.id in required, "story has no requirement", "PRDWriter")
        for s in stories
    ]
    flows = data.typed("UXFlow", prd.UXFlowSet)
    with_flow = {f.use_case_id for f in flows.flows} if flows else set()
    checks += [
        need(f"{uc.id} flow", uc.id in with_flow, "use case has no UX flow", "UXFlow") for uc in use_cases
    ]
    nfrs = data.typed("NFRs", prd.NFRSet)
    texts = [f"{n.category} {n.requirement}" for n in nfrs.nfrs] if nfrs else []
    texts += [r.text for r in doc.requirements] if doc else []
    checks += [
        need(
            f"constraint '{c}'",
            mentions(texts, c) or _feature_nfr(c, texts),
            "constraint has no NFR or requirement",
            "NFRs",
            "PRDWriter",
        )
        for c in data.context.submission.constraints
    ]
    return checks


_GWT = re.compile(r"\bgiven\b.*\bwhen\b.*\bthen\b", re.I | re.S)


def _gwt(criteria: list[str]) -> bool:
    return bool(criteria) and all(_GWT.search(c) for c in criteria)


def _feature_nfr(constraint: str, texts: list[str]) -> bool:
    labels = features(IdeaSubmission(idea=constraint)).labels()
    return bool(labels) and all(mentions(texts, label) for label in labels)


def bizdev_rule(spec: GuardSpec, data: GuardInput) -> list[Check]:
    """Pricing tiers exist and the go-to-market plan targets every user segment."""
    pricing = data.typed("Pricing", bizdev.PricingPlan)
    gtm = data.typed("GoToMarket", bizdev.GoToMarketPlan)
    checks = [
        need("pricing tiers", bool(pricing and pricing.tiers), "no pricing tier", "Pricing"),
        need(
            "business model",
            data.typed("BusinessModel", bizdev.BusinessModelCanvas) is not None,
            "no valid business model",
            "BusinessModel",
        ),
    ]
    segments = gtm.target_segments if gtm else []
    checks += [
        need(f"segment '{u}'", mentions(segments, u), "segment not targeted", "GoToMarket")
        for u in data.context.submission.users or ["users"]
    ]
    return checks


def beta_rule(spec: GuardSpec, data: GuardInput) -> list[Check]:
    """A cohort per persona and at least one feedback channel."""
    plan = data.typed("BetaPlanner", beta.BetaPlan)
    feedback = data.typed("FeedbackSynth", beta.FeedbackPlan)
    personas = data.upstream_typed("ideation", "Persona", ideation.PersonaSet)
    cohorts = {c.persona for c in plan.cohorts} if plan else set()
    checks = [
        need(f"cohort for '{p.name}'", p.name in cohorts, "persona has no beta cohort", "BetaPlanner")
        for p in (personas.personas if personas else [])
    ]
    checks.append(need("cohorts", bool(cohorts), "no beta cohort", "BetaPlanner"))
    checks.append(
        need(
            "feedback channels", bool(feedback and feedback.channels), "no feedback channel", "FeedbackSynth"
        )
    )
    return checks
