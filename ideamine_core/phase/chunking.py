"""Split an agent task whose context is too long for its model into part calls and one merge call.

When a model refuses a task's prompt as longer than its context window, the task's largest input
(the idea, one upstream phase's outputs, or the outputs of the agents before it) is split with
`split_into_chunks` into parts of at most `max_tokens` tokens. The agent is called once per part,
told it sees part i of n, then once more with the part outputs as its `previous` (and without the
split input) to merge them into one output of its schema. This module plans the split and builds
the contexts; `TaskRunner` asks the supervisor for the decision, runs the calls through the normal
model caller and checkpoints each part.

The chunk budget comes from the model's error when it names its context window (the room left for
the input once the rest of the prompt is counted, scaled by the request size it reported, with a
safety margin), else the input is halved.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.agents.runner import input_hashes
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import AgentResult, content_hash
from ideamine_core.providers.base import CallRecord
from ideamine_core.providers.governed import usage_of
from ideamine_core.resilience.unstickers import approx_tokens, split_into_chunks

SAFETY = 0.8
"""Share of the computed room a part may fill (token estimates are approximate)."""

IDEA, PREVIOUS = "idea", "previous"
"""Names of the splittable inputs besides upstream phases (``phase:<name>``)."""


class SplitPlan(BaseModel):
    """How a task's context is split: which input, the token budget per part, the parts' sizes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: str = Field(description="'idea', 'previous' or 'phase:<name>'.")
    max_tokens: int = Field(ge=1, description="Most tokens (estimated) of the input per part.")
    sizes: list[int] = Field(description="Estimated tokens of each part, in order.")
    inputs: str = Field(description="Hash of the task's input hashes: a checkpoint of other inputs is stale.")

    @property
    def count(self) -> int:
        """How many parts."""
        return len(self.sizes)


def _latest(artifact_results: list[AgentResult]) -> list[AgentResult]:
    """The latest result of each agent (what the prompt renders), ordered by agent."""
    latest: dict[str, AgentResult] = {}
    for result in sorted(artifact_results, key=lambda r: (r.iteration, r.agent)):
        latest[result.agent] = result
    return [latest[a] for a in sorted(latest)]


def _items(ctx: AgentContext, name: str) -> str | list[list[Any]]:
    """The input `name` of `ctx` as text (the idea) or as [agent, output] items."""
    if name == IDEA:
        return ctx.submission.idea
    if name == PREVIOUS:
        return [[agent, output] for agent, output in sorted(ctx.previous.items())]
    phase = name.removeprefix("phase:")
    return [[r.agent, r.output] for r in _latest(ctx.upstream[phase].results)]


def _size(content: str | list[Any]) -> int:
    text = content if isinstance(content, str) else json.dumps(content, sort_keys=True, default=str)
    return approx_tokens(text)


def largest_input(ctx: AgentContext) -> tuple[str, int]:
    """The input of `ctx` that makes its prompt longest, and its estimated size in tokens."""
    names = [IDEA, *(f"phase:{p}" for p in sorted(ctx.upstream)), *([PREVIOUS] if ctx.previous else [])]
    sized = [(name, _size(_items(ctx, name))) for name in names]
    return max(sized, key=lambda pair: pair[1])


def chunk_budget(size: int, prompt_size: int, limit: int | None = None, used: int | None = None) -> int:
    """Tokens per part for an input of `size` tokens in a prompt of `prompt_size` (both estimated).

    With the context window `limit` the model reported (and the request size `used` it counted, to
    convert its tokens into estimated ones): the room the rest of the prompt leaves, times SAFETY;
    else, or when that is no smaller, half the input. 0 when the rest of the prompt leaves no room.
    """
    half = max(1, math.ceil(size / 2))
    if not limit:
        return half
    scale = used / prompt_size if used and prompt_size else 1.0  # provider tokens per estimated token
    room = limit / scale - (prompt_size - size)
    return max(0, min(half, int(room * SAFETY)))


def chunks_of(ctx: AgentContext, name: str, max_tokens: int) -> list[Any]:
    """The parts of input `name` of `ctx`, each of at most `max_tokens` estimated tokens (an item too
    large alone is a part of its own)."""
    return list(split_into_chunks(_items(ctx, name), max_tokens))


