"""Offline rules of the ideation phase: Strategy, Competitive, TechStack and Persona."""

from __future__ import annotations

from typing import Literal

from ideamine_core.agents.outputs._base import Action
from ideamine_core.agents.outputs.ideation import (
    CompetitiveLandscape,
    Competitor,
    Persona,
    PersonaSet,
    ProductStrategy,
    TechStack,
    UseCase,
)
from ideamine_core.agents.rules._ctx import Features, features, notes, output_of, segment
from ideamine_core.agents.rules._domain import entity_names
from ideamine_core.agents.rules._text import capitalize, entity_words, human, numbered, plural, unique
from ideamine_core.agents.rules.intake import idea_spec_of
from ideamine_core.domain.agent import AgentContext

Kind = Literal["direct", "indirect", "substitute"]
"""How a competitor competes."""

__all__ = [
    "competitive",
    "persona",
    "persona_set_of",
    "strategy",
    "tech_stack",
    "tech_stack_of",
]

_COMPETITORS: dict[str, tuple[tuple[str, Kind], ...]] = {
    "productivity": (("Todoist", "direct"), ("Trello", "direct"), ("Paper lists", "substitute")),
    "communication": (("Slack", "direct"), ("Discord", "indirect"), ("Email", "substitute")),
    "commerce": (("Shopify", "direct"), ("Etsy", "indirect"), ("Social storefronts", "substitute")),
    "health": (("MyFitnessPal", "direct"), ("Strava", "indirect"), ("Notebooks", "substitute")),
    "education": (("Coursera", "direct"), ("YouTube", "indirect"), ("Textbooks", "substitute")),
    "finance": (("YNAB", "direct"), ("Bank apps", "indirect"), ("Spreadsheets", "substitute")),
    "events": (("Eventbrite", "direct"), ("Calendly", "indirect"), ("Phone calls", "substitute")),
}
_GENERIC_COMPETITORS: tuple[tuple[str, Kind], ...] = (
    ("Niche point solutions", "direct"),
    ("All-in-one suites", "indirect"),
    ("Spreadsheets and manual workarounds", "substitute"),
)
_NAMES = ("Alex", "Sam", "Priya", "Jordan", "Mei")

_USE_CASES: tuple[tuple[Action, str, str], ...] = (
    ("create", "Capture a new {e}", "{a} adds {a_e} with its details so nothing is forgotten."),
    ("list", "Browse and find {es}", "{a} sees all {es} and finds the one they need."),
    ("update", "Update {a_e}", "{a} changes the details or progress of {a_e}."),
    ("delete", "Remove {a_e}", "{a} deletes {a_e} that is no longer relevant."),
    ("collaborate", "Share {a_c} with others", "{a} shares {a_c} so others work on it too."),
    ("realtime", "See changes from others live", "{a} sees {es} changed by others immediately."),
    ("offline", "Keep working offline", "{a} edits {es} offline; changes sync on reconnect."),
)
_ACTOR_INDEX: dict[str, int] = {"list": 0, "collaborate": 0, "realtime": 2}


def _roles(feats: Features) -> tuple[tuple[str, str, str], ...]:
    """(role, goal, pain) triples; team roles for collaborative products."""
    if feats.collaborative:
        return (
            ("team lead", "keep everyone aligned on shared {es}", "chases people for status"),
            ("team member", "capture and finish {es} quickly", "loses {es} across tools"),
            ("new joiner", "catch up on {es} without asking", "works from stale information"),
        )
    return (
        ("power user", "organise many {es} efficiently", "spends time on bookkeeping"),
        ("casual user", "capture {es} in seconds", "forgets {es} that were never written down"),
        ("first-time user", "get value on the first day", "gives up on complicated tools"),
    )


def _personas(ctx: AgentContext, entity: str) -> list[Persona]:
    sub = ctx.submission
    feats = features(sub)
    es = plural(human(entity))
    segments = unique(sub.users)[:5] or ["individual users"]
    pairs: list[tuple[str, tuple[str, str, str]]]
    if len(segments) >= 3:
        pairs = [(s, _roles(feats)[1]) for s in segments]
    else:
        pairs = [(s, role) for role in _roles(feats) for s in segments][:3]
    extra_pains = (
        (feats.offline, "loses work when the connection drops"),
        (feats.mobile, "desktop-only tools are useless on the go"),
        (feats.realtime, "sees changes from others too late"),
    )
    out: list[Persona] = []
    for i, (seg, (role, goal, pain)) in enumerate(pairs):
        pains = [pain.format(es=es)] + [p for on, p in extra_pains if on][i % 3 : i % 3 + 1]
        out.append(
            Persona(
                name=f"{_NAMES[i]} ({role})",
                segment=seg,
                role=role,
                goals=[capitalize(goal.format(es=es))],
                pains=[capitalize(p) for p in pains],
            )
        )
    return out


def _use_cases(entities: list[str], personas: list[Persona], feats: Features) -> list[UseCase]:
    primary = entities[0]
    others = [e for e in entities[1:] if e != "User"]
    container = others[0] if others else primary
    wanted = {"collaborate": feats.collaborative, "realtime": feats.realtime}
    wanted["offline"] = feats.offline
    out: list[UseCase] = []
    for action, title, desc in _USE_CASES:
        if not wanted.get(action, True):
            continue
        actor = personas[_ACTOR_INDEX.get(action, 1) % len(personas)].name
        entity = container if action == "collaborate" else primary
        words = entity_words(primary, container)
        out.append(
            UseCase(
                id=numbered("UC", len(out)),
                title=title.format(**words),
                actor=actor,
                action=action,
                entity=entity,
                description=desc.format(a=actor, **words),
            )
        )
    return out


