"""Accessibility checks of generated HTML pages (stdlib parser): language, title, text alternatives, names.

Each check is one WCAG 2.1 success criterion over every page, with the offending elements as 'path:line'.
Static markup only: what scripts or styles do at run time is left to the manual checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

from ideamine_core.agents.outputs.build import SourceFile

__all__ = ["HtmlCheck", "audit_pages", "is_page"]

_UNNAMED_INPUTS = frozenset({"hidden", "submit", "reset", "button", "image"})
_SHOWN = 3
"""Offenders quoted per check."""


def is_page(path: str) -> bool:
    """True for an HTML page."""
    return path.lower().endswith((".html", ".htm"))


@dataclass(frozen=True)
class HtmlCheck:
    """One criterion over all pages: guideline, description, 'pass' or 'fail', evidence."""

    guideline: str
    description: str
    status: str
    note: str


class _Page(HTMLParser):
    """One page's markup, parsed once; the problems found, by guideline."""

    def __init__(self, path: str) -> None:
        super().__init__(convert_charrefs=True)
        self.path = path
        self.lang = False
        self.title = ""
        self.problems: dict[str, list[str]] = {}
        self.labelled: set[str] = set()
        self.controls: list[tuple[str, str]] = []
        self._open: list[tuple[str, int, list[str]]] = []
        self._in_title = False
        self._label_depth = 0

    def _flag(self, guideline: str, what: str) -> None:
        self.problems.setdefault(guideline, []).append(f"{self.path}:{self.getpos()[0]} {what}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "").strip() for k, v in attrs}
        named = bool(a.get("aria-label") or a.get("aria-labelledby") or a.get("title"))
        if tag == "html":
            self.lang = bool(a.get("lang"))
        elif tag == "title":
            self._in_title = True
        elif tag == "label":
            self._label_depth += 1
            self.labelled.add(a.get("for", ""))
        elif tag == "img":
            if "alt" not in a:
                self._flag("1.1.1", f"<img src={a.get('src', '?')!r}> has no alt text")
            for _, _, text in self._open:  # an image's alt text names the link or button around it
                text.append(a.get("alt", ""))
        elif tag in ("input", "select", "textarea"):
            kind = a.get("type", "text").lower() if tag == "input" else tag
            if kind == "image" and not a.get("alt"):
                self._flag("1.1.1", "<input type=image> has no alt text")
            elif kind not in _UNNAMED_INPUTS and not named and not self._label_depth:
                where = f"{self.path}:{self.getpos()[0]} <{tag} name={a.get('name', '?')!r}> has no label"
                self.controls.append((a.get("id", ""), where))
        elif tag in ("button", "a") and (tag == "button" or "href" in a):
            self._open.append((tag, self.getpos()[0], ["named"] if named else []))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "label":
            self._label_depth = max(0, self._label_depth - 1)
        elif self._open and self._open[-1][0] == tag:
            kind, line, text = self._open.pop()
            if not "".join(text).strip():
                what = "<button> has no text or aria-label" if kind == "button" else "link has no text"
                self.problems.setdefault("4.1.2", []).append(f"{self.path}:{line} {what}")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        for _, _, text in self._open:
            text.append(data)

    def close(self) -> None:
        """Finish the page: unlabelled controls are problems only now (a later <label for> names them)."""
        super().close()
        for ident, where in self.controls:
            if not ident or ident not in self.labelled:
                self.problems.setdefault("1.3.1", []).append(where)


_CRITERIA = (
    ("3.1.1", "Each page states its language (<html lang>)"),
    ("2.4.2", "Each page has a descriptive <title>"),
    ("1.1.1", "Images in the pages have text alternatives"),
    ("1.3.1", "Form controls in the pages have labels"),
    ("4.1.2", "Buttons and links in the pages have accessible names"),
)


def audit_pages(pages: list[SourceFile]) -> list[HtmlCheck]:
    """One check per criterion over `pages` (sorted by path)."""
    parsed: list[_Page] = []
    for f in sorted(pages, key=lambda f: f.path):
        page = _Page(f.path)
        page.feed(f.content)
        page.close()
        parsed.append(page)
    problems: dict[str, list[str]] = {}
    for page in parsed:
        if not page.lang:
            problems.setdefault("3.1.1", []).append(f"{page.path} has no <html lang>")
        if not page.title.strip():
            problems.setdefault("2.4.2", []).append(f"{page.path} has no <title>")
        for guideline, items in page.problems.items():
            problems.setdefault(guideline, []).extend(items)
    checks = []
    for guideline, description in _CRITERIA:
        found = problems.get(guideline, [])
        more = f" (+{len(found) - _SHOWN} more)" if len(found) > _SHOWN else ""
        note = "; ".join(found[:_SHOWN]) + more if found else f"{len(parsed)} page(s) checked"
        checks.append(HtmlCheck(guideline, description, "fail" if found else "pass", note))
    return checks
