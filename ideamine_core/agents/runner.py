"""Run one agent task: model call (cache → provider → validate/repair → record) → AgentResult."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any, Literal

from ideamine_core.agents.spec import AgentSpec
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import AgentResult, Provenance, content_hash
from ideamine_core.errors import ModelOutputInvalidError
from ideamine_core.providers.base import CallRecord, Provider
from ideamine_core.providers.caller import AgentCall, ModelCaller
from ideamine_core.providers.offline import OFFLINE_VERSION

log = logging.getLogger(__name__)

OnInvalid = Literal["gate", "raise"]
"""After the last repair attempt: keep the raw output for the gate to judge, or raise the error."""

PYDANTIC_AI = f"pydantic-ai/{version('pydantic-ai-slim')}"


def input_hashes(ctx: AgentContext) -> dict[str, str]:
    """Content hashes of everything the agent was given, by input name."""
    hashes = {"submission": content_hash(ctx.submission)}
    hashes.update({f"phase:{name}": art.hash() for name, art in sorted(ctx.upstream.items())})
    hashes.update({f"agent:{name}": content_hash(out) for name, out in sorted(ctx.previous.items())})
    if ctx.instruction:
        hashes["instruction"] = content_hash(ctx.instruction)
    return hashes


def run_agent(
    spec: AgentSpec,
    ctx: AgentContext,
    caller: ModelCaller | Provider,
    *,
    models: Sequence[str] | None = None,
    template: str | None = None,
    on_invalid: OnInvalid = "gate",
) -> AgentResult:
    """Produce the agent's result on its model ladder (`models`, else the caller's default).

    Output that still fails its schema after every repair attempt is, by default, kept raw for the
    gate to judge (the record says `invalid_output`); `on_invalid="raise"` raises
    ModelOutputInvalidError instead. Other model errors are raised, carrying `call_record`.
    A bare offline `Provider` is accepted and run as the offline model.
    """
    if not isinstance(caller, ModelCaller):
        caller = ModelCaller(offline=caller)
    try:
        call = caller.call(spec, ctx, models=models, template=template)
    except ModelOutputInvalidError as exc:
        if on_invalid == "raise":
            raise
        return _invalid_result(spec, ctx, exc)
    return _result(spec, ctx, call)


def _generator_version(call: AgentCall) -> str:
    if call.model.is_offline:
        return OFFLINE_VERSION
    return f"{PYDANTIC_AI}; prompt {call.prompt.template}@{call.prompt.template_digest[:19]}"


def _result(spec: AgentSpec, ctx: AgentContext, call: AgentCall) -> AgentResult:
    provenance = Provenance(
        agent=spec.name,
        phase=ctx.phase,
        provider=call.model.provider,
        model=call.model.name,
        generator_version=_generator_version(call),
        inputs=input_hashes(ctx),
        output_hash=content_hash(call.output),
    )
    return AgentResult(
        agent=spec.name,
        phase=ctx.phase,
        output=call.output,
        provenance=provenance,
        iteration=ctx.iteration,
        call=call.record,
    )


def _raw_as_output(raw: str | None) -> dict[str, Any]:
    """The raw output as the JSON object it claims to be, else wrapped so the gate can show it."""
    try:
        value = json.loads(raw) if raw is not None else None
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"invalid_output": raw}


def _invalid_result(spec: AgentSpec, ctx: AgentContext, exc: ModelOutputInvalidError) -> AgentResult:
    log.warning("agent %s: %s", spec.name, exc.message)
    output = _raw_as_output(exc.last_raw_output)
    record: CallRecord | None = getattr(exc, "call_record", None)
    version = OFFLINE_VERSION if exc.provider == "offline" else PYDANTIC_AI
    provenance = Provenance(
        agent=spec.name,
        phase=ctx.phase,
        provider=exc.provider,
        model=exc.model,
        generator_version=version,
        inputs=input_hashes(ctx),
        output_hash=content_hash(output),
    )
    return AgentResult(
        agent=spec.name,
        phase=ctx.phase,
        output=output,
        provenance=provenance,
        iteration=ctx.iteration,
        call=record,
    )
