"""The offline rules: a full intake → beta chain, determinism, degradation and the helpers."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ideamine_core.agents.registry import (
    AGENTS,
    PHASES,
    agent_names,
    agents_of_phase,
    get_agent,
)
from ideamine_core.agents.rules import _text
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import (
    AgentResult,
    PhaseArtifact,
    Provenance,
    canonical_json,
    content_hash,
)
from ideamine_core.domain.idea import IdeaSubmission

SUB = IdeaSubmission(
    idea="Build a collaborative todo app with real-time sync",
    users=["remote teams"],
    constraints=["mobile-first", "offline-capable"],
)
SEQUENTIAL = {"intake", "prd", "build", "release"}
Chain = dict[str, PhaseArtifact]


def _result(phase: str, agent: str, output: dict[str, Any], iteration: int = 0) -> AgentResult:
    provenance = Provenance(
        agent=agent,
        phase=phase,
        provider="offline",
        model="rules",
        generator_version="test",
        output_hash=content_hash(output),
    )
    return AgentResult(agent=agent, phase=phase, output=output, provenance=provenance, iteration=iteration)


def _artifact(phase: str, results: list[AgentResult]) -> PhaseArtifact:
    ordered = sorted(results, key=lambda r: (r.iteration, r.agent))
    aggregate = {r.agent: r.output for r in ordered}
    fields: dict[str, Any] = {"phase": phase, "results": ordered, "aggregate": aggregate}
    fields["aggregation_strategy"] = "merge"
    if "run_id" in PhaseArtifact.model_fields:  # older artifact schema carried the run id
        fields["run_id"] = "test-run"
    return PhaseArtifact(**fields)


def _ctx(
    phase: str,
    agent: str,
    upstream: Chain,
    previous: dict[str, dict[str, Any]] | None = None,
    iteration: int = 0,
    sub: IdeaSubmission = SUB,
    instruction: str | None = None,
) -> AgentContext:
    return AgentContext(
        run_id="test-run",
        phase=phase,
        agent=agent,
        submission=sub,
        upstream=dict(upstream),
        previous=dict(previous or {}),
        iteration=iteration,
        instruction=instruction,
    )


def _run(ctx: AgentContext) -> dict[str, Any]:
    return get_agent(ctx.agent).offline_rule(ctx).model_dump(mode="json")


def _story_loop(upstream: Chain, sub: IdeaSubmission, max_iterations: int) -> list[AgentResult]:
    """Run [StoryImplementer, StoryReviewer] until done; ctx.previous holds the latest outputs."""
    previous: dict[str, dict[str, Any]] = {}
    results: list[AgentResult] = []
    for iteration in range(max_iterations):
        for spec in agents_of_phase("story_loop"):
            ctx = _ctx("story_loop", spec.name, upstream, previous, iteration, sub)
            previous[spec.name] = _run(ctx)
            results.append(_result("story_loop", spec.name, previous[spec.name], iteration))
        if previous["StoryReviewer"]["done"]:
            break
    return results


def run_phase(phase: str, upstream: Chain, sub: IdeaSubmission = SUB) -> PhaseArtifact:
    """Run one phase's agents like the runtime would (sequential phases see ctx.previous)."""
    if phase == "story_loop":
        stories = upstream["prd"].output_of("StoryCutter")["stories"]
        return _artifact(phase, _story_loop(upstream, sub, len(stories) + 1))
    previous: dict[str, dict[str, Any]] = {}
    results = []
    for spec in agents_of_phase(phase):
        seen = previous if phase in SEQUENTIAL else {}
        output = _run(_ctx(phase, spec.name, upstream, seen, sub=sub))
        previous[spec.name] = output
        results.append(_result(phase, spec.name, output))
    return _artifact(phase, results)


def run_chain(sub: IdeaSubmission = SUB) -> Chain:
    """Every phase in order, each seeing all earlier phases as upstream."""
    chain: Chain = {}
    for phase in PHASES:
        chain[phase] = run_phase(phase, chain, sub)
    return chain


@pytest.fixture(scope="module")
def chain() -> Chain:
    """The full chain for the todo idea, computed once."""
    return run_chain()


def out(chain: Chain, phase: str, agent: str) -> dict[str, Any]:
    """An agent's latest output in the chain."""
    return chain[phase].output_of(agent)


# --- registry -------------------------------------------------------------------------------


