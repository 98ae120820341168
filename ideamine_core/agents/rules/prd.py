"""Offline rules of the prd phase: StoryCutter, PRDWriter, UXFlow, NFRs and TraceMatrix."""

from __future__ import annotations

from ideamine_core.agents.outputs._base import Action
from ideamine_core.agents.outputs.ideation import UseCase
from ideamine_core.agents.outputs.prd import (
    NFR,
    Flow,
    NFRSet,
    PRDDocument,
    Requirement,
    StoryMap,
    TraceMatrix,
    TraceRow,
    UserStory,
    UXFlowSet,
)
from ideamine_core.agents.rules._ctx import features, notes, output_of
from ideamine_core.agents.rules._domain import fields_of
from ideamine_core.agents.rules._phrases import FLOW_STEPS, STORY_TEMPLATES
from ideamine_core.agents.rules._text import entity_words, human_list, numbered
from ideamine_core.agents.rules.ideation import persona_set_of
from ideamine_core.agents.rules.intake import idea_spec_of
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.idea import IdeaSubmission

__all__ = [
    "nfrs",
    "prd_writer",
    "requirements_of",
    "story_cutter",
    "stories_of",
    "trace_matrix",
    "ux_flow",
]


def _story(index: int, uc: UseCase, action: Action, as_a: str, container: str) -> UserStory:
    i_want, so_that, criteria = STORY_TEMPLATES.get(
        action,
        (
            f"to {uc.title.lower()}",
            "I get value",
            (
                "Given the feature exists, when I use it, then it does what the use case describes",
                "Given invalid input, when I use it, then I get an error that explains the fix",
            ),
        ),
    )
    words = entity_words(uc.entity, container)
    priority = "should" if action == "delete" else "must"
    return UserStory(
        id=numbered("US", index),
        use_case_id=uc.id,
        title=uc.title if action != "validate" else f"Reject an invalid {words['e']}",
        as_a=as_a,
        i_want=i_want.format(**words),
        so_that=so_that.format(**words),
        action=action,
        entity=uc.entity,
        acceptance_criteria=[c.format(**words) for c in criteria],
        priority=priority,
    )


def cut_stories(ctx: AgentContext) -> list[UserStory]:
    """One story per use case, plus a validation story after the first 'create' use case."""
    pset = persona_set_of(ctx)
    roles = {p.name: f"{p.role} ({p.segment})" for p in pset.personas}
    stories: list[UserStory] = []
    validated = False
    for uc in pset.use_cases:
        as_a = roles.get(uc.actor, uc.actor)
        stories.append(_story(len(stories), uc, uc.action, as_a, uc.entity))
        if uc.action == "create" and not validated:
            validated = True
            stories.append(_story(len(stories), uc, "validate", as_a, uc.entity))
    return stories


def stories_of(ctx: AgentContext) -> list[UserStory]:
    """The prd stories: StoryCutter's output (previous or upstream), else cut now."""
    found = output_of(ctx, "prd", "StoryCutter", StoryMap)
    return found.stories if found is not None else cut_stories(ctx)


def requirements_of(ctx: AgentContext) -> list[Requirement]:
    """The prd requirements: PRDWriter's output if present, else one per story + constraints."""
    found = output_of(ctx, "prd", "PRDWriter", PRDDocument)
    if found is not None:
        return found.requirements
    out = [
        Requirement(
            id=numbered("REQ", i),
            text=f"The system shall allow a {s.as_a} {s.i_want}.",
            priority="must" if s.priority == "must" else "should",
            story_ids=[s.id],
        )
        for i, s in enumerate(stories_of(ctx))
    ]
    for c in ctx.submission.constraints:
        out.append(
            Requirement(id=numbered("REQ", len(out)), text=f"The product shall be {c}.", priority="must")
        )
    return out


def story_cutter(ctx: AgentContext) -> StoryMap:
    """StoryCutter: user stories with Given/When/Then criteria, one or more per use case."""
    return StoryMap(stories=cut_stories(ctx), notes=notes(ctx))


