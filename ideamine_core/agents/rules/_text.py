"""Text helpers shared by the offline rules: tokens, keywords, slugs, casing and plurals."""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable

STOPWORDS: frozenset[str] = frozenset(
    (
        "a about an and app application apps are as at be build building by can create "
        "develop do for from get help i in into is it its let lets make me my new of on "
        "or our platform so some that the their them they this to tool tools use using "
        "want we which who will with without you your"
    ).split()
)
"""Words that never count as keywords."""

_TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z0-9]+|[A-Z]+|\d+")
_LEADING_VERBS = ("build", "create", "make", "develop", "design", "write", "launch")
_INVARIANT = frozenset({"data", "news", "series", "species", "status", "sms", "analytics"})


def tokens(text: str) -> list[str]:
    """Lower-case word tokens; hyphenated words such as 'real-time' stay one token."""
    return _TOKEN.findall(text.lower())


def keywords(text: str, limit: int = 8) -> list[str]:
    """Distinct non-stopword tokens in order of first appearance, at most `limit`."""
    seen: list[str] = []
    for token in tokens(text):
        if token in STOPWORDS or token.isdigit() or len(token) < 2 or token in seen:
            continue
        seen.append(token)
        if len(seen) >= limit:
            break
    return seen


def slug(text: str, max_words: int = 4) -> str:
    """A kebab-case slug of the first keywords, or 'idea' when there are none."""
    words = keywords(text, limit=max_words)
    return "-".join(words)[:48].strip("-") or "idea"


def snake(text: str) -> str:
    """A valid lower_snake_case Python identifier made from `text`."""
    parts = [p.lower() for p in _CAMEL.findall(text.replace("-", " "))]
    name = "_".join(p for p in parts if p) or "item"
    name = re.sub(r"[^a-z0-9_]", "", name)
    if name[0].isdigit():
        name = "n_" + name
    return name + "_" if keyword.iskeyword(name) else name


def camel_to_snake(name: str) -> str:
    """'PRDWriter' -> 'prd_writer', 'NFRs' -> 'nfrs', 'TechStack' -> 'tech_stack'."""
    name = re.sub(r"([A-Z]+)s$", lambda m: m.group(1).lower() + "s", name)
    return snake(name)


def split_camel(name: str) -> list[str]:
    """'TaskList' -> ['Task', 'List']; 'APIDesign' -> ['API', 'Design']."""
    return _CAMEL.findall(name)


def pascal(text: str) -> str:
    """'task list' -> 'TaskList'."""
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", text) if w)


def human(name: str) -> str:
    """An entity name for prose: 'TaskList' -> 'task list'."""
    return " ".join(w.lower() for w in split_camel(name)) or name.lower()


def with_article(phrase: str) -> str:
    """'task' -> 'a task', 'item' -> 'an item' (by the first letter only)."""
    return f"{'an' if phrase[:1].lower() in 'aeiou' else 'a'} {phrase}"


def entity_words(entity: str, container: str | None = None) -> dict[str, str]:
    """Template words for an entity: e, es, a_e and, for the container, c and a_c."""
    e, c = human(entity), human(container or entity)
    return {"e": e, "es": plural(e), "a_e": with_article(e), "c": c, "a_c": with_article(c)}


def kebab(name: str) -> str:
    """An entity name for URLs: 'TaskList' -> 'task-list'."""
    return "-".join(w.lower() for w in split_camel(name)) or name.lower()


def singular(word: str) -> str:
    """A naive English singular: 'tasks' -> 'task', 'categories' -> 'category'."""
    w = word.lower()
    if w in _INVARIANT or len(w) < 4 or w.endswith(("ss", "us", "is")):
        return w
    if w.endswith("ies"):
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "xes", "zzes", "sses")):
        return w[:-2]
    return w[:-1] if w.endswith("s") else w


def plural(word: str) -> str:
    """A naive English plural of the last word: 'task list' -> 'task lists'."""
    head, _, last = word.rpartition(" ")
    lw = last.lower()
    if lw in _INVARIANT:
        out = last
    elif lw.endswith("y") and lw[-2:-1] not in ("a", "e", "i", "o", "u"):
        out = last[:-1] + "ies"
    elif lw.endswith(("s", "x", "z", "ch", "sh")):
        out = last + "es"
    else:
        out = last + "s"
    return f"{head} {out}" if head else out


def title_from_idea(idea: str, limit: int = 80) -> str:
    """The idea without its leading verb and article, capitalised: a product title."""
    words = idea.strip().rstrip(".!").split()
    while words and words[0].lower() in (*_LEADING_VERBS, "a", "an", "the"):
        words = words[1:]
    text = " ".join(words) or idea.strip() or "Untitled product"
    text = text[:limit].rstrip()
    return text[:1].upper() + text[1:]


def unique(items: Iterable[str]) -> list[str]:
    """Distinct non-empty items (case-insensitive), keeping the first spelling and order."""
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        key = item.strip().lower()
        if key and key not in seen:
            seen.add(key)
            out.append(item.strip())
    return out


def human_list(items: Iterable[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    parts = [i for i in items if i]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def capitalize(text: str) -> str:
    """The text with its first letter upper-cased (the rest untouched)."""
    return text[:1].upper() + text[1:]


def numbered(prefix: str, index: int, width: int = 0) -> str:
    """'US', 0 -> 'US-1'; with width 3: 'ADR-001'."""
    return f"{prefix}-{index + 1:0{width}d}" if width else f"{prefix}-{index + 1}"
