"""Untrusted-text hygiene: strip invisible Unicode, reveal text hidden in tag characters, flag injections.

Model-proposed files, test output and tool results are untrusted: before they are stored or handed to a
model they go through `sanitize`, which removes invisible characters (Unicode tags U+E0000–E007F,
zero-width and bidi controls, variation selectors, soft hyphens; every other format character too) and
returns the signals of obvious prompt-injection payloads, including those spelled in tag characters.
Signals are evidence for the ledger, never a reason to execute anything: the workspace path policy and
the sandbox enforce what may happen, whatever a text says.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "InjectionSignal",
    "Sanitized",
    "detect_injection",
    "reveal_tags",
    "sanitize",
    "sanitize_value",
    "strip_invisible",
]

_TAGS = range(0xE0000, 0xE0080)
_EXTRA_INVISIBLE = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0]
    + list(range(0xFE00, 0xFE10))
    + list(range(0xE0100, 0xE01F0))
)
_KEEP = frozenset("\t\n\r")

_PATTERNS: dict[str, re.Pattern[str]] = {
    "override_instructions": re.compile(
        r"\b(ignore|disregard|forget|override)\b[^\n]{0,40}?\b(previous|prior|above|earlier|all|system|"
        r"your|the)\b[^\n]{0,20}?\b(instructions?|prompts?|rules|guidelines|directions)\b",
        re.IGNORECASE,
    ),
    "role_hijack": re.compile(
        r"\byou are now\b|\bnew (system )?instructions?\s*:|\bact as (the )?(system|root|admin)",
        re.IGNORECASE,
    ),
    "exfiltrate_environment": re.compile(
        r"\b(print|dump|show|reveal|send|leak|echo|output|list)\b[^\n]{0,40}?\b(the )?(environment"
        r"( variables)?|env vars?|api[ _-]?keys?|secrets|credentials|passwords)\b|\bprintenv\b",
        re.IGNORECASE,
    ),
    "network_fetch": re.compile(
        r"\b(curl|wget|ncat|netcat|nc)\s+(-\S+\s+)*(https?://|[\w.-]+\.[a-z]{2,}\b|\d+\.\d+\.\d+\.\d+)",
        re.IGNORECASE,
    ),
    "sensitive_path": re.compile(
        r"~/\.(bashrc|profile|zshrc|ssh)\b|\.ssh/|authorized_keys|/etc/(passwd|shadow|sudoers)\b|"
        r"\.aws/credentials|/proc/(\d+|self)/environ",
        re.IGNORECASE,
    ),
    "destructive_shell": re.compile(
        r"\brm\s+-[a-z]*r[a-z]*f|\bmkfs\b|\bdd\s+if=|:\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:",
        re.IGNORECASE,
    ),
    "encoded_payload": re.compile(
        r"base64\s+(-d|--decode)\b[^\n]{0,20}\|\s*(ba)?sh\b|\|\s*(ba)?sh\s*$", re.IGNORECASE | re.MULTILINE
    ),
}


class InjectionSignal(BaseModel):
    """One sign of a prompt-injection payload in untrusted text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = Field(description="Pattern family, e.g. 'override_instructions', 'network_fetch'.")
    excerpt: str = Field(
        description="The matching text, at most 80 characters, invisible characters removed."
    )
    hidden: bool = Field(
        default=False, description="True when the payload was spelled in Unicode tag characters."
    )


class Sanitized(BaseModel):
    """Text with invisible characters removed, and what was found in it."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="The text without invisible characters.")
    removed: int = Field(ge=0, description="Number of invisible characters removed.")
    hidden_text: str = Field(default="", description="ASCII that was spelled in Unicode tag characters.")
    signals: list[InjectionSignal] = Field(default_factory=list, description="Injection signals found.")


def _invisible(ch: str) -> bool:
    if ch in _KEEP:
        return False
    code = ord(ch)
    return code in _TAGS or code in _EXTRA_INVISIBLE or unicodedata.category(ch) in ("Cf", "Zl", "Zp")


def strip_invisible(text: str) -> tuple[str, int]:
    """`text` without invisible characters, and how many were removed."""
    kept = [ch for ch in text if not _invisible(ch)]
    return "".join(kept), len(text) - len(kept)


def reveal_tags(text: str) -> str:
    """The ASCII spelled by Unicode tag characters (U+E0020–E007E) in `text`; '' when there is none."""
    return "".join(chr(ord(ch) - 0xE0000) for ch in text if 0xE0020 <= ord(ch) <= 0xE007E)


def detect_injection(text: str, *, hidden: bool = False) -> list[InjectionSignal]:
    """Signals of obvious prompt-injection payloads in `text`, in pattern order, one per distinct match."""
    clean, _ = strip_invisible(text)
    found: dict[tuple[str, str], InjectionSignal] = {}
    for kind, pattern in _PATTERNS.items():
        for match in pattern.finditer(clean):
            excerpt = match.group(0).strip()[:80]
            found.setdefault((kind, excerpt), InjectionSignal(kind=kind, excerpt=excerpt, hidden=hidden))
    return list(found.values())


def sanitize(text: str) -> Sanitized:
    """Strip invisible characters and collect injection signals from the visible and the hidden text."""
    clean, removed = strip_invisible(text)
    hidden = reveal_tags(text)
    signals = detect_injection(clean)
    if hidden:
        signals += [s for s in detect_injection(hidden, hidden=True) if s not in signals]
    return Sanitized(text=clean, removed=removed, hidden_text=hidden[:2000], signals=signals)


def sanitize_value(value: Any) -> tuple[Any, int, list[InjectionSignal]]:
    """A JSON-like value with every string (keys too) stripped of invisible characters; how many were
    removed, and the injection signals of the text that was spelled in tag characters."""
    removed = 0
    signals: list[InjectionSignal] = []

    def clean(item: Any) -> Any:
        nonlocal removed
        if isinstance(item, str):
            text, count = strip_invisible(item)
            if count:
                removed += count
                hidden = reveal_tags(item)
                signals.extend(s for s in detect_injection(hidden, hidden=True) if s not in signals)
            return text
        if isinstance(item, dict):
            return {clean(k): clean(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [clean(v) for v in item]
        return item

    return clean(value), removed, signals
