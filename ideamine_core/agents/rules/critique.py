"""Offline rules of the critique phase: RedTeam, PreMortem and AssumptionHunter."""

from __future__ import annotations

from ideamine_core.agents.outputs._base import Level, Severity
from ideamine_core.agents.outputs.critique import (
    Assumption,
    AssumptionLog,
    FailureScenario,
    PreMortemReport,
    Risk,
    RiskRegister,
)
from ideamine_core.agents.outputs.ideation import CompetitiveLandscape, ProductStrategy
from ideamine_core.agents.rules._ctx import features, notes, output_of, segment
from ideamine_core.agents.rules._text import numbered
from ideamine_core.agents.rules.ideation import persona_set_of, tech_stack_of
from ideamine_core.agents.rules.intake import idea_spec_of
from ideamine_core.domain.agent import AgentContext

__all__ = ["assumption_hunter", "pre_mortem", "red_team"]

_SEVERITY_RANK: dict[str, int] = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}

RiskRow = tuple[str, Severity, Level, str]


def _risk_rows(ctx: AgentContext) -> list[RiskRow]:
    """(title, severity, likelihood, mitigation) rows from the traits and the tech stack."""
    feats = features(ctx.submission)
    stack = tech_stack_of(ctx)
    seg = segment(ctx.submission)
    rows: list[RiskRow] = []
    if feats.offline:
        rows.append(
            (
                "Sync conflicts silently overwrite offline work",
                "high",
                "high",
                f"Per-field merge with a visible conflict log ({stack.offline_sync})",
            )
        )
    if feats.collaborative:
        rows.append(
            (
                "Shared items leak to people without access",
                "high",
                "medium",
                "Deny-by-default sharing checks on every endpoint, with tests",
            )
        )
    if feats.realtime:
        rows.append(
            (
                "Real-time fan-out does not scale past a few hundred editors",
                "medium",
                "medium",
                f"Load-test the transport ({stack.realtime}) before launch",
            )
        )
    if feats.mobile:
        rows.append(
            (
                "Key actions are hard to reach on small screens",
                "medium",
                "medium",
                "Thumb-zone layout reviewed on a 360 px wide screen",
            )
        )
    if feats.payments:
        rows.append(
            (
                "Payment fraud and compliance scope",
                "high",
                "medium",
                "Use a hosted payment provider; never store card data",
            )
        )
    if feats.privacy:
        rows.append(
            (
                "Personal data handled against regulation",
                "critical",
                "low",
                "Data inventory, retention limits and a privacy review",
            )
        )
    rows.append(
        (
            f"{seg.capitalize()} keep using their existing tools",
            "high",
            "medium",
            "Import from current tools and a two-minute onboarding",
        )
    )
    rows.append(
        (
            "Scope grows beyond the core use cases before launch",
            "medium",
            "high",
            "Freeze scope to the 'must' stories; everything else after beta",
        )
    )
    return sorted(rows, key=lambda r: _SEVERITY_RANK[r[1]])  # stable: ties keep table order


def red_team(ctx: AgentContext) -> RiskRegister:
    """RedTeam: risks with severity and mitigation, plus counter-arguments."""
    risks = [
        Risk(id=numbered("RISK", i), title=t, severity=s, likelihood=lk, mitigation=m)
        for i, (t, s, lk, m) in enumerate(_risk_rows(ctx))
    ]
    landscape = output_of(ctx, "ideation", "Competitive", CompetitiveLandscape)
    rivals = [c.name for c in landscape.competitors] if landscape else ["existing tools"]
    counter = [f"Why would {segment(ctx.submission)} switch from {r}?" for r in rivals]
    counter.append("The hard parts may cost more than the first release can carry.")
    return RiskRegister(risks=risks, counter_arguments=counter, notes=notes(ctx))


def pre_mortem(ctx: AgentContext) -> PreMortemReport:
    """PreMortem: imagined failure scenarios, one per hard part plus adoption and scope."""
    spec = idea_spec_of(ctx)
    seg = segment(ctx.submission)
    rows = [
        (
            f"Launch failed on {' '.join(part.split()[:2])}",
            f"The team underestimated {part}",
            f"Bugs about {part} in the first internal week",
            f"Spike {part} first and make it a release-blocking test",
        )
        for part in spec.feasibility.hard_parts
    ]
    rows.append(
        (
            f"Nobody from the {seg} came back after the first week",
            "The product solved a problem users did not feel strongly enough",
            "Day-7 retention under 20% in the beta",
            "Validate the problem with interviews before building more",
        )
    )
    rows.append(
        (
            "The launch slipped by a quarter",
            "Scope grew one 'small' feature at a time",
            "Stories added after the PRD was frozen",
            "Change control: every new story needs a story removed",
        )
    )
    scenarios = [
        FailureScenario(id=numbered("FS", i), headline=h, cause=c, early_signal=e, prevention=p)
        for i, (h, c, e, p) in enumerate(rows)
    ]
    return PreMortemReport(horizon="Six months after launch", scenarios=scenarios, notes=notes(ctx))


def assumption_hunter(ctx: AgentContext) -> AssumptionLog:
    """AssumptionHunter: assumptions behind personas, differentiators and constraints."""
    sub = ctx.submission
    personas = persona_set_of(ctx).personas
    strategy = output_of(ctx, "ideation", "Strategy", ProductStrategy)
    rows: list[tuple[str, str, str, str, Level]] = []
    for p in personas[:3]:
        rows.append(
            (
                f"{p.name} from {p.segment} wants to {p.goals[0][0].lower() + p.goals[0][1:]}",
                f"The product solves a problem {p.role}s do not have",
                f"Five interviews with {p.segment} {p.role}s about their last week",
                "At least three describe the problem unprompted",
                "medium",
            )
        )
    diffs = strategy.differentiators[:2] if strategy else []
    for d in diffs:
        rows.append(
            (
                f"'{d}' matters enough to switch tools",
                "Users stay with what they have",
                "Fake-door test on the landing page naming this benefit",
                "More than 5% of visitors join the waitlist",
                "low",
            )
        )
    for c in sub.constraints:
        rows.append(
            (
                f"Users really need it to be {c}",
                f"Effort spent on being {c} is wasted",
                f"Ask beta users when and where they would use it ({c})",
                "Most usage matches the constraint",
                "high",
            )
        )
    assumptions = [
        Assumption(
            id=numbered("AS", i),
            statement=s,
            risk_if_wrong=r,
            how_to_test=h,
            success_signal=sig,
            confidence=conf,
        )
        for i, (s, r, h, sig, conf) in enumerate(rows)
    ]
    return AssumptionLog(assumptions=assumptions, notes=notes(ctx))