def plan_split(ctx: AgentContext, name: str, max_tokens: int) -> SplitPlan | None:
    """The split of input `name` into parts of at most `max_tokens`; None when it gives fewer than 2."""
    if max_tokens < 1:
        return None
    parts = chunks_of(ctx, name, max_tokens)
    if len(parts) < 2:
        return None
    return SplitPlan(
        input=name,
        max_tokens=max_tokens,
        sizes=[_size(p) for p in parts],
        inputs=content_hash(input_hashes(ctx)),
    )


def _label(name: str) -> str:
    if name == IDEA:
        return "the idea"
    if name == PREVIOUS:
        return "the outputs of the agents before you"
    return f"the outputs of phase {name.removeprefix('phase:')}"


def _with_input(ctx: AgentContext, name: str, part: Any) -> dict[str, Any]:
    """The context fields that hold `part` in place of the whole input `name`."""
    if name == IDEA:
        return {"submission": ctx.submission.model_copy(update={"idea": part})}
    if name == PREVIOUS:
        return {"previous": {agent: output for agent, output in part}}
    phase = name.removeprefix("phase:")
    agents = {agent for agent, _ in part}
    artifact = ctx.upstream[phase]
    kept = [r for r in _latest(artifact.results) if r.agent in agents]
    return {"upstream": ctx.upstream | {phase: artifact.model_copy(update={"results": kept})}}


def _instruct(ctx: AgentContext, text: str) -> str:
    return f"{ctx.instruction}\n\n{text}" if ctx.instruction else text


def part_key(agent: str, index: int, count: int) -> str:
    """The `previous` key of a part's output in the merge call."""
    return f"{agent} (part {index + 1} of {count})"


def part_context(ctx: AgentContext, plan: SplitPlan, index: int) -> AgentContext:
    """The context of part `index` (0-based): the input replaced by that part, and told so."""
    part = chunks_of(ctx, plan.input, plan.max_tokens)[index]
    text = (
        f"{_label(plan.input).capitalize()} did not fit in one request, so you see it in {plan.count} parts: "
        f"this is part {index + 1} of {plan.count}. Produce your output from this part; the outputs of "
        "all parts are merged afterwards."
    )
    return ctx.model_copy(update=_with_input(ctx, plan.input, part) | {"instruction": _instruct(ctx, text)})


def merge_context(ctx: AgentContext, plan: SplitPlan, outputs: list[dict[str, Any]]) -> AgentContext:
    """The context of the merge call: the part outputs as `previous`, the split input left out (the
    idea: only its opening), and the instruction to merge."""
    update: dict[str, Any]
    if plan.input == IDEA:  # its opening (a quarter of a part), so the part outputs have room
        opening = split_into_chunks(ctx.submission.idea, max(1, plan.max_tokens // 4))[0]
        update = _with_input(ctx, IDEA, f"{opening}\n[… the whole idea was read in parts]")
        previous = dict(ctx.previous)
    elif plan.input == PREVIOUS:
        update, previous = {}, {}
    else:
        update = {"upstream": {p: a for p, a in ctx.upstream.items() if f"phase:{p}" != plan.input}}
        previous = dict(ctx.previous)
    previous |= {part_key(ctx.agent, i, plan.count): out for i, out in enumerate(outputs)}
    text = (
        f"{_label(plan.input).capitalize()} did not fit in one request and was read in {plan.count} parts; "
        f"your outputs for the parts are above, as '{part_key(ctx.agent, 0, plan.count)}' and so on. "
        "Merge them into one complete output: keep every distinct item, drop duplicates."
    )
    return ctx.model_copy(update=update | {"previous": previous, "instruction": _instruct(ctx, text)})


def combined_call(calls: list[CallRecord], final: CallRecord) -> CallRecord:
    """One record for the whole split task (the failed whole call, the parts and the merge): every
    request it made, with what they cost; the model, outcome and ladder steps of the merge call."""
    everything = [*calls, final]
    requests = [r for call in everything for r in call.requests]
    return final.model_copy(
        update={
            **usage_of(requests),
            "requests": requests,
            "latency_ms": round(sum(c.latency_ms for c in everything), 3),
            "cached": bool(requests) and all(r.cached for r in requests),
            "retries": sum(c.retries for c in everything),
        }
    )
