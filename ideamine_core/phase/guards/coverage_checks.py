"""Coverage checks: the Check record and helpers the per-phase coverage rules share."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ideamine_core.agents.outputs import ideation, intake, prd
from ideamine_core.domain.phase import GuardSpec
from ideamine_core.phase.claims import content_stems
from ideamine_core.phase.guards.base import GuardInput


@dataclass(frozen=True)
class Check:
    """One required item: covered or not, why, and the agents that own it."""

    item: str
    ok: bool
    detail: str
    owners: tuple[str, ...]


Rule = Callable[[GuardSpec, GuardInput], list[Check]]


def mentions(haystack: Iterable[str], needle: str) -> bool:
    """True when every content word of `needle` occurs in one of the `haystack` texts."""
    want = content_stems(needle)
    return bool(want) and any(want <= content_stems(text) for text in haystack)


def need(item: str, ok: bool, detail: str, *owners: str) -> Check:
    """A Check of `item`, owned by `owners`."""
    return Check(item, ok, detail, owners)


def agents_present(spec: GuardSpec, data: GuardInput) -> list[Check]:
    """Fallback: every configured agent produced an output."""
    return [
        need(a, data.output(a) is not None, "the agent produced no output", a)
        for a in data.config.agent_names
    ]


def idea_spec(data: GuardInput) -> intake.IdeaSpec | None:
    """The upstream IdeaSpec, or None."""
    return data.upstream_typed("intake", "Validator", intake.IdeaSpec)


def stories_of(data: GuardInput) -> list[prd.UserStory]:
    """The PRD's user stories (this phase's StoryCutter, else upstream)."""
    own = data.typed("StoryCutter", prd.StoryMap)
    found = own or data.upstream_typed("prd", "StoryCutter", prd.StoryMap)
    return found.stories if found else []


def use_cases_of(data: GuardInput) -> list[ideation.UseCase]:
    """The ideation use cases (this phase's Persona, else upstream)."""
    found = data.typed("Persona", ideation.PersonaSet) or data.upstream_typed(
        "ideation", "Persona", ideation.PersonaSet
    )
    return found.use_cases if found else []
