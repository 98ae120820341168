"""Run one agent task: provider → schema validation → provenance."""

from __future__ import annotations

import logging

from pydantic import ValidationError

from ideamine_core.agents.spec import AgentSpec
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import AgentResult, Provenance, content_hash
from ideamine_core.providers.base import Provider

log = logging.getLogger(__name__)


def input_hashes(ctx: AgentContext) -> dict[str, str]:
    """Content hashes of everything the agent was given, by input name."""
    hashes = {"submission": content_hash(ctx.submission)}
    hashes.update({f"phase:{name}": art.hash() for name, art in sorted(ctx.upstream.items())})
    hashes.update({f"agent:{name}": content_hash(out) for name, out in sorted(ctx.previous.items())})
    if ctx.instruction:
        hashes["instruction"] = content_hash(ctx.instruction)
    return hashes


def run_agent(spec: AgentSpec, ctx: AgentContext, provider: Provider) -> AgentResult:
    """Produce the agent's result; an output that fails its schema is kept raw for the gate to judge."""
    raw = provider.generate(spec, ctx)
    try:
        output = spec.output_model.model_validate(raw).model_dump(mode="json")
    except ValidationError as exc:
        log.warning("agent %s returned output that fails %s: %s", spec.name, spec.output_model.__name__, exc)
        output = raw
    provenance = Provenance(
        agent=spec.name,
        phase=ctx.phase,
        provider=provider.name,
        model=provider.model,
        generator_version=provider.version,
        inputs=input_hashes(ctx),
        output_hash=content_hash(output),
    )
    return AgentResult(
        agent=spec.name, phase=ctx.phase, output=output, provenance=provenance, iteration=ctx.iteration
    )
