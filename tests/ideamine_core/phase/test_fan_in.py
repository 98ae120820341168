"""Fan-in reducers are pure and deterministic: same results in any order → identical aggregate."""

from __future__ import annotations

import itertools

import pytest

from ideamine_core.domain.artifact import AgentResult, Provenance, canonical_json
from ideamine_core.domain.phase import Aggregation
from ideamine_core.errors import ConfigError
from ideamine_core.phase.fan_in import aggregate


def result(agent: str, output: dict, iteration: int = 0) -> AgentResult:
    prov = Provenance(
        agent=agent, phase="p", provider="offline", model="m", generator_version="1", output_hash="sha256:x"
    )
    return AgentResult(agent=agent, phase="p", output=output, provenance=prov, iteration=iteration)


RESULTS = [
    result("B", {"tags": ["y", "x"], "title": "from B", "meta": {"b": 1}}),
    result("A", {"tags": ["x"], "title": "from A", "meta": {"a": 1}}),
    result("C", {"title": "from A", "score": 3}),
]


@pytest.mark.parametrize("strategy", [Aggregation.MERGE, Aggregation.CONCAT, Aggregation.VOTE])
def test_order_of_results_does_not_change_the_aggregate(strategy: Aggregation) -> None:
    outputs = {canonical_json(aggregate(strategy, list(p))) for p in itertools.permutations(RESULTS)}
    assert len(outputs) == 1


def test_merge_unions_lists_merges_dicts_and_later_agents_win_scalars() -> None:
    merged = aggregate(Aggregation.MERGE, RESULTS)["merged"]
    assert merged["tags"] == ["x", "y"]  # A's list first (agent order), then B's new item
    assert merged["meta"] == {"a": 1, "b": 1}
    assert merged["title"] == "from A"  # C (last by name) wins
    assert list(merged) == sorted(merged)


def test_concat_keeps_every_result_in_iteration_then_agent_order() -> None:
    items = aggregate(Aggregation.CONCAT, [*RESULTS, result("A", {"title": "again"}, iteration=1)])["items"]
    assert [(i["agent"], i["iteration"]) for i in items] == [("A", 0), ("B", 0), ("C", 0), ("A", 1)]


def test_vote_picks_the_majority_value_and_reports_the_tally() -> None:
    voted = aggregate(Aggregation.VOTE, RESULTS)
    assert voted["winners"]["title"] == "from A"  # A and C agree
    assert voted["tally"]["title"] == {"votes": 2, "voters": 3}


def test_vote_tie_goes_to_first_agent_by_name() -> None:
    voted = aggregate(Aggregation.VOTE, [result("Z", {"k": 1}), result("M", {"k": 2})])
    assert voted["winners"]["k"] == 2


def custom_reducer(results: list[AgentResult]) -> dict:
    return {"agents": [r.agent for r in results]}


def test_custom_reducer_is_imported_by_dotted_path() -> None:
    out = aggregate(Aggregation.CUSTOM, RESULTS, f"{__name__}:custom_reducer")
    assert out == {"agents": ["A", "B", "C"]}


def test_custom_reducer_that_cannot_be_imported_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="custom_aggregator"):
        aggregate(Aggregation.CUSTOM, RESULTS, "no.such.module:fn")
