"""Contradictions guard: must/must-not pairs, goals against non-goals, one subject with two numbers.

Offline and deterministic. Statements are grouped by subject (their content stems without modal,
negation and generic words), so the work is linear in the size of the artifacts; only goals
against non-goals, which are few, are compared pairwise.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ideamine_core.domain.artifact import canonical_json
from ideamine_core.domain.evidence import GateReason, GuardResult
from ideamine_core.domain.phase import GuardSpec
from ideamine_core.phase.claims import Statement, clean_text, excerpt
from ideamine_core.phase.guards.base import GuardInput, count_result

_NEG = re.compile(
    r"\b(?:shall|must|should|will|may|can|do|does|is|are)\s+not\b|"
    r"\b(?:won't|wont|can't|cannot|mustn't|shouldn't|shan't|never)\b"
)
_POS = re.compile(r"\b(?:shall|must|should|will|can|needs? to|has to|have to|(?:is|are) required to)\b")
NEG_FIELDS = frozenset({"non_goals", "out_of_scope", "exclusions", "anti_goals"})
POS_FIELDS = frozenset({"goals", "objectives", "constraints", "requirements", "differentiators"})
_DROP = frozenset(
    "not never cannot won wont don doesn mustn shouldn shan t system product app application service "
    "platform solution tool".split()
)
_NUMBER = re.compile(
    r"(\d+(?:\.\d+)?)\s*(%|percent|ms|milliseconds?|seconds?|secs?|s|minutes?|mins?|hours?|h|days?|"
    r"kb|mb|gb|users?|editors?|requests?)\b"
)
_DIGIT = re.compile(r"\d")
_NUMERIC_VALUE = re.compile(r"^\s*(?:[<>]=?|[≤≥=~])?\s*\d+(?:\.\d+)?\s*(?:%|ms|s|kb|mb|gb|usd)?\s*$", re.I)
_COMPARATORS = frozenset(
    "under below above less more least most than within at up to max min maximum minimum".split()
)
_IDENTITY_KEYS = ("metric", "endpoint", "name", "module", "path", "title", "id")
_UNITS = {
    "%": ("pct", 1.0), "percent": ("pct", 1.0), "ms": ("time", 0.001), "millisecond": ("time", 0.001),
    "s": ("time", 1.0), "sec": ("time", 1.0), "second": ("time", 1.0), "min": ("time", 60.0),
    "minute": ("time", 60.0), "h": ("time", 3600.0), "hour": ("time", 3600.0), "day": ("time", 86400.0),
    "kb": ("size", 1.0), "mb": ("size", 1024.0), "gb": ("size", 1048576.0), "user": ("users", 1.0),
    "editor": ("users", 1.0), "request": ("requests", 1.0),
}  # fmt: skip


@dataclass(frozen=True)
class Conflict:
    """Two items that cannot both hold."""

    kind: str
    first: str
    second: str
    detail: str
    agents: tuple[str, ...]

    def reason(self) -> GateReason:
        """The conflict as a gate reason naming both items."""
        return GateReason(
            code="contradictions",
            item=f"{self.first} ↔ {self.second}",
            detail=f"{self.kind}: {self.detail}",
            agents=sorted(set(self.agents)),
        )


def polarity(statement: Statement) -> int:
    """+1 asserted, -1 denied, 0 neither (descriptive text is not compared)."""
    lowered = statement.text.lower()
    negated = _NEG.search(lowered) is not None
    if statement.field in NEG_FIELDS:
        return 1 if negated else -1
    if negated:
        return -1
    if _POS.search(lowered) or statement.field in POS_FIELDS:
        return 1
    return 0


def subject(statement: Statement) -> frozenset[str]:
    """What a statement is about: its content stems without negation and generic words."""
    return frozenset(s for s in statement.stems if s not in _DROP and not _NUMBER.fullmatch(s))


def opposed(a: Statement, b: Statement) -> bool:
    """True when one asserts what the other denies about the same subject."""
    pa, pb = polarity(a), polarity(b)
    if pa * pb != -1:
        return False
    sa, sb = subject(a), subject(b)
    if sa and sa == sb:
        return True
    fuzzy = {a.field, b.field} & NEG_FIELDS and not ({a.field, b.field} <= NEG_FIELDS)
    return bool(fuzzy) and _similar(sa, sb)


def _similar(a: frozenset[str], b: frozenset[str]) -> bool:
    shared = len(a & b)
    return shared >= 2 and shared / len(a | b) >= 0.6


def _pair(kind: str, a: Statement, b: Statement, what: str) -> Conflict:
    detail = f'{what}: {a.item}: "{excerpt(a.text)}" / {b.item}: "{excerpt(b.text)}"'
    return Conflict(kind, a.item, b.item, detail, (a.agent, b.agent))


def polarity_conflicts(statements: Sequence[Statement]) -> list[Conflict]:
    """Must/must-not pairs on one subject, and goals that are also non-goals."""
    groups: dict[frozenset[str], list[Statement]] = defaultdict(list)
    for st in statements:
        if polarity(st) and subject(st):
            groups[subject(st)].append(st)
    found: list[Conflict] = []
    for key, members in groups.items():
        pos = [m for m in members if polarity(m) > 0]
        neg = [m for m in members if polarity(m) < 0]
        if pos and neg:
            found.append(_pair("must / must-not", pos[0], neg[0], f"on '{' '.join(sorted(key))}'"))
    found.extend(_scope_conflicts(statements, {(c.first, c.second) for c in found}))
    return found


def _scope_conflicts(statements: Sequence[Statement], seen: set[tuple[str, str]]) -> list[Conflict]:
    negs = [s for s in statements if s.field in NEG_FIELDS and subject(s)]
    poss = [s for s in statements if s.field in POS_FIELDS and polarity(s) > 0 and subject(s)]
    if len(negs) * len(poss) > 250_000:  # pathological size: exact subjects were compared above
        return []
    out = []
    for n in negs:
        for p in poss:
            if (p.item, n.item) not in seen and subject(n) != subject(p) and _similar(subject(n), subject(p)):
                out.append(_pair("goal / non-goal", p, n, "the same thing is in and out of scope"))
                seen.add((p.item, n.item))
    return out


def _unit(token: str) -> tuple[str, float] | None:
    return _UNITS.get(token) or _UNITS.get(token.rstrip("s"))


def numeric_facts(statement: Statement) -> Iterator[tuple[str, float]]:
    """(unit class, value in base units) for each number with a unit in a requirement-like sentence."""
    if not polarity(statement):
        return
    for number, unit in _NUMBER.findall(statement.text.lower()):
        known = _unit(unit)
        if known is not None:
            yield known[0], float(number) * known[1]


def number_conflicts(statements: Sequence[Statement]) -> list[Conflict]:
    """One subject stated with two different numbers of the same kind (e.g. p95 300 ms and 500 ms)."""
    seen: dict[tuple[frozenset[str], str], tuple[float, Statement]] = {}
    found: list[Conflict] = []
    for st in statements:
        facts = list(numeric_facts(st)) if _DIGIT.search(st.text) else []
        if not facts:
            continue
        key_words = frozenset(
            w for w in subject(st) if w not in _COMPARATORS and not w[:1].isdigit() and _unit(w) is None
        )
        for unit, value in facts:
            key = (key_words, unit)
            if not key_words:
                continue
            if key in seen and abs(seen[key][0] - value) > 1e-9:
                found.append(
                    _pair("one number, two values", seen[key][1], st, f"'{' '.join(sorted(key_words))}'")
                )
            seen.setdefault(key, (value, st))
    return found


def _identity(value: Mapping[str, Any]) -> str | None:
    for key in _IDENTITY_KEYS:
        found = value.get(key)
        if isinstance(found, str) and found.strip():
            return clean_text(found).strip().lower()
    return None


@dataclass(frozen=True)
class _Fact:
    path: tuple[str, ...]
    keyed: bool
    value: str
    owner: str | None


def _facts(value: Any, path: tuple[str, ...], keyed: bool, owner: str | None) -> Iterator[_Fact]:
    if isinstance(value, Mapping):
        own = value.get("id")
        owner = clean_text(own) if isinstance(own, str) and own.strip() else owner
        for key in sorted(value, key=str):
            yield from _facts(value[key], (*path, str(key)), keyed, owner)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            ident = _identity(item) if isinstance(item, Mapping) else None
            step = f"[{ident}]" if ident else f"[#{i}]"
            yield from _facts(item, (*path, step), keyed or bool(ident), owner)
    elif isinstance(value, bool):
        return
    elif isinstance(value, int | float) or (isinstance(value, str) and _NUMERIC_VALUE.match(value)):
        yield _Fact(path, keyed, " ".join(str(value).split()).lower(), owner)


def structured_conflicts(outputs: Mapping[str, Mapping[str, Any]]) -> list[Conflict]:
    """Two list items with the same identity (metric, endpoint, name, …) but different numbers."""
    seen: dict[tuple[str, ...], tuple[str, _Fact]] = {}
    found: list[Conflict] = []
    for agent in sorted(outputs):
        for fact in _facts(outputs[agent], (), False, None):
            if not fact.keyed:
                continue
            if fact.path in seen and seen[fact.path][1].value != fact.value:
                first_agent, first = seen[fact.path]
                where = clean_text(
                    "".join(p if p.startswith("[") else f".{p}" for p in fact.path).lstrip(".")
                )
                a = first.owner if first.owner and first.owner != fact.owner else f"{first_agent}.{where}"
                b = fact.owner if fact.owner and first.owner != fact.owner else f"{agent}.{where}"
                detail = f"{where} is {first.value} ({a}) and {fact.value} ({b})"
                found.append(Conflict("one number, two values", a, b, detail, (first_agent, agent)))
            seen.setdefault(fact.path, (agent, fact))
    return found


def duplicate_ids(outputs: Mapping[str, Mapping[str, Any]]) -> list[Conflict]:
    """The same id defined twice with different content (e.g. two different REQ-3)."""
    seen: dict[str, tuple[str, str]] = {}
    found: list[Conflict] = []
    for agent in sorted(outputs):
        for ident, body in _with_ids(outputs[agent]):
            if ident in seen and seen[ident][1] != body:
                found.append(
                    Conflict(
                        "one id, two definitions",
                        ident,
                        ident,
                        f"{ident} is defined twice with different content",
                        (seen[ident][0], agent),
                    )
                )
            seen.setdefault(ident, (agent, body))
    return found


def _with_ids(value: Any) -> Iterable[tuple[str, str]]:
    if isinstance(value, Mapping):
        ident = value.get("id")
        if isinstance(ident, str) and ident.strip():
            yield clean_text(ident), canonical_json(_plain(value))
        for item in value.values():
            yield from _with_ids(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _with_ids(item)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str | bytes | bytearray):
        return clean_text(value)
    return value


def find_conflicts(
    statements: Sequence[Statement], outputs: Mapping[str, Mapping[str, Any]]
) -> list[Conflict]:
    """Every contradiction found in the statements and structured outputs, without duplicates."""
    found = polarity_conflicts(statements) + number_conflicts(statements)
    found += structured_conflicts(outputs) + duplicate_ids(outputs)
    unique: dict[tuple[str, str, str], Conflict] = {}
    for c in found:
        unique.setdefault((c.kind, *sorted((c.first, c.second))), c)
    return list(unique.values())


def contradictions(spec: GuardSpec, data: GuardInput) -> GuardResult:
    """Count contradictions; more than `threshold` fails, each reason names the two items."""
    outputs = {agent: r.output for agent, r in data.latest.items() if isinstance(r.output, Mapping)}
    conflicts = find_conflicts(data.statements, outputs)
    reasons = [c.reason() for c in conflicts]
    metrics = {"contradictions_found": float(len(conflicts)), "statements": float(len(data.statements))}
    return count_result(spec, len(conflicts), reasons, metrics)


__all__ = ["Conflict", "contradictions", "find_conflicts", "opposed", "polarity", "subject"]
