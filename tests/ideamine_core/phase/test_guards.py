"""Each guard scores a phase's typed outputs against its threshold and names the offending items.

Contradictions (scenario 4), schema, coverage, blockers and grounding are checked on the demo idea's
real offline outputs, with one defect planted at a time; the clean outputs must pass, so every
failure below is caused by the planted defect and nothing else.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from gate_chain import build_chain, default_graph, gate_context, schema_of

from ideamine_core.domain.artifact import AgentResult
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.domain.phase import GuardSpec
from ideamine_core.phase.gatekeeper import Gatekeeper
from ideamine_core.phase.guards.base import GuardInput
from ideamine_core.phase.guards.registry import GUARDS

DEMO = IdeaSubmission(
    idea="Build a collaborative todo app with real-time sync",
    users=["remote teams"],
    constraints=["mobile-first", "offline-capable"],
)


@pytest.fixture(scope="module")
def graph():
    return default_graph()


@pytest.fixture(scope="module")
def chain(graph):
    return build_chain(graph, DEMO)


def changed(
    results: list[AgentResult], agent: str, change: Callable[[dict[str, Any]], None]
) -> list[AgentResult]:
    """`results` with `agent`'s output edited in place on a deep copy."""
    out = []
    for r in results:
        if r.agent == agent:
            output = copy.deepcopy(r.output)
            change(output)
            r = r.model_copy(update={"output": output})
        out.append(r)
    return out


def judge(graph, chain, phase: str, guard: str, threshold: float, results=None, **params: Any):
    data = GuardInput(
        graph.phases[phase],
        results if results is not None else chain[phase].results,
        gate_context(graph, chain, phase, DEMO),
        schema_of,
    )
    return GUARDS[guard](GuardSpec(type=guard, threshold=threshold, params=params), data)


def add_requirement(text: str, rid: str = "REQ-11") -> Callable[[dict[str, Any]], None]:
    def change(output: dict[str, Any]) -> None:
        output["requirements"].append({"id": rid, "text": text, "priority": "must", "story_ids": []})

    return change


def add_nfr(metric: str, target: str) -> Callable[[dict[str, Any]], None]:
    def change(output: dict[str, Any]) -> None:
        output["nfrs"].append(
            {
                "id": "NFR-10",
                "category": "performance",
                "requirement": "Fast",
                "metric": metric,
                "target": target,
            }
        )

    return change


def add_goal(goal: str) -> Callable[[dict[str, Any]], None]:
    return lambda output: output["goals"].append(goal)


def two_deadlines(output: dict[str, Any]) -> None:
    add_requirement("Changes must reach every device within 30 seconds.")(output)
    add_requirement("Changes must reach every device within 2 seconds.", "REQ-12")(output)


def redefine_req3(output: dict[str, Any]) -> None:
    output["requirements"].append({**output["requirements"][2], "text": "The system shall export tasks."})


def test_clean_prd_has_no_contradiction(graph, chain) -> None:
    result = judge(graph, chain, "prd", "contradictions", 0)
    assert result.passed and result.value == 0 and result.reasons == []


@pytest.mark.parametrize(
    ("agent", "change", "items", "kind"),
    [
        # scenario 4: one subject both required and forbidden
        (
            "PRDWriter",
            add_requirement("The product shall not be offline-capable."),
            {"REQ-10", "REQ-11"},
            "must",
        ),
        # one number stated twice with different values for the same metric
        ("NFRs", add_nfr("p95 latency of API calls", "< 800 ms"), {"NFR-1", "NFR-10"}, "one number"),
        # one requirement stated twice with two different numbers of one unit
        ("PRDWriter", two_deadlines, {"REQ-11", "REQ-12"}, "one number"),
        # something both a goal and a non-goal
        (
            "PRDWriter",
            add_goal("Accept payments and billing inside the product"),
            {"PRDWriter.goals[5]", "PRDWriter.non_goals[1]"},
            "goal / non-goal",
        ),
        # one id defined twice with different content
        ("PRDWriter", redefine_req3, {"REQ-3"}, "one id"),
    ],
)
def test_planted_contradiction_fails_and_names_both_items(graph, chain, agent, change, items, kind) -> None:
    results = changed(chain["prd"].results, agent, change)
    result = judge(graph, chain, "prd", "contradictions", 0, results)
    assert not result.passed and result.value == 1 and result.score == 0.5
    reason = result.reasons[0]
    assert reason.code == "contradictions" and kind in reason.detail
    assert set(reason.item.split(" ↔ ")) == items
    assert agent in reason.agents


