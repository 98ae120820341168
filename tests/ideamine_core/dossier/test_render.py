"""Render contract: the HTML page is one self-contained file (inline CSS and SVG charts, a CSP that forbids
every fetch, no script, no reference outside the page) in which everything from the run is escaped;
the Markdown is readable tables with inert text; JSON is the model; files are written atomically."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from dossier_runs import copy_of_full_run, full_run, partial_run

from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.dossier import DossierInputs, compile_dossier, render, write_dossier
from ideamine_core.dossier.model import PhaseCost
from ideamine_core.dossier.render import default_path, md_escape, render_html, render_markdown
from ideamine_core.errors import UserInputError
from ideamine_core.storage.run_store import RunStore

HOSTILE = '<script>alert("idea")</script><img src=x onerror=alert(1)> | [link](javascript:x) `tick`'

FETCHING_TAGS = {"script", "link", "img", "iframe", "object", "embed", "base", "form", "audio", "video"}


class Page(HTMLParser):
    """Tags, attributes and the text of elements with an id, as a browser's parser sees them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.text_by_id: dict[str, str] = {}
        self._open: list[str | None] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        ident = dict(attrs).get("id")
        if tag not in {"meta", "br", "line", "rect", "i"}:
            self._open.append(ident)
            if ident:
                self.text_by_id[ident] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag not in {"meta", "br", "line", "rect", "i"} and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for ident in filter(None, self._open):
            self.text_by_id[ident] += data


def test_html_is_self_contained_with_three_charts(tmp_path: Path) -> None:
    store, run_id = copy_of_full_run(tmp_path)
    costs = {"prd": PhaseCost(cost_usd=0.02, tokens_in=900, tokens_out=300)}
    html = render_html(compile_dossier(store, run_id, DossierInputs(phase_costs=costs)))
    page = Page(html)
    assert page.tags.count("svg") == 3
    assert {"chart-cost", "chart-gates", "chart-timeline"} <= set(page.text_by_id)
    assert not FETCHING_TAGS & set(page.tags)
    csp = [v for t, k, v in page.attrs if k == "content" and "default-src" in v]
    assert csp == ["default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"]
    assert [v for _, k, v in page.attrs if k == "href" and not v.startswith("#")] == []
    assert not [k for _, k, _ in page.attrs if k in {"src", "srcset", "action", "xlink:href", "poster"}]
    assert not [k for _, k, _ in page.attrs if k.startswith("on")]
    assert "url(" not in html and "@import" not in html
    sections = ("summary", "missing-artifacts", "product", "code", "security", "quality", "deployment")
    assert set(sections) | {"audit"} <= set(page.text_by_id)


def test_everything_from_the_run_is_escaped(tmp_path: Path) -> None:
    store, run_id = copy_of_full_run(tmp_path)
    record = store.load_run(run_id)
    hostile = IdeaSubmission(idea=HOSTILE, users=["<b>teams</b>"], constraints=["a|b"])
    store.save_run(record.model_copy(update={"submission": hostile}))
    dossier = compile_dossier(store, run_id)
    html = render_html(dossier)
    page = Page(html)
    assert "script" not in page.tags and "img" not in page.tags and "b" not in page.tags
    assert page.text_by_id["idea"] == HOSTILE  # shown as text, exactly
    assert "<script>" not in html and "&lt;script&gt;" in html
    markdown = render_markdown(dossier)
    assert "<script>" not in markdown and "<b>" not in markdown
    assert not re.search(r"(?<!\\)\]\(javascript", markdown)  # the link is broken by escaping
    assert "# Release dossier: &lt;script&gt;" in markdown and r"\| \[link\]" in markdown


def test_missing_artifacts_are_listed_with_their_reasons() -> None:
    runs, run_id = partial_run()
    dossier = compile_dossier(RunStore(runs), run_id)
    text = " ".join(Page(render_html(dossier)).text_by_id.values())
    assert "Completeness: 15.0%" in text and "17 of 20 expected artifacts are missing" in text
    reason = "phase architecture was not part of this run (partial run)"
    assert f"Missing: OpenAPI specification — {reason}" in text
    assert "cost per phase not supplied" in text  # no cost chart, and it says why
    markdown = render_markdown(dossier)
    assert "| Completeness | **15.0%** (3 of 20 expected artifacts) |" in markdown
    assert "| Ledger head | audit | `input:ledger_head` | **missing** |" in markdown


def test_markdown_has_tables_and_the_openapi_appendix() -> None:
    runs, run_id = full_run()
    dossier = compile_dossier(RunStore(runs), run_id)
    markdown = render_markdown(dossier)
    assert "| Phase | Status | Gate score | Threshold | Attempts | Duration | Cost | Tokens |" in markdown
    for phase in dossier.run.phases:
        assert re.search(rf"^\| {phase.phase} \| passed \| {phase.gate_score:.2f} \|", markdown, re.M)
    fenced = re.search(r"^```json\n(.*?)\n```$", markdown, re.S | re.M)
    assert json.loads(fenced.group(1)) == dossier.product.api.openapi


@pytest.mark.parametrize(
    ("text", "inert"),
    [
        ("plain words", "plain words"),  # ordinary text is untouched
        ("a | b", r"a \| b"),  # a pipe would split a table cell
        ("<script>x</script>", "&lt;script&gt;x&lt;/script&gt;"),  # inline HTML
        ("[x](javascript:y)", r"\[x\](javascript:y)"),  # a link
        ("*bold* `code`", r"\*bold\* \`code\`"),  # emphasis and code
        ("line one\nline two", "line one line two"),  # a newline would end a table row
        ("a & b", "a &amp; b"),  # entities stay literal
    ],
)
def test_md_escape(text: str, inert: str) -> None:
    assert md_escape(text) == inert


def test_write_and_format_errors(tmp_path: Path) -> None:
    store, run_id = copy_of_full_run(tmp_path)
    dossier = compile_dossier(store, run_id)
    path = write_dossier(dossier, default_path(store, run_id, "json"), "json")
    assert path == store.run_dir(run_id) / "dossier.json"
    assert json.loads(path.read_text())["run"]["run_id"] == run_id
    assert not list(path.parent.glob(".dossier.json.*"))  # no temporary file left
    with pytest.raises(UserInputError, match="unknown dossier format 'pdf'"):
        render(dossier, "pdf")
    with pytest.raises(UserInputError, match="is a folder"):
        write_dossier(dossier, tmp_path, "html")
