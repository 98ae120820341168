"""Offline rules of the story_loop phase: StoryImplementer and StoryReviewer (iterative)."""

from __future__ import annotations

from ideamine_core.agents.outputs.build import Implementation
from ideamine_core.agents.outputs.prd import UserStory
from ideamine_core.agents.outputs.story_loop import StoryImplementation, StoryReview
from ideamine_core.agents.rules._ctx import notes, output_of
from ideamine_core.agents.rules._text import snake
from ideamine_core.agents.rules.prd import stories_of
from ideamine_core.domain.agent import AgentContext

__all__ = ["story_implementer", "story_reviewer"]


def _files_for(ctx: AgentContext, story: UserStory) -> list[str]:
    """Files a story touches: the package modules of the build, and the story tests."""
    impl = output_of(ctx, "build", "Implementer", Implementation)
    pkg = impl.package if impl else snake(ctx.submission.slug())
    modules = ["models.py", "service.py"]
    if story.action in ("create", "list", "update", "delete", "collaborate"):
        modules.append("api.py")
    return sorted([*(f"{pkg}/{m}" for m in modules), "tests/test_stories.py"])


def _implement(ctx: AgentContext) -> StoryImplementation:
    """This iteration's implementation, from the previous iteration's implementer output."""
    stories = stories_of(ctx)
    before = output_of(ctx, "story_loop", "StoryImplementer", StoryImplementation)
    done_ids = set(before.implemented_story_ids) if before else set()
    if before is not None and before.iteration >= ctx.iteration and before.story_id:
        done_ids.discard(before.story_id)  # a re-run of this iteration: redo its story
    todo = [s for s in stories if s.id not in done_ids]
    if not todo:
        return StoryImplementation(
            iteration=ctx.iteration,
            story_id=None,
            title="nothing left to implement",
            summary=f"All {len(stories)} stories were already implemented.",
            implemented_story_ids=[s.id for s in stories if s.id in done_ids],
        )
    story = todo[0]
    implemented = [s.id for s in stories if s.id in done_ids or s.id == story.id]
    summary = (
        f"Implemented {story.id} ({story.action} {story.entity}) against "
        f"{len(story.acceptance_criteria)} acceptance criteria; "
        f"{len(stories) - len(implemented)} story(ies) left."
    )
    return StoryImplementation(
        iteration=ctx.iteration,
        story_id=story.id,
        title=story.title,
        files_touched=_files_for(ctx, story),
        summary=summary,
        implemented_story_ids=implemented,
    )


def story_implementer(ctx: AgentContext) -> StoryImplementation:
    """StoryImplementer: implement the next story not yet implemented (ids carried over)."""
    return _implement(ctx).model_copy(update={"notes": notes(ctx)})


def _current(ctx: AgentContext) -> StoryImplementation:
    """This iteration's implementer output: from ctx.previous if fresh, else recomputed."""
    found = output_of(ctx, "story_loop", "StoryImplementer", StoryImplementation)
    if found is not None and found.iteration == ctx.iteration:
        return found
    return _implement(ctx)


def story_reviewer(ctx: AgentContext) -> StoryReview:
    """StoryReviewer: review this iteration's story; done when every story is implemented."""
    stories = stories_of(ctx)
    current = _current(ctx)
    by_id = {s.id: s for s in stories}
    story = by_id.get(current.story_id or "")
    comments: list[str]
    if current.story_id is None:
        approved, comments = True, ["Nothing new to review."]
    elif story is None:
        approved, comments = False, [f"{current.story_id} is not a known story."]
    else:
        problems = []
        if not story.acceptance_criteria:
            problems.append("the story has no acceptance criteria")
        if not current.files_touched:
            problems.append("no files were changed")
        if not any(p.startswith("tests/") for p in current.files_touched):
            problems.append("no test covers it")
        approved = not problems
        comments = (
            [f"{story.id} meets its {len(story.acceptance_criteria)} acceptance criteria."]
            if approved
            else [f"{story.id}: {p}." for p in problems]
        )
    remaining = [s.id for s in stories if s.id not in current.implemented_story_ids]
    return StoryReview(
        iteration=ctx.iteration,
        story_id=current.story_id,
        approved=approved,
        comments=comments,
        remaining_story_ids=remaining,
        done=not remaining,
        notes=notes(ctx),
    )
