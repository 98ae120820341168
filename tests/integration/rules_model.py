"""A fake model that reads an agent's prompt and answers with what the offline rules give for it.

The request carries everything an agent sees (SPEC 7): the system instructions name the agent and its
phase; the user prompt (`agents/prompts/_agent.j2`) renders the idea, its users and constraints, the
latest output of every upstream agent, the outputs before it in its phase, the iteration and the extra
instruction. `context_of(request)` parses that back into an AgentContext and `rules_answer` applies the
agent's offline rule to it, so a fake server using it plays a model that follows its prompt on every
phase — with no recorded oracle run, and on both protocols (OpenAI chat-completions and Anthropic).
"""

from __future__ import annotations

import json
import re
from typing import Any

from fake_llm import Reply, user_text

from ideamine_core.agents.registry import get_agent
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import AgentResult, PhaseArtifact, Provenance
from ideamine_core.domain.idea import IdeaSubmission

_WHO = re.compile(r"You are (?P<agent>\w+), an agent of the (?P<phase>\w+) phase")
_SECTION = re.compile(r"^# (.+)$", re.MULTILINE)
_BLOCK = re.compile(r"^## (?P<name>[^\n]+)\n```json\n(?P<json>.*?)\n```$", re.MULTILINE | re.DOTALL)
_ITERATION = re.compile(r"This is iteration (\d+) of an iterative phase")
_SHOWN = {"provider": "prompt", "model": "prompt", "generator_version": "-", "output_hash": "-"}
_FOLLOW = "\nFollow it, and record in `notes` that you did."


def system_text(body: dict[str, Any]) -> str:
    """The system instructions of a request (OpenAI: system/developer messages; Anthropic: `system`)."""
    system = body.get("system")
    if system is not None:
        return system if isinstance(system, str) else "".join(b.get("text", "") for b in system)
    parts = [m["content"] for m in body["messages"] if m["role"] in ("system", "developer")]
    return "\n".join(p if isinstance(p, str) else "".join(b.get("text", "") for b in p) for p in parts)


def _sections(prompt: str) -> dict[str, str]:
    """Top-level `# Title` sections of a prompt (JSON blocks never start a line with '#')."""
    marks = list(_SECTION.finditer(prompt))
    return {
        m.group(1).strip(): prompt[m.end() : marks[i + 1].start() if i + 1 < len(marks) else None].strip("\n")
        for i, m in enumerate(marks)
    }


def _submission(text: str) -> IdeaSubmission:
    lines, users, constraints = [], [], []
    for line in text.splitlines():
        if line.startswith("Target users: "):
            users = line.removeprefix("Target users: ").split(", ")
        elif line.startswith("Constraints: "):
            constraints = line.removeprefix("Constraints: ").split("; ")
        else:
            lines.append(line)
    return IdeaSubmission(idea="\n".join(lines).strip(), users=users, constraints=constraints)


def _blocks(text: str) -> dict[str, dict[str, Any]]:
    return {m.group("name").strip(): json.loads(m.group("json")) for m in _BLOCK.finditer(text)}


def _artifact(phase: str, outputs: dict[str, dict[str, Any]]) -> PhaseArtifact:
    """An upstream artifact holding the outputs the prompt shows (all the rules read of it)."""
    results = [
        AgentResult(
            agent=agent,
            phase=phase,
            output=output,
            provenance=Provenance(agent=agent, phase=phase, **_SHOWN),
        )
        for agent, output in outputs.items()
    ]
    return PhaseArtifact(phase=phase, results=results, aggregate={}, aggregation_strategy="merge")


def context_of(body: dict[str, Any]) -> AgentContext:
    """The AgentContext a request's prompt shows (KeyError when it is not an IdeaMine agent prompt)."""
    who = _WHO.search(system_text(body))
    if who is None:
        raise KeyError("not an IdeaMine agent prompt")
    sections = _sections(user_text(body))
    upstream: dict[str, dict[str, dict[str, Any]]] = {}
    for name, output in _blocks(sections.get("Outputs of earlier phases", "")).items():
        phase, agent = (part.strip() for part in name.split(" / ", 1))
        upstream.setdefault(phase, {})[agent] = output
    instruction = sections.get("Extra instruction for this run")
    iteration = _ITERATION.search(sections.get("Iteration", ""))
    return AgentContext(
        run_id="prompt",
        phase=who.group("phase"),
        agent=who.group("agent"),
        submission=_submission(sections["The idea"]),
        upstream={phase: _artifact(phase, outputs) for phase, outputs in upstream.items()},
        previous=_blocks(sections.get("Outputs of the agents before you in this phase", "")),
        iteration=int(iteration.group(1)) if iteration else 0,
        instruction=instruction.removesuffix(_FOLLOW.strip()).strip() if instruction else None,
    )


def rules_output(body: dict[str, Any]) -> dict[str, Any]:
    """What the agent's offline rule outputs for the context the request's prompt shows."""
    ctx = context_of(body)
    return get_agent(ctx.agent).offline_rule(ctx).model_dump(mode="json")


def rules_answer(body: dict[str, Any]) -> Reply:
    """A responder: the rules' output as the output tool call (HTTP 400 for a request it cannot read)."""
    try:
        return Reply(output=rules_output(body))
    except (KeyError, ValueError) as exc:
        return Reply(status=400, body=json.dumps({"error": {"message": f"fake model: {exc}"}}))