def test_scenario_4_gate_fails_with_the_contradictions_reason(graph, chain) -> None:
    results = changed(
        chain["prd"].results, "PRDWriter", add_requirement("The product shall not be offline-capable.")
    )
    keeper = Gatekeeper(graph.phases["prd"], schema_of)
    gate = keeper.evaluate("run-1", 1, results, gate_context(graph, chain, "prd", DEMO)).gate
    assert not gate.passed
    named = [r for r in gate.reasons if r.code == "contradictions"]
    assert named and named[0].item == "REQ-10 ↔ REQ-11"
    assert "shall not be offline-capable" in named[0].detail and "shall be offline-capable" in named[0].detail
    hard = next(g for g in gate.guards if g.guard == "contradictions_found")
    assert hard.hard and not hard.passed and hard.value == 1


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # same polarity, different modal strength: no conflict
        ("The product should be offline-capable.", 0),
        # a negative statement with no positive twin
        ("The app must not lose offline edits.", 0),
        # a descriptive sentence mentioning 'not' is not a requirement
        ("Remote teams do not like slow tools.", 0),
    ],
)
def test_no_false_contradictions(graph, chain, text, found) -> None:
    results = changed(chain["prd"].results, "PRDWriter", add_requirement(text))
    assert judge(graph, chain, "prd", "contradictions", 0, results).value == found


@pytest.mark.parametrize(
    ("agent", "change", "code", "item"),
    [
        # a required string that is only blank space
        ("PRDWriter", lambda o: o.update(summary="   "), "trivial_field", "PRDWriter.summary"),
        # a placeholder instead of content
        ("PRDWriter", lambda o: o.update(title="TBD"), "trivial_field", "PRDWriter.title"),
        # an output that fails its schema
        ("NFRs", lambda o: o.update(nfrs=[]), "invalid_schema", "NFRs"),
        # invisible Unicode tag characters that could hide instructions
        (
            "UXFlow",
            lambda o: o["flows"][0].update(name="Flow\U000e0041\U000e0042"),
            "hidden_characters",
            None,
        ),
        # a lone surrogate: not valid Unicode
        (
            "TraceMatrix",
            lambda o: o["notes"].append("bad \udcff text"),
            "invalid_text",
            "TraceMatrix.notes[0]",
        ),
    ],
)
def test_schema_guard_names_the_broken_field(graph, chain, agent, change, code, item) -> None:
    results = changed(chain["prd"].results, agent, change)
    result = judge(graph, chain, "prd", "schema", 1.0, results)
    assert not result.passed and result.value == 0.8  # 4 of 5 agents still fine
    reason = next(r for r in result.reasons if r.code == code)
    assert reason.agents == [agent] and (item is None or reason.item == item)


def test_schema_guard_counts_a_missing_agent(graph, chain) -> None:
    results = [r for r in chain["prd"].results if r.agent != "UXFlow"]
    result = judge(graph, chain, "prd", "schema", 1.0, results)
    assert result.value == 0.8 and [(r.code, r.item) for r in result.reasons] == [
        ("missing_artifact", "UXFlow")
    ]


def drop_use_case_stories(uc: str) -> Callable[[dict[str, Any]], None]:
    def change(output: dict[str, Any]) -> None:
        output["stories"] = [s for s in output["stories"] if s["use_case_id"] != uc]

    return change


def test_coverage_names_the_untraced_use_case_and_its_owner(graph, chain) -> None:
    clean = judge(graph, chain, "prd", "coverage", 1.0)
    assert clean.passed and clean.value == 1.0 and clean.metrics["items_required"] > 20
    results = changed(chain["prd"].results, "StoryCutter", drop_use_case_stories("UC-7"))
    result = judge(graph, chain, "prd", "coverage", 1.0, results)
    assert not result.passed and 0.9 < result.value < 1.0
    gap = next(r for r in result.reasons if r.item == "UC-7")
    assert "has no story" in gap.detail and gap.agents == ["StoryCutter"]


