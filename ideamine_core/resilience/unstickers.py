"""Unsticker routines, one per failure mode, as pure functions over inputs the lead supplies.

Retry from a checkpoint (stall), switch the agent's strategy (no progress), walk down the model ladder
(repeated model errors, budget degrade), split an input into chunks (context too long), back off with
jitter never below Retry-After (rate limit), write a budget stop report, and build the escalation
record that pauses a run for a person (gate keeps failing).
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import signal
import socket
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.resilience.checkpoints import Checkpoint

T = TypeVar("T")


class AgentStrategy(BaseModel):
    """A way to run an agent: a name and the instruction appended to its task (AgentContext.instruction)."""

    model_config = ConfigDict(frozen=True)

    name: str
    instruction: str | None = None


DEFAULT_STRATEGIES: tuple[AgentStrategy, ...] = (
    AgentStrategy(name="default"),
    AgentStrategy(
        name="step_by_step",
        instruction="Work in small steps: finish and return one item before starting the next.",
    ),
    AgentStrategy(
        name="minimal",
        instruction="Return the smallest output that satisfies the schema; leave optional fields empty.",
    ),
)
"""The strategies `switch_strategy` walks through, in order."""


def retry_from_checkpoint(checkpoint: Checkpoint | None, new_token: int | None) -> dict[str, Any]:
    """The plan to restart a stalled task: where to resume and the fencing token that fenced the old run."""
    return {
        "resume_from_step": checkpoint.seq + 1 if checkpoint is not None else 0,
        "checkpoint_token": checkpoint.token if checkpoint is not None else None,
        "fenced_at_token": new_token,
    }


def kill_local_owner(owner: str) -> int | None:
    """SIGKILL the worker process named by a lease owner 'host:pid:thread' if it runs on this host
    (never this process); returns its pid, or None when it is elsewhere, gone or not such a name."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return None
    try:
        os.kill(int(pid_text), signal.SIGKILL)
    except ProcessLookupError:
        return None
    return int(pid_text)


def switch_strategy(
    current: str | None, strategies: Sequence[AgentStrategy] = DEFAULT_STRATEGIES
) -> AgentStrategy | None:
    """The strategy after `current` (None or unknown: the second one), or None when all were tried."""
    names = [s.name for s in strategies]
    index = names.index(current) + 1 if current in names else 1
    return strategies[index] if index < len(strategies) else None


def next_model(ladder: Sequence[str], current: str | None) -> str | None:
    """The model after `current` on the ladder (ordered from first choice to cheapest), or None."""
    if not ladder:
        return None
    if current not in ladder:
        return ladder[0] if ladder[0] != current else None
    index = list(ladder).index(current) + 1
    return ladder[index] if index < len(ladder) else None


def approx_tokens(text: str) -> int:
    """A conservative token estimate (~4 characters per token), used when no tokenizer is at hand."""
    return math.ceil(len(text) / 4)


def split_into_chunks(
    content: str | Sequence[T], max_tokens: int, *, count_tokens: Callable[[str], int] = approx_tokens
) -> list[str] | list[list[T]]:
    """Split text (at paragraphs, then sentences, then characters) or a list of items into chunks of at
    most `max_tokens` tokens each, keeping order. An item too large on its own gets a chunk of its own."""
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    if isinstance(content, str):
        return _pack(_text_pieces(content, max_tokens, count_tokens), max_tokens, count_tokens, "")
    sized = [(item, count_tokens(_as_text(item))) for item in content]
    chunks: list[list[T]] = []
    size = 0
    for item, tokens in sized:
        if not chunks or size + tokens > max_tokens:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += tokens
    return chunks


def _as_text(item: Any) -> str:
    return item if isinstance(item, str) else json.dumps(item, sort_keys=True, default=str)


def _text_pieces(text: str, max_tokens: int, count: Callable[[str], int]) -> list[str]:
    """Pieces that each fit: paragraphs, else sentences, else fixed-size slices."""
    pieces: list[str] = []
    for paragraph in re.split(r"(?<=\n\n)", text):
        if count(paragraph) <= max_tokens:
            pieces.append(paragraph)
            continue
        for sentence in re.split(r"(?<=[.!?])\s+", paragraph):
            pieces.extend(_slices(sentence, max_tokens, count))
    return [p for p in pieces if p]


def _slices(text: str, max_tokens: int, count: Callable[[str], int]) -> list[str]:
    if count(text) <= max_tokens:
        return [text + " "]
    step = max(1, len(text) * max_tokens // max(1, count(text)))
    while step > 1 and count(text[:step]) > max_tokens:
        step //= 2
    return [text[i : i + step] for i in range(0, len(text), step)]


def _pack(pieces: list[str], max_tokens: int, count: Callable[[str], int], sep: str) -> list[str]:
    chunks: list[str] = []
    for piece in pieces:
        if chunks and count(chunks[-1] + sep + piece) <= max_tokens:
            chunks[-1] = chunks[-1] + sep + piece
        else:
            chunks.append(piece)
    return [c.strip() for c in chunks if c.strip()]


def backoff_delay(
    attempt: int,
    retry_after: float | None = None,
    *,
    base: float = 1.0,
    cap: float = 300.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number `attempt` (1-based): exponential with jitter, and never less
    than `retry_after` — the jitter is added on top of it so that many tasks do not wake together."""
    span = min(cap, base * 2 ** max(0, attempt - 1))
    if retry_after is not None:
        return retry_after + rng() * min(span, max(base, retry_after)) / 2
    return span / 2 + rng() * span / 2


def budget_report(evidence: dict[str, Any], phase: str | None) -> str:
    """One paragraph for the stop report, naming the budget, its limit and what was used."""
    budget, limit, used = evidence.get("budget"), evidence.get("limit"), evidence.get("used")
    need = evidence.get("requested") or 0
    more = f"; the next call needed about {need:g} more" if need else ""
    if evidence.get("ladder_exhausted") and need:
        more += f" on {evidence.get('model')}, the last model of its ladder"
    return (
        f"phase {phase} stopped: budget `{budget}` exhausted (used {used:g} of {limit:g}{more}). "
        f"Raise `budgets.{budget}` in {phase}.yaml or configure a cheaper model, then `ideamine resume RUN`."
    )


class Escalation(BaseModel):
    """A run paused for a person: what keeps failing, how often, and how to continue."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    phase: str | None
    reasons: list[str] = Field(description="The gate's failure reasons of the last attempt.")
    attempts: int
    requested_at: float
    how_to_continue: str = Field(
        default="record a waiver for the failing check or change the phase configuration, "
        "then run `ideamine resume RUN`"
    )


def escalation(
    run_id: str, phase: str | None, reasons: Sequence[str], attempts: int, now: float
) -> Escalation:
    """The escalation record of a gate that kept failing."""
    return Escalation(run_id=run_id, phase=phase, reasons=list(reasons), attempts=attempts, requested_at=now)
