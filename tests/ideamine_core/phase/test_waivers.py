"""Waivers: a recorded, unexpired waiver lets its named violation pass and is shown in the result;
the same waiver after its expiry does nothing. The store runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from gate_chain import build_chain, default_graph, gate_context, schema_of

from ideamine_core.domain.artifact import AgentResult
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.errors import UserInputError
from ideamine_core.phase.autofix import GateLoop
from ideamine_core.phase.waivers import WaiverStore, parse_expiry, violation_names

DEMO = IdeaSubmission(
    idea="Build a collaborative todo app with real-time sync",
    users=["remote teams"],
    constraints=["mobile-first", "offline-capable"],
)
NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def graph():
    return default_graph()


@pytest.fixture(scope="module")
def chain(graph):
    return build_chain(graph, DEMO, upto="bizdev")


def contradicting(results: list[AgentResult]) -> list[AgentResult]:
    out = []
    for r in results:
        if r.agent == "PRDWriter":
            output = copy.deepcopy(r.output)
            output["requirements"].append(
                {"id": "REQ-11", "text": "The product shall not be offline-capable.", "priority": "must",
                 "story_ids": []}
            )  # fmt: skip
            r = r.model_copy(update={"output": output})
        out.append(r)
    return out


def run_gate(graph, chain, store: WaiverStore, now: float):
    config = graph.phases["prd"]
    config = config.model_copy(update={"gate": config.gate.model_copy(update={"max_attempts": 1})})
    loop = GateLoop(config, schema_of, store, clock=lambda: now)

    def no_rerun(agent: str, instruction: str | None) -> Any:
        raise AssertionError("a single attempt is configured")

    return loop.run(
        "run-1", contradicting(chain["prd"].results), gate_context(graph, chain, "prd", DEMO), no_rerun
    )


def test_an_active_waiver_lets_the_violation_pass_and_an_expired_one_does_not(graph, chain, db) -> None:
    store = WaiverStore(db)
    before = run_gate(graph, chain, store, NOW)
    assert not before.passed and {r.code for r in before.final.reasons} == {"contradictions"}
    waiver = store.record("run-1", "prd", "contradictions", "alice", "known trade-off", NOW + 3600, now=NOW)
    store.record("run-1", "prd", "contradictions", "alice", "known trade-off", NOW + 3600, now=NOW)  # a retry
    assert store.list("run-1") == [waiver]
    active = run_gate(graph, chain, store, NOW + 60)
    assert active.passed and active.final.reasons == []
    assert [w.waiver_id for w in active.final.waivers_applied] == [waiver.waiver_id]
    assert active.final.waivers_applied[0].owner == "alice"
    waived = {g.guard for g in active.final.guards if g.waived}
    assert waived == {"contradictions", "contradictions_found"}  # the hard blocker counts the same thing
    assert active.evidence[0].waivers_applied == active.final.waivers_applied
    expired = run_gate(graph, chain, store, NOW + 3600)
    assert not expired.passed and expired.final.waivers_applied == []
    assert store.active("run-1", "prd", NOW + 3600) == []


def test_a_waiver_of_another_phase_or_run_does_nothing(graph, chain, db) -> None:
    store = WaiverStore(db)
    store.record("run-2", "prd", "contradictions", "bob", "other run", NOW + 3600, now=NOW)
    store.record("run-1", "architecture", "contradictions", "bob", "other phase", NOW + 3600, now=NOW)
    assert not run_gate(graph, chain, store, NOW).passed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # already expired when recorded
        (("contradictions", "alice", "why", NOW - 1), "already be expired"),
        # nobody owns the risk
        (("contradictions", "  ", "why", NOW + 60), "owner is empty"),
        # no reason given
        (("contradictions", "alice", "", NOW + 60), "reason is empty"),
    ],
)
def test_invalid_waivers_are_refused_with_a_clear_error(db, args, message) -> None:
    with pytest.raises(UserInputError, match=message) as info:
        WaiverStore(db).record("run-1", "prd", *args, now=NOW)
    assert info.value.fix
    assert WaiverStore(db).list() == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # short durations
        ("7d", NOW + 7 * 86400),
        ("12h", NOW + 12 * 3600),
        ("30m", NOW + 1800),
        ("2w", NOW + 14 * 86400),
        # ISO-8601 durations
        ("PT12H", NOW + 12 * 3600),
        ("P1DT2H", NOW + 86400 + 7200),
        # a date: valid through that day (UTC)
        ("2027-01-15", dt.datetime(2027, 1, 16, tzinfo=dt.UTC).timestamp()),
        # a date-time with a zone, and one without (read as UTC)
        ("2027-01-15T18:00:00+02:00", dt.datetime(2027, 1, 15, 16, tzinfo=dt.UTC).timestamp()),
        ("2027-01-15T18:00Z", dt.datetime(2027, 1, 15, 18, tzinfo=dt.UTC).timestamp()),
        ("2027-01-15T18:00", dt.datetime(2027, 1, 15, 18, tzinfo=dt.UTC).timestamp()),
    ],
)
def test_parse_expiry(text: str, expected: float) -> None:
    assert parse_expiry(text, now=NOW) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["tomorrow", "P", "7x", "", "2027-13-01"])
def test_unreadable_expiry_names_the_accepted_forms(text: str) -> None:
    with pytest.raises(UserInputError, match="cannot read the expiry") as info:
        parse_expiry(text, now=NOW)
    assert "7d" in (info.value.fix or "") and "2026-12-31" in (info.value.fix or "")


def test_violation_names_are_the_guards_and_hard_blockers(graph) -> None:
    assert violation_names(graph.phases["prd"]) == [
        "schema", "contradictions", "coverage", "grounding", "contradictions_found"
    ]  # fmt: skip
    assert "secrets_found" in violation_names(graph.phases["security"])