def test_registry_covers_every_phase_with_unique_valid_agents() -> None:
    assert len(PHASES) == 13
    assert {spec.phase for spec in AGENTS.values()} == set(PHASES)
    assert agent_names() == sorted(AGENTS) and len(set(agent_names())) == len(AGENTS)
    for name, spec in AGENTS.items():
        assert spec.name == name and spec.role
        assert spec.offline_rule.__name__ == _text.camel_to_snake(name)
    assert get_agent("StoryReviewer").done_field == "done"
    assert "done" in get_agent("StoryReviewer").output_model.model_fields


def test_unknown_agent_error_lists_the_known_agents() -> None:
    with pytest.raises(KeyError) as info:
        get_agent("Nope")
    assert "Persona" in str(info.value) and "Validator" in str(info.value)


# --- the full chain -------------------------------------------------------------------------


def test_every_output_validates_and_round_trips(chain: Chain) -> None:
    for phase, artifact in chain.items():
        for result in artifact.results:
            spec = get_agent(result.agent)
            assert spec.phase == phase
            model = spec.output_model.model_validate(result.output)
            assert model.model_dump(mode="json") == result.output


def test_chain_is_deterministic(chain: Chain) -> None:
    again = run_chain()
    for phase in PHASES:
        assert canonical_json(again[phase].model_dump(mode="json")) == canonical_json(
            chain[phase].model_dump(mode="json")
        ), phase


def test_validator_assembles_classifier_and_expander(chain: Chain) -> None:
    previous = {
        "Classifier": {**out(chain, "intake", "Classifier"), "category": "custom-category"},
        "Expander": {**out(chain, "intake", "Expander"), "goals": ["Only goal"]},
    }
    spec = _run(_ctx("intake", "Validator", {}, previous))
    assert spec["category"] == "custom-category" and spec["goals"] == ["Only goal"]
    assert 0 <= spec["ambiguity"]["score"] <= 1 and spec["ambiguity"]["terms"]


def test_personas_come_from_the_users(chain: Chain) -> None:
    personas = out(chain, "ideation", "Persona")["personas"]
    assert 3 <= len(personas) <= 5
    assert all("remote teams" in p["segment"] for p in personas)
    names = {p["name"] for p in personas}
    assert all(uc["actor"] in names for uc in out(chain, "ideation", "Persona")["use_cases"])


def test_tech_stack_reflects_the_constraints(chain: Chain) -> None:
    stack = out(chain, "ideation", "TechStack")
    assert "mobile" in stack["frontend"].lower()
    assert "device" in stack["storage"].lower()
    assert "websocket" in stack["realtime"].lower()
    categories = {n["category"] for n in out(chain, "prd", "NFRs")["nfrs"]}
    assert {"mobile", "offline", "realtime"} <= categories


def test_every_use_case_has_stories_with_criteria(chain: Chain) -> None:
    use_cases = out(chain, "ideation", "Persona")["use_cases"]
    stories = out(chain, "prd", "StoryCutter")["stories"]
    for uc in use_cases:
        assert any(s["use_case_id"] == uc["id"] for s in stories), uc["id"]
    for story in stories:
        assert story["acceptance_criteria"]
        for criterion in story["acceptance_criteria"]:
            lowered = criterion.lower()
            assert lowered.startswith("given") and "when" in lowered and "then" in lowered
    matrix = out(chain, "prd", "TraceMatrix")
    assert matrix["coverage"] == 1.0 and not matrix["uncovered_use_case_ids"]
    assert all(row["requirement_ids"] for row in matrix["rows"])


def test_entities_and_endpoints_match(chain: Chain) -> None:
    entities = out(chain, "architecture", "DataModeler")["entities"]
    names = {e["name"] for e in entities}
    assert {"Task", "TaskList", "User"} <= names
    endpoints = out(chain, "architecture", "APIDesigner")["endpoints"]
    assert endpoints and all(ep["entity"] in names for ep in endpoints)
    assert {ep["entity"] for ep in endpoints} == names


def test_openapi_document_is_valid(chain: Chain) -> None:
    import openapi_spec_validator as validator

    doc = out(chain, "architecture", "APIDesigner")["openapi"]
    validator.validate(doc)
    assert "/tasks/{id}" in doc["paths"]