def persona_set_of(ctx: AgentContext) -> PersonaSet:
    """The ideation PersonaSet: the Persona agent's output if present, else derived now."""
    found = output_of(ctx, "ideation", "Persona", PersonaSet)
    if found is not None:
        return found
    spec = idea_spec_of(ctx)
    feats = features(ctx.submission)
    entities = entity_names([ctx.submission.idea, *spec.domain_keywords], feats.collaborative)
    personas = _personas(ctx, entities[0])
    return PersonaSet(personas=personas, use_cases=_use_cases(entities, personas, feats))


def tech_stack_of(ctx: AgentContext) -> TechStack:
    """The ideation TechStack: the TechStack agent's output if present, else derived now."""
    found = output_of(ctx, "ideation", "TechStack", TechStack)
    if found is not None:
        return found
    feats = features(ctx.submission)
    if feats.mobile:
        frontend = "React Native app (mobile-first, iOS and Android)"
    elif feats.offline:
        frontend = "React progressive web app with a service worker"
    else:
        frontend = "React single-page web app"
    storage = "SQLite on the device + PostgreSQL on the server" if feats.offline else "PostgreSQL"
    if feats.realtime:
        realtime = "WebSockets with server-side fan-out per shared list"
    elif feats.collaborative:
        realtime = "Polling every 30 seconds"
    else:
        realtime = "none (request/response)"
    offline_sync = (
        "Local-first change log replayed on reconnect; last writer wins per field"
        if feats.offline
        else "none (online only)"
    )
    rationale = ["Python HTTP API: one language for the prototype, the API and its tests"]
    if feats.mobile:
        rationale.append("mobile-first: a native-feeling phone client is the primary client")
    if feats.offline:
        rationale.append("offline-capable: on-device storage plus a replayable change log")
    if feats.realtime:
        rationale.append("real-time: WebSockets push changes without polling delay")
    return TechStack(
        frontend=frontend,
        backend="Python HTTP API (standard library prototype, ASGI framework in production)",
        storage=storage,
        realtime=realtime,
        offline_sync=offline_sync,
        hosting="Containerised service on a managed cloud platform",
        rationale=rationale,
    )


def _differentiators(feats: Features) -> list[str]:
    table = (
        ("realtime", "Changes appear for everyone within a second"),
        ("offline", "Fully usable offline; syncs automatically when back online"),
        ("mobile", "Designed for the phone first, not squeezed onto it"),
        ("collaborative", "Built for shared work: one source of truth, no copy-paste"),
        ("privacy", "Private by default; personal data stays minimal"),
    )
    found = [text for name, text in table if getattr(feats, name)]
    return found + ["Simple enough to adopt in a day"]


def strategy(ctx: AgentContext) -> ProductStrategy:
    """Strategy: vision, value proposition, differentiators and north-star metric."""
    spec = idea_spec_of(ctx)
    feats = features(ctx.submission)
    entity = persona_set_of(ctx).use_cases[0].entity
    es = plural(human(entity))
    seg = segment(ctx.submission)
    diffs = _differentiators(feats)
    return ProductStrategy(
        vision=f"Every one of the {seg} knows the state of their {es} at any moment.",
        value_proposition=f"{spec.title} gives {seg} one place for {es}: {diffs[0].lower()}.",
        differentiators=diffs,
        objectives=spec.goals,
        north_star_metric=f"Weekly active {seg} who update at least three {es}",
        notes=notes(ctx),
    )


def competitive(ctx: AgentContext) -> CompetitiveLandscape:
    """Competitive: competitors by category, each with the gap we exploit."""
    spec = idea_spec_of(ctx)
    feats = features(ctx.submission)
    gaps = [
        g
        for on, g in (
            (feats.offline, "limited offline editing"),
            (feats.realtime, "changes from others arrive late or need a refresh"),
            (feats.mobile, "desktop-first interface that is awkward on a phone"),
            (feats.collaborative, "collaboration features sit behind expensive plans"),
        )
        if on
    ] or [f"generic, not tailored to {segment(ctx.submission)}"]
    rivals = _COMPETITORS.get(spec.category, _GENERIC_COMPETITORS)
    competitors = [
        Competitor(
            name=name,
            kind=kind,
            gap="no sync, no shared visibility, easy to lose"
            if kind == "substitute"
            else gaps[i % len(gaps)],
        )
        for i, (name, kind) in enumerate(rivals)
    ]
    positioning = (
        f"For {segment(ctx.submission)} who outgrow {rivals[-1][0].lower()}, "
        f"{spec.title} is the {spec.category} tool built for them. {_differentiators(feats)[0]}."
    )
    return CompetitiveLandscape(competitors=competitors, positioning=positioning, notes=notes(ctx))


def tech_stack(ctx: AgentContext) -> TechStack:
    """TechStack: frontend, backend, storage and real-time choices reflecting the constraints."""
    derived = tech_stack_of(ctx.model_copy(update={"previous": {}}))
    return derived.model_copy(update={"notes": notes(ctx)})


def persona(ctx: AgentContext) -> PersonaSet:
    """Persona: 3-5 personas from the target users, and their use cases."""
    derived = persona_set_of(ctx.model_copy(update={"previous": {}}))
    return derived.model_copy(update={"notes": notes(ctx)})