@pytest.mark.parametrize(
    ("params", "passed"),
    [
        # the demo has three personas: inside the default 3-5 range
        ({}, True),
        # a phase that asks for at least four personas
        ({"personas_min": 4}, False),
    ],
)
def test_coverage_persona_range_comes_from_params(graph, chain, params, passed) -> None:
    result = judge(graph, chain, "ideation", "coverage", 1.0, **params)
    assert result.passed is passed
    if not passed:
        assert any(r.item == "persona count" and "want 4–5" in r.detail for r in result.reasons)


def test_coverage_uses_measured_line_coverage_when_qa_ran_the_tests(graph, chain) -> None:
    results = changed(chain["qa"].results, "Coverage", lambda o: o.update(measured_percent=41.0))
    result = judge(graph, chain, "qa", "coverage", 1.0, results)
    reason = next(r for r in result.reasons if r.item == "line coverage")
    assert "41.0% < 70.0%" in reason.detail and reason.agents == ["Coverage"]


def plant_secret(output: dict[str, Any]) -> None:
    finding = {
        "id": "SEC-1",
        "severity": "critical",
        "title": "AWS access key id",
        "location": "app/service.py:7",
    }
    output["findings"].append(finding | {"detail": "value redacted"})


def test_blockers_fail_on_a_secret_and_name_its_location(graph, chain) -> None:
    assert judge(graph, chain, "security", "blockers", 0).passed
    results = changed(chain["security"].results, "Secrets", plant_secret)
    result = judge(graph, chain, "security", "blockers", 0, results)
    assert (
        not result.passed
        and result.metrics["secrets_found"] == 1
        and result.metrics["critical_findings"] == 1
    )
    assert {r.item for r in result.reasons} == {"app/service.py:7"}
    assert all("value redacted" not in r.detail for r in result.reasons)


def failing_run(output: dict[str, Any]) -> None:
    output["execution"] = {
        "failed": 1,
        "errors": 0,
        "failures": [
            {"test_id": "tests/test_api.py::test_create", "kind": "failed", "message": "assert 500 == 201"}
        ],
    }


def test_blockers_name_the_failing_test(graph, chain) -> None:
    results = changed(chain["qa"].results, "TestRunner", failing_run)
    result = judge(graph, chain, "qa", "blockers", 0, results)
    assert not result.passed and result.value == 1
    assert (
        result.reasons[0].item == "tests/test_api.py::test_create"
        and "assert 500" in result.reasons[0].detail
    )


def test_blockers_count_code_that_does_not_compile(graph, chain) -> None:
    def broken(output: dict[str, Any]) -> None:
        output["files"][1]["content"] = "def broken(:\n    pass\n"

    results = changed(chain["build"].results, "Implementer", broken)
    result = judge(graph, chain, "build", "blockers", 0, results)
    path = chain["build"].output_of("Implementer")["files"][1]["path"]
    assert (
        not result.passed
        and result.reasons[0].item == f"{path}:1"
        and result.reasons[0].agents == ["Implementer"]
    )


def test_grounding_is_high_for_derived_output_and_drops_for_invented_claims(graph, chain) -> None:
    clean = judge(graph, chain, "prd", "grounding", 0.5)
    assert clean.passed and clean.value >= 0.6

    def invent(output: dict[str, Any]) -> None:
        for i, req in enumerate(output["requirements"]):
            req["text"] = (
                f"The platform shall mine cryptocurrency on quantum ledgers for pet owners, variant {i}."
            )

    result = judge(graph, chain, "prd", "grounding", 0.5, changed(chain["prd"].results, "PRDWriter", invent))
    assert result.value < clean.value
    named = {r.item for r in result.reasons if "cryptocurrency" in r.detail}
    assert {"REQ-1", "REQ-10"} <= named


def test_every_guard_handles_a_phase_that_produced_nothing(graph, chain) -> None:
    for guard in GUARDS:
        result = judge(graph, chain, "prd", guard, 0 if guard in ("contradictions", "blockers") else 0.5, [])
        assert 0 <= result.score <= 1
        if guard in ("schema", "coverage", "grounding"):
            assert not result.passed and result.reasons, guard
