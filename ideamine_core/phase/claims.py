"""Claims and evidence text: agent outputs and upstream artifacts as safe, comparable statements.

Every guard and the Q/A/V triad read artifacts through this module, so hostile text is handled once:
bytes and lone surrogates are replaced, invisible characters (Unicode tags, zero-width, bidi
controls) are removed before comparison, and code or notes are never treated as claims.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import AgentResult, PhaseArtifact
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.redaction import redact

INVISIBLE = re.compile(
    "[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000e0000-\U000e007f]"
)
"""Characters that render as nothing but can carry hidden instructions (tags, zero-width, bidi)."""

SKIP_KEYS = frozenset({"notes", "content", "openapi", "command", "test_command", "entry_point", "purl"})
"""Output keys whose strings are code, documents or echoed instructions, never claims."""

_ID_KEY = re.compile(r"(^|_)(id|ids|path|paths|location|version)$")
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
_WORD = re.compile(r"[a-z0-9]+")
MAX_EXCERPT = 160

STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each either every few for from further
    had has have having he her here hers him his how i if in into is it its itself just let me more
    most my no nor not of off on once only or other our ours out over own per same she so some such
    than that the their theirs them then there these they this those through to too under until up
    upon us very via was we were what when where which while who whom why with within without would
    you your yours one each its it's etc e g i e""".split()
)
MODALS = frozenset("shall must should will need needs has have required require able may might".split())


def clean_text(value: object) -> str:
    """`value` as valid, visible text: bytes decoded, lone surrogates replaced, invisibles removed."""
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", "replace")
    else:
        text = value if isinstance(value, str) else str(value)
    text = text.encode("utf-8", "replace").decode("utf-8")
    return INVISIBLE.sub("", text)


def excerpt(text: str, limit: int = MAX_EXCERPT) -> str:
    """A short, clean, single-line, secret-redacted excerpt safe for a reason, a frame or an event."""
    flat = redact(" ".join(clean_text(text).split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def has_invisible(text: str) -> bool:
    """True when `text` holds characters that render as nothing (e.g. Unicode tag characters)."""
    return INVISIBLE.search(text) is not None


def is_invalid_unicode(value: object) -> bool:
    """True for bytes that are not UTF-8 and for strings with lone surrogates."""
    if isinstance(value, bytes | bytearray):
        try:
            bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
    return False


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """A light suffix-stripping stem, so 'changes', 'changed' and 'changing' compare equal."""
    w = word
    if len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 4 and w.endswith(("sses", "xes", "ches", "shes")):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ing", "ed", "ly"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            w = w[: -len(suffix)]
            if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouls":
                w = w[:-1]
            break
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


def words(text: str) -> list[str]:
    """Lower-case word tokens (hyphenated words split), invisibles removed."""
    return _WORD.findall(clean_text(text).lower())


def content_stems(text: str) -> frozenset[str]:
    """The stems of the content words: no stopwords, modals or bare numbers."""
    return frozenset(
        stem(w) for w in words(text) if w not in STOPWORDS and w not in MODALS and not w.isdigit()
    )


@dataclass(frozen=True)
class Statement:
    """One sentence of an output: who said it, in which item and field."""

    agent: str
    item: str
    field: str
    text: str
    phase: str = ""
    stems: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def source(self) -> str:
        """Where the statement is: 'idea', 'REQ-3', 'prd.PRDWriter.goals[1]', 'intake.Validator.goals[0]'."""
        if self.agent == "submission":
            return self.item
        parts = [self.phase, "" if self.item.startswith(f"{self.agent}.") else self.agent, self.item]
        return ".".join(p for p in parts if p)


def _path_label(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "<root>"


def walk_strings(
    value: Any, path: tuple[str | int, ...] = (), owner: str | None = None
) -> Iterator[tuple[str | None, str, str, Any]]:
    """(owning object's id, path label, field name, raw string) for every claim-bearing string."""
    if isinstance(value, Mapping):
        own_id = value.get("id")
        own = own_id if isinstance(own_id, str) and own_id.strip() else owner
        for key in sorted(value, key=str):
            name = str(key)
            if name in SKIP_KEYS or _ID_KEY.search(name):
                continue
            yield from walk_strings(value[key], (*path, name), own)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from walk_strings(item, (*path, i), owner)
    elif isinstance(value, str | bytes | bytearray):
        names = [p for p in path if isinstance(p, str)]
        yield owner, _path_label(path), (names[-1] if names else ""), value


def sentences(text: str) -> list[str]:
    """`text` split into sentences (on . ! ? ; and line breaks), stripped, empties dropped."""
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def statements_of(output: Mapping[str, Any], agent: str, phase: str = "") -> list[Statement]:
    """Every sentence of one agent's output as a Statement."""
    out: list[Statement] = []
    for owner, path, name, raw in walk_strings(output):
        label = clean_text(owner) if owner else f"{agent}.{path}"
        for sentence in sentences(clean_text(raw)):
            out.append(Statement(agent, label, name, sentence, phase, content_stems(sentence)))
    return out


def latest(results: Sequence[AgentResult]) -> dict[str, AgentResult]:
    """The latest result of each agent, by position (a later re-run supersedes an earlier draft)."""
    out: dict[str, AgentResult] = {}
    for result in results:
        out[result.agent] = result
    return out


def phase_statements(results: Sequence[AgentResult]) -> list[Statement]:
    """Statements of every agent's latest output, in agent-name order."""
    found = latest(results)
    return [s for agent in sorted(found) for s in statements_of(found[agent].output, agent)]


@dataclass(frozen=True)
class GateContext:
    """What a gate may use as evidence: the submission and the upstream phase artifacts."""

    submission: IdeaSubmission
    upstream: Mapping[str, PhaseArtifact] = field(default_factory=dict)

    @classmethod
    def of(cls, ctx: AgentContext) -> GateContext:
        """The gate context of a phase, from any of its planned agent contexts."""
        return cls(ctx.submission, dict(ctx.upstream))

    def submission_statements(self) -> list[Statement]:
        """The idea, users and constraints as statements (source 'idea', 'users[0]', ...)."""
        sub = self.submission
        rows = [("idea", "idea", sub.idea)]
        rows += [(f"users[{i}]", "users", u) for i, u in enumerate(sub.users)]
        rows += [(f"constraints[{i}]", "constraints", c) for i, c in enumerate(sub.constraints)]
        out = []
        for item, name, text in rows:
            for sentence in sentences(clean_text(text)) or [clean_text(text)]:
                out.append(Statement("submission", item, name, sentence, "", content_stems(sentence)))
        return out

    def upstream_statements(self) -> list[Statement]:
        """Every statement of every upstream artifact's latest outputs, labelled with its phase."""
        out: list[Statement] = []
        for phase in sorted(self.upstream):
            found = latest(self.upstream[phase].results)
            for agent in sorted(found):
                out.extend(statements_of(found[agent].output, agent, phase))
        return out

    def upstream_output(self, phase: str, agent: str) -> dict[str, Any] | None:
        """An upstream agent's latest output, or None."""
        artifact = self.upstream.get(phase)
        if artifact is None:
            return None
        found = latest(artifact.results).get(agent)
        return found.output if found is not None else None