def _python_files(chain: Chain) -> dict[str, str]:
    files = out(chain, "build", "Implementer")["files"] + out(chain, "build", "TestWriter")["files"]
    return {f["path"]: f["content"] for f in files if f["path"].endswith(".py")}


def test_generated_python_compiles_and_tests_are_counted(chain: Chain) -> None:
    files = _python_files(chain)
    assert any(p.endswith("/api.py") for p in files) and "tests/test_stories.py" in files
    for path, content in files.items():
        compile(content, path, "exec")
    stories = out(chain, "prd", "StoryCutter")["stories"]
    plan = out(chain, "qa", "TestRunner")
    assert plan["total_tests"] >= len(stories) and not plan["parse_errors"]
    defs = sum(
        isinstance(n, ast.FunctionDef) and n.name.startswith("test")
        for p, c in files.items()
        if p.startswith("tests/")
        for n in ast.parse(c).body
    )
    assert plan["total_tests"] == defs


def test_generated_project_passes_its_own_tests(chain: Chain, tmp_path: Path) -> None:
    for f in out(chain, "build", "Implementer")["files"] + out(chain, "build", "TestWriter")["files"]:
        target = tmp_path / f["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f["content"], encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_clean_build_has_no_serious_security_findings(chain: Chain) -> None:
    for agent in ("Secrets", "SAST"):
        report = out(chain, "security", agent)
        assert report["scanned_files"] > 0
        assert not [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    sbom = out(chain, "security", "SBOM")["components"]
    assert sbom[0]["type"] == "application"
    assert {c["name"] for c in sbom[1:]} == {"pytest"}


def test_security_finds_planted_eval_and_key(chain: Chain) -> None:
    key = "AKIA" + "IOSFODNN7EXAMPLE"
    impl = out(chain, "build", "Implementer")
    files = [dict(f) for f in impl["files"]]
    service = next(f for f in files if f["path"].endswith("/service.py"))
    service["content"] += f'\n\nAWS_KEY = "{key}"\n\n\ndef unsafe(text: str) -> object:\n'
    service["content"] += "    return eval(text)\n"
    planted = {**impl, "files": files}
    build = _artifact(
        "build",
        [
            _result("build", "Implementer", planted),
            _result("build", "TestWriter", out(chain, "build", "TestWriter")),
        ],
    )
    upstream = {**chain, "build": build}
    sast = _run(_ctx("security", "SAST", upstream))
    hits = [f for f in sast["findings"] if "eval" in f["title"]]
    assert hits and hits[0]["severity"] == "high"
    assert hits[0]["location"].startswith(service["path"] + ":")
    secrets = _run(_ctx("security", "Secrets", upstream))
    assert [f["title"] for f in secrets["findings"]] == ["AWS access key id"]
    assert secrets["counts"]["critical"] == 1
    assert key not in json.dumps(secrets)


def test_ui_review_flags_bad_names_and_unhelpful_errors(chain: Chain) -> None:
    assert out(chain, "aesthetic", "UIReview")["issues"] == []  # the generated API is clean
    api = {**out(chain, "architecture", "APIDesigner")}
    api["endpoints"] = [*api["endpoints"], {**api["endpoints"][0], "path": "/getTasks"}]
    impl = out(chain, "build", "Implementer")
    files = [*impl["files"], {"path": "extra.py", "content": 'raise ValueError("bad")\n'}]
    upstream = {
        **chain,
        "architecture": _artifact("architecture", [_result("architecture", "APIDesigner", api)]),
        "build": _artifact("build", [_result("build", "Implementer", {**impl, "files": files})]),
    }
    issues = _run(_ctx("aesthetic", "UIReview", upstream))["issues"]
    assert {(i["category"], i["target"]) for i in issues} >= {
        ("naming", "GET /getTasks"),
        ("error_message", "extra.py:1"),
    }


def test_story_loop_reaches_done_within_the_number_of_stories(chain: Chain) -> None:
    stories = [s["id"] for s in out(chain, "prd", "StoryCutter")["stories"]]
    results = _story_loop(chain, SUB, max_iterations=len(stories))
    reviews = [r.output for r in results if r.agent == "StoryReviewer"]
    assert reviews[-1]["done"] and not reviews[-1]["remaining_story_ids"]
    assert [r["story_id"] for r in reviews] == stories
    assert all(r["approved"] for r in reviews) and not any(r["done"] for r in reviews[:-1])


def test_story_reviewer_recomputes_when_it_sees_last_iterations_implementer(chain: Chain) -> None:
    first = _run(_ctx("story_loop", "StoryImplementer", chain))
    stale = {"StoryImplementer": first}
    review = _run(_ctx("story_loop", "StoryReviewer", chain, stale, 1))
    assert review["story_id"] == "US-2"


# --- degradation and instructions -----------------------------------------------------------


@pytest.mark.parametrize("name", agent_names())
def test_every_agent_degrades_gracefully_with_empty_upstream(name: str) -> None:
    spec = get_agent(name)
    first = spec.offline_rule(_ctx(spec.phase, name, {}))
    again = spec.offline_rule(_ctx(spec.phase, name, {}))
    data = first.model_dump(mode="json")
    assert spec.output_model.model_validate(data).model_dump(mode="json") == data
    assert canonical_json(data) == canonical_json(again.model_dump(mode="json"))
    assert any(v not in (None, "", [], {}) for k, v in data.items() if k != "notes")


@pytest.mark.parametrize("name", agent_names())
def test_every_agent_reflects_the_instruction(name: str) -> None:
    spec = get_agent(name)
    ctx = _ctx(spec.phase, name, {}, instruction="Keep it short")
    assert "Instruction followed: Keep it short" in spec.offline_rule(ctx).model_dump()["notes"]


def test_bare_idea_gets_default_personas_and_a_fallback_entity() -> None:
    bare = IdeaSubmission(idea="Build an app")
    persona = _run(_ctx("ideation", "Persona", {}, sub=bare))
    assert len(persona["personas"]) == 3
    assert {p["segment"] for p in persona["personas"]} == {"individual users"}
    model = _run(_ctx("architecture", "DataModeler", {}, sub=bare))
    assert [e["name"] for e in model["entities"]] == ["Item"]


# --- text helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        # the reference idea: stopwords and 'app' drop out, 'real-time' stays one keyword
        (
            "Build a collaborative todo app with real-time sync",
            8,
            ["collaborative", "todo", "real-time", "sync"],
        ),
        # empty text has no keywords
        ("", 8, []),
        # case-insensitive de-duplication, first appearance wins
        ("Track habits, HABITS and Habits!", 8, ["track", "habits"]),
        # the limit cuts after the first N keywords
        ("alpha beta gamma delta", 2, ["alpha", "beta"]),
        # pure numbers and one-letter tokens are dropped, alphanumerics kept
        ("v2 of a 2024 x notes tool", 8, ["v2", "notes"]),
        # hyphenated words survive punctuation around them
        ("(offline-first) notes, for nurses.", 8, ["offline-first", "notes", "nurses"]),
    ],
)
def test_keywords(text: str, limit: int, expected: list[str]) -> None:
    assert _text.keywords(text, limit) == expected


