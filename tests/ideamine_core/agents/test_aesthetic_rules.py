"""The aesthetic phase reviews the generated API/UI surface, as the workspace holds it.

UIReview names the routes the generated API serves (its ROUTES and FEED) and checks them against the API
design; Accessibility audits any HTML page of the build (language, title, text alternatives, labels,
accessible names) with the offending element's 'path:line'. Files the workspace policy refused are not
reviewed. The offline build's surface is clean, and the outputs are deterministic.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from workspace_support import DEMO, build_chain

from ideamine_core.agents.outputs.aesthetic import AccessibilityReport, UIReviewReport
from ideamine_core.agents.registry import get_agent
from ideamine_core.agents.rules.aesthetic import served_collections
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import AgentResult, Provenance, content_hash
from ideamine_core.phase.rerun import replace_result

GOOD_PAGE = """<!doctype html>
<html lang="en"><head><title>Books</title></head>
<body><img src="logo.png" alt="Books logo">
<form><label for="q">Search</label><input id="q" name="q"><label>Title <input name="t"></label>
<button type="submit">Find</button></form><a href="/books"><img src="i.png" alt="All books"></a></body></html>
"""
BAD_PAGE = """<html>
<body>
<img src="logo.png">
<form><input name="q"><select name="s"></select>
<button></button></form>
<a href="/books"></a>
</body></html>
"""


def _ctx(agent: str, implementer: dict[str, Any] | None = None) -> AgentContext:
    upstream = dict(build_chain(DEMO))
    if implementer is not None:
        result = AgentResult(
            agent="Implementer",
            phase="build",
            output=implementer,
            provenance=Provenance(
                agent="Implementer",
                phase="build",
                provider="offline",
                model="rules",
                generator_version="test",
                output_hash=content_hash(implementer),
            ),
        )
        upstream["build"] = replace_result(upstream["build"], result)
    return AgentContext(run_id="r", phase="aesthetic", agent=agent, submission=DEMO, upstream=upstream)


def _review(implementer: dict[str, Any] | None = None) -> UIReviewReport:
    return get_agent("UIReview").offline_rule(_ctx("UIReview", implementer))  # type: ignore[return-value]


def _a11y(implementer: dict[str, Any] | None = None) -> AccessibilityReport:
    return get_agent("Accessibility").offline_rule(_ctx("Accessibility", implementer))  # type: ignore[return-value]


def _implementer(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    output = copy.deepcopy(build_chain(DEMO)["build"].output_of("Implementer"))
    change(output)
    return output


def _api(output: dict[str, Any]) -> dict[str, Any]:
    return next(f for f in output["files"] if f["path"].endswith("/api.py"))


def test_the_offline_surface_is_clean_and_every_designed_collection_is_served() -> None:
    review, a11y = _review(), _a11y()
    designed = {
        ep["path"].strip("/").split("/")[0]
        for ep in build_chain(DEMO)["architecture"].output_of("APIDesigner")["endpoints"]
    }
    assert set(served_collections(_ctx("UIReview"))) == designed
    assert review.issues == [] and "4 served route(s)" in review.summary
    html = [c for c in a11y.checks if "HTML pages" in c.description]
    assert [c.status for c in html] == ["not_applicable"] and "API only" in html[0].note
    assert _review() == review and _a11y() == a11y  # deterministic


def test_routes_the_generated_api_serves_are_named_and_checked_against_the_design() -> None:
    def serve_get_books(output: dict[str, Any]) -> None:
        api = _api(output)
        start = api["content"].index("ROUTES: dict[str, str] = ")
        end = api["content"].index("\n", start)
        api["content"] = (
            api["content"][:start] + "ROUTES: dict[str, str] = {'getBooks': 'Task'}" + api["content"][end:]
        )

    review = _review(_implementer(serve_get_books))
    found = {(i.category, i.target.split(" ", 1)[-1], i.message.split(",")[0]) for i in review.issues}
    api_path = _api(_implementer(serve_get_books))["path"]
    assert ("naming", "/getBooks", "Segment 'getBooks' is not kebab-case") in found
    assert ("naming", "/getBooks", "Segment 'getBooks' contains a verb") in found
    assert any(i.category == "consistency" and i.target.startswith(f"{api_path}:") for i in review.issues)
    missing = {i.target for i in review.issues if "does not serve" in i.message}
    assert missing == {
        "/tasks",
        "/task-lists",
        "/users",
    }  # designed, no longer served ('/changes' is the feed)


@pytest.mark.parametrize(
    ("path", "reviewed"),
    [
        ("extra.py", True),  # an ordinary module of the build
        (".git/hooks/extra.py", False),  # refused by the workspace policy: never written, so not reviewed
        ("~/extra.py", False),  # refused: outside the workspace
    ],
)
def test_only_files_the_workspace_holds_are_reviewed(path: str, reviewed: bool) -> None:
    impl = _implementer(lambda o: o["files"].append({"path": path, "content": 'raise ValueError("bad")\n'}))
    flagged = [i for i in _review(impl).issues if i.category == "error_message"]
    assert bool(flagged) is reviewed


def test_html_pages_of_the_build_are_audited_with_the_offending_elements_named() -> None:
    def pages(output: dict[str, Any]) -> None:
        output["files"] += [
            {"path": "web/bad.html", "content": BAD_PAGE},
            {"path": "web/good.html", "content": GOOD_PAGE},
        ]

    checks = {c.guideline.removeprefix("WCAG 2.1 "): c for c in _a11y(_implementer(pages)).checks[7:]}
    assert {g: c.status for g, c in checks.items()} == dict.fromkeys(
        ("3.1.1", "2.4.2", "1.1.1", "1.3.1", "4.1.2"), "fail"
    )
    assert "web/bad.html has no <html lang>" in checks["3.1.1"].note
    assert "web/bad.html:3 <img src='logo.png'> has no alt text" in checks["1.1.1"].note
    assert "web/bad.html:4 <input name='q'> has no label" in checks["1.3.1"].note
    assert "<select name='s'> has no label" in checks["1.3.1"].note
    assert (
        "web/bad.html:5 <button> has no text" in checks["4.1.2"].note
        and "web/bad.html:6 link" in checks["4.1.2"].note
    )
    assert not any("good.html" in c.note for c in checks.values())

    good = _a11y(_implementer(lambda o: o["files"].append({"path": "web/good.html", "content": GOOD_PAGE})))
    assert [c.status for c in good.checks[7:]] == ["pass"] * 5 and "1 page(s) checked" in good.checks[7].note
