"""Fan-in: small named pure reducers over agent results, deterministic in order."""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from ideamine_core.domain.artifact import AgentResult, canonical_json
from ideamine_core.domain.phase import Aggregation
from ideamine_core.errors import ConfigError

Reducer = Callable[[Sequence[AgentResult]], dict[str, Any]]


def ordered(results: Sequence[AgentResult]) -> list[AgentResult]:
    """Results in a stable order: by iteration, then agent name."""
    return sorted(results, key=lambda r: (r.iteration, r.agent))


def _latest_by_agent(results: Sequence[AgentResult]) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for result in ordered(results):
        latest[result.agent] = result.output
    return dict(sorted(latest.items()))


def _deep_merge(into: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    for key, value in new.items():
        old = into.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            into[key] = _deep_merge(dict(old), value)
        elif isinstance(old, list) and isinstance(value, list):
            into[key] = old + [v for v in value if v not in old]
        else:
            into[key] = value
    return into


def merge(results: Sequence[AgentResult]) -> dict[str, Any]:
    """Deep-merge the agents' outputs in agent-name order; lists are unioned, later scalars win."""
    merged: dict[str, Any] = {}
    for output in _latest_by_agent(results).values():
        _deep_merge(merged, output)
    return {"merged": _sort_keys(merged), "by_agent": _latest_by_agent(results)}


def concat(results: Sequence[AgentResult]) -> dict[str, Any]:
    """Every result, in (iteration, agent) order."""
    items = [{"agent": r.agent, "iteration": r.iteration, "output": r.output} for r in ordered(results)]
    return {"items": items, "by_agent": _latest_by_agent(results)}


def vote(results: Sequence[AgentResult]) -> dict[str, Any]:
    """Per top-level key, the value most agents gave; ties go to the first agent by name."""
    latest = _latest_by_agent(results)
    keys = sorted({k for output in latest.values() for k in output})
    winners: dict[str, Any] = {}
    tally: dict[str, dict[str, int]] = {}
    for key in keys:
        votes = [canonical_json(o[key]) for o in latest.values() if key in o]
        counts = Counter(votes)
        best = max(counts.values())
        winner = next(v for v in votes if counts[v] == best)
        winners[key] = next(o[key] for o in latest.values() if key in o and canonical_json(o[key]) == winner)
        tally[key] = {"votes": best, "voters": len(votes)}
    return {"winners": winners, "tally": tally, "by_agent": latest}


def _sort_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sort_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sort_keys(v) for v in value]
    return value


REDUCERS: dict[Aggregation, Reducer] = {
    Aggregation.MERGE: merge,
    Aggregation.CONCAT: concat,
    Aggregation.VOTE: vote,
}


def load_custom(dotted: str, *, file: str = "<phase config>") -> Reducer:
    """Import a custom reducer given as 'package.module:function' (or 'package.module.function')."""
    module_name, _, attr = dotted.partition(":") if ":" in dotted else dotted.rpartition(".")
    fix = "give an importable 'package.module:function' that takes the list of AgentResult"
    try:
        reducer = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(file, "custom_aggregator", f"cannot import {dotted!r} ({exc})", fix) from exc
    if not callable(reducer):
        raise ConfigError(file, "custom_aggregator", f"{dotted!r} is not callable", fix)
    return reducer


def aggregate(
    strategy: Aggregation, results: Sequence[AgentResult], custom: str | None = None
) -> dict[str, Any]:
    """Fan in `results` with `strategy`; the result's key order is sorted."""
    reducer = load_custom(custom or "") if strategy is Aggregation.CUSTOM else REDUCERS[strategy]
    out = reducer(ordered(results))
    if not isinstance(out, dict):
        raise TypeError(f"aggregator for {strategy.value} returned {type(out).__name__}, not dict")
    return _sort_keys(out)