@pytest.mark.parametrize(
    ("func", "arg", "expected"),
    [
        # slug: kebab-case of the first keywords
        (
            _text.slug,
            "Build a collaborative todo app with real-time sync",
            "collaborative-todo-real-time-sync",
        ),
        # slug: a default when nothing is left
        (_text.slug, "the and of", "idea"),
        # snake: a valid identifier, digits cannot lead
        (_text.snake, "2fa codes", "n_2fa_codes"),
        # snake: Python keywords get a trailing underscore
        (_text.snake, "class", "class_"),
        # camel_to_snake: acronyms stay together
        (_text.camel_to_snake, "PRDWriter", "prd_writer"),
        # camel_to_snake: a plural acronym
        (_text.camel_to_snake, "NFRs", "nfrs"),
        # kebab: entity names in URLs
        (_text.kebab, "TaskList", "task-list"),
        # human: entity names in prose
        (_text.human, "StockItem", "stock item"),
        # singular: -ies
        (_text.singular, "categories", "category"),
        # singular: words ending in -ss are left alone
        (_text.singular, "class", "class"),
        # plural: the last word of a phrase
        (_text.plural, "task list", "task lists"),
        # plural: -y after a consonant
        (_text.plural, "category", "categories"),
        # with_article: 'an' before a vowel
        (_text.with_article, "item", "an item"),
        # title: leading verb and article removed
        (_text.title_from_idea, "build a habit tracker.", "Habit tracker"),
    ],
)
def test_text_helpers(func: Any, arg: str, expected: str) -> None:
    assert func(arg) == expected
