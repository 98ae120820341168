"""Render an agent's prompt from its AgentContext with its Jinja2 template (one file per agent).

`prompts/_system.j2` gives every agent the same instructions (its role, the output contract);
`prompts/<AgentName>.j2` extends `prompts/_agent.j2` with the agent's task, above the shared blocks
that render the idea, the upstream phases' outputs, earlier outputs of this phase and the extra
instruction. Only outputs are rendered, never provenance (which names the provider), so the same
context gives the same prompt on every provider and every run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel, ConfigDict

from ideamine_core.agents.registry import PHASES
from ideamine_core.agents.spec import AgentSpec
from ideamine_core.domain.agent import AgentContext
from ideamine_core.errors import ConfigError

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
SYSTEM_TEMPLATE = "_system.j2"
LAYOUT_TEMPLATE = "_agent.j2"


class Prompt(BaseModel):
    """A rendered prompt: system instructions, the user message, and the template that made it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instructions: str
    user: str
    template: str
    template_digest: str


def template_name(agent: str) -> str:
    """The default template file of an agent."""
    return f"{agent}.j2"


def _json(value: Any) -> str:
    # compact: indentation is a third of the tokens of a large output and tells a model nothing
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@cache
def _environment(search: tuple[str, ...]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(list(search)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - prompts are plain text, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["json"] = _json
    return env


def _search_path(extra_dirs: Sequence[Path]) -> tuple[str, ...]:
    return (*(str(Path(d)) for d in extra_dirs), str(PROMPTS_DIR))


def _upstream_outputs(ctx: AgentContext) -> dict[str, dict[str, Any]]:
    """Latest output per agent of every upstream phase, phases in pipeline order."""
    order = {p: i for i, p in enumerate(PHASES)}
    outputs: dict[str, dict[str, Any]] = {}
    for phase in sorted(ctx.upstream, key=lambda p: (order.get(p, len(order)), p)):
        latest: dict[str, Any] = {}
        for result in sorted(ctx.upstream[phase].results, key=lambda r: (r.iteration, r.agent)):
            latest[result.agent] = result.output
        outputs[phase] = dict(sorted(latest.items()))
    return outputs


def template_variables(spec: AgentSpec, ctx: AgentContext) -> dict[str, Any]:
    """What every template may use: the agent, the idea, upstream and earlier outputs, the instruction."""
    model = spec.output_model
    return {
        "agent": spec.name,
        "role": spec.role,
        "phase": spec.phase,
        "output_name": model.__name__,
        "output_doc": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else "",
        "idea": ctx.submission.idea,
        "users": list(ctx.submission.users),
        "constraints": list(ctx.submission.constraints),
        "upstream": _upstream_outputs(ctx),
        "previous": dict(sorted(ctx.previous.items())),
        "iteration": ctx.iteration,
        "iterative": spec.done_field is not None or ctx.iteration > 0,
        "instruction": ctx.instruction,
    }


def render_prompt(
    spec: AgentSpec,
    ctx: AgentContext,
    template: str | None = None,
    extra_dirs: Sequence[Path] = (),
) -> Prompt:
    """The agent's prompt; `template` overrides its default file (looked up in `extra_dirs` first)."""
    env = _environment(_search_path(extra_dirs))
    name = template or template_name(spec.name)
    variables = template_variables(spec, ctx)
    try:
        user_template = env.get_template(name)
        system = env.get_template(SYSTEM_TEMPLATE).render(variables)
        user = user_template.render(variables)
    except jinja2.TemplateNotFound as exc:
        raise ConfigError(
            str(PROMPTS_DIR / name),
            "prompt",
            f"prompt template {exc.name!r} of agent {spec.name} does not exist",
            f"create it in {PROMPTS_DIR} (or the phase config's prompt folder), or fix the `prompt` name",
        ) from None
    except jinja2.TemplateError as exc:
        raise ConfigError(
            name,
            "prompt",
            f"prompt template of agent {spec.name} failed to render: {exc}",
            "fix the template",
        ) from None
    digest = _digest(env, (name, LAYOUT_TEMPLATE, SYSTEM_TEMPLATE))
    return Prompt(
        instructions=system.strip(), user=user.strip() + "\n", template=name, template_digest=digest
    )


def _digest(env: jinja2.Environment, names: Sequence[str]) -> str:
    """sha256 over the sources of the templates a prompt is made of."""
    digest = hashlib.sha256()
    assert env.loader is not None
    for name in names:
        source, _, _ = env.loader.get_source(env, name)
        digest.update(name.encode() + b"\0" + source.encode() + b"\0")
    return "sha256:" + digest.hexdigest()