def prd_writer(ctx: AgentContext) -> PRDDocument:
    """PRDWriter: title, summary, goals and requirements traced to the stories."""
    spec = idea_spec_of(ctx)
    stories = stories_of(ctx)
    reqs = requirements_of(ctx.model_copy(update={"previous": _only(ctx, "StoryCutter")}))
    use_cases = sorted({s.use_case_id for s in stories})
    summary = (
        f"{spec.title}. {spec.problem} This release covers {len(use_cases)} use cases "
        f"through {len(stories)} user stories and {len(reqs)} requirements."
    )
    return PRDDocument(
        title=spec.title,
        summary=summary,
        goals=spec.goals,
        non_goals=spec.non_goals,
        requirements=reqs,
        notes=notes(ctx),
    )


def ux_flow(ctx: AgentContext) -> UXFlowSet:
    """UXFlow: one flow of screens and steps per use case."""
    flows: list[Flow] = []
    for uc in persona_set_of(ctx).use_cases:
        required = [f[0].replace("_", " ") for f in fields_of(uc.entity) if f[2]]
        words = entity_words(uc.entity)
        words["fields"] = human_list(required) or "the details"
        steps = FLOW_STEPS.get(uc.action, ("Open the app", "Do: {title}", "See the result"))
        flows.append(
            Flow(
                id=numbered("FLOW", len(flows)),
                name=uc.title,
                use_case_id=uc.id,
                steps=[s.format(title=uc.title, **words) for s in steps],
            )
        )
    return UXFlowSet(flows=flows, notes=notes(ctx))


def _constraint_is_known(constraint: str) -> bool:
    return bool(features(IdeaSubmission(idea=constraint)).labels())


def nfrs(ctx: AgentContext) -> NFRSet:
    """NFRs: measurable non-functional requirements reflecting the constraints."""
    feats = features(ctx.submission)
    rows = [
        ("performance", "API responses are fast", "p95 latency of API calls", "< 300 ms"),
        ("availability", "The service is available", "monthly uptime", ">= 99.5%"),
        ("security", "No known high-severity weaknesses", "high/critical findings", "0"),
        ("accessibility", "Usable with assistive technology", "WCAG 2.1 AA violations", "0"),
    ]
    if feats.mobile:
        rows.append(("mobile", "Mobile-first: fast on phones", "time to interactive, 4G", "< 3 s"))
    if feats.offline:
        rows.append(
            (
                "offline",
                "Core actions work offline",
                "share of create/update/delete available offline",
                "100%",
            )
        )
        rows.append(("offline", "Offline changes sync quickly", "time to sync after reconnect", "< 10 s"))
    if feats.realtime:
        rows.append(("realtime", "Changes propagate live", "p95 change propagation", "< 1 s"))
    if feats.collaborative:
        rows.append(("scalability", "Many people share one space", "concurrent editors", ">= 50"))
    for c in ctx.submission.constraints:
        if not _constraint_is_known(c):
            rows.append(("constraint", f"Honour the constraint: {c}", "release checklist item", "passed"))
    items = [
        NFR(id=numbered("NFR", i), category=cat, requirement=r, metric=m, target=t)
        for i, (cat, r, m, t) in enumerate(rows)
    ]
    return NFRSet(nfrs=items, notes=notes(ctx))


def _only(ctx: AgentContext, *agents: str) -> dict[str, dict[str, object]]:
    return {k: v for k, v in ctx.previous.items() if k in agents}


def trace_matrix(ctx: AgentContext) -> TraceMatrix:
    """TraceMatrix: use case → stories → requirements, with uncovered use cases."""
    stories = stories_of(ctx)
    reqs = requirements_of(ctx.model_copy(update={"previous": _only(ctx, "StoryCutter", "PRDWriter")}))
    uc_ids = [uc.id for uc in persona_set_of(ctx).use_cases]
    uc_ids += [s.use_case_id for s in stories if s.use_case_id not in uc_ids]
    rows: list[TraceRow] = []
    for uc_id in dict.fromkeys(uc_ids):
        story_ids = [s.id for s in stories if s.use_case_id == uc_id]
        req_ids = [r.id for r in reqs if set(r.story_ids) & set(story_ids)]
        rows.append(TraceRow(use_case_id=uc_id, story_ids=story_ids, requirement_ids=req_ids))
    uncovered = [r.use_case_id for r in rows if not r.story_ids]
    coverage = round(1 - len(uncovered) / len(rows), 4)
    return TraceMatrix(rows=rows, uncovered_use_case_ids=uncovered, coverage=coverage, notes=notes(ctx))
