"""Schema guard: every agent's output present, valid, with its required fields non-trivial and clean.

Builds on the first gate (`phase/gate.py`: present, valid against the typed output, not all empty)
and adds what a model can get wrong while still validating: required fields that are blank or a
placeholder, text that is not valid Unicode, invisible characters that can hide instructions, and
fields too large for anyone to read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from ideamine_core.domain.evidence import GateReason, GuardResult
from ideamine_core.domain.phase import GuardSpec
from ideamine_core.phase.claims import clean_text, has_invisible, is_invalid_unicode
from ideamine_core.phase.gate import evaluate_artifacts
from ideamine_core.phase.guards.base import GuardInput, param, share_result

_PLACEHOLDER = re.compile(r"^\s*(?:tbd|todo|tba|n/?a|none yet|lorem ipsum.*|\.{2,}|…|-+|\?+|xxx+)\s*$", re.I)


def _trivial(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip() or _PLACEHOLDER.match(value) is not None
    if isinstance(value, list | dict | tuple):
        return len(value) == 0
    return False


def trivial_fields(model: type[BaseModel], output: Mapping[str, Any]) -> list[str]:
    """Required fields of `model` whose value in `output` is blank, empty or a placeholder."""
    return [
        name for name, info in model.model_fields.items() if info.is_required() and _trivial(output.get(name))
    ]


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")
    elif isinstance(value, str | bytes | bytearray):
        yield path, value


MAX_FIELD_CHARS = 20_000
"""Longest prose field a reader can use; `max_field_chars` overrides it ("content" fields hold code)."""
MAX_CODE_CHARS = 1_000_000


def text_problems(
    agent: str, output: Mapping[str, Any], max_chars: int = MAX_FIELD_CHARS
) -> list[GateReason]:
    """Invalid Unicode, invisible characters and oversized fields, first occurrence of each per agent."""
    bad_text = hidden = huge = None
    for path, raw in _strings(output):
        if bad_text is None and is_invalid_unicode(raw):
            bad_text = path
        if hidden is None and isinstance(raw, str) and has_invisible(raw):
            hidden = path
        limit = MAX_CODE_CHARS if path.endswith(".content") or path == "content" else max_chars
        if huge is None and len(raw) > limit:
            huge = (path, len(raw), limit)
    out = []
    if huge is not None:
        path, size, limit = huge
        out.append(
            GateReason(
                code="oversized_field",
                item=f"{agent}.{clean_text(path)}",
                agents=[agent],
                detail=f"{size:,} characters, more than the {limit:,} a reader can use",
            )
        )
    if bad_text is not None:
        out.append(
            GateReason(
                code="invalid_text",
                item=f"{agent}.{clean_text(bad_text)}",
                agents=[agent],
                detail="text is not valid UTF-8 (undecodable bytes or lone surrogates)",
            )
        )
    if hidden is not None:
        out.append(
            GateReason(
                code="hidden_characters",
                item=f"{agent}.{clean_text(hidden)}",
                agents=[agent],
                detail="invisible characters (e.g. Unicode tags, zero-width) can hide instructions",
            )
        )
    return out


def schema(spec: GuardSpec, data: GuardInput) -> GuardResult:
    """Share of configured agents whose output is present, valid, non-trivial and clean."""
    first = evaluate_artifacts(data.config, data.results, data.schema_of)
    reasons = [r.model_copy(update={"agents": [r.item]}) for r in first.reasons]
    good = 0
    for agent in data.config.agent_names:
        own: list[GateReason] = []
        output = data.output(agent)
        if first.checked.get(agent) and isinstance(output, Mapping):
            for name in trivial_fields(data.schema_of(agent), output):
                own.append(
                    GateReason(
                        code="trivial_field",
                        item=f"{agent}.{name}",
                        agents=[agent],
                        detail="required field is blank, empty or a placeholder",
                    )
                )
        if isinstance(output, Mapping):
            own.extend(text_problems(agent, output, int(param(spec, "max_field_chars", MAX_FIELD_CHARS))))
        reasons.extend(own)
        good += bool(first.checked.get(agent)) and not own
    total = len(data.config.agent_names)
    metrics = {"agents_valid": float(good), "agents_expected": float(total)}
    return share_result(spec, good / total if total else 0.0, reasons, metrics)
