"""Chart contract: inline SVG whose bars are proportional to the figures (cost, gate score, time), with a
threshold line per phase, escaped labels, and no chart (None) when there is nothing to draw."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from ideamine_core.dossier.charts import (
    LABEL_W,
    PLOT_W,
    STATUS_COLORS,
    cost_chart,
    gate_chart,
    timeline_chart,
)
from ideamine_core.dossier.model import GateAttemptSummary, PhaseCost, PhaseSummary


def _rects(svg: str) -> list[ET.Element]:
    return [el for el in ET.fromstring(svg).iter("rect")]


def _phase(name: str, **fields) -> PhaseSummary:
    return PhaseSummary(phase=name, status=fields.pop("status", "passed"), **fields)


def test_cost_bars_are_proportional_to_cost() -> None:
    phases = [
        _phase("prd", cost=PhaseCost(cost_usd=0.5, tokens_in=10)),
        _phase("qa", cost=PhaseCost(cost_usd=1.0)),
        _phase("beta", cost=PhaseCost(cost_usd=0.0)),
    ]
    svg = cost_chart(phases)
    widths = [float(r.get("width")) for r in _rects(svg)]
    assert widths == [PLOT_W / 2, PLOT_W, 0.0]
    assert ET.fromstring(svg).get("id") == "chart-cost"
    assert "$0.5000" in svg and "prd: $0.5000, 10 tokens" in svg


def test_cost_chart_is_absent_without_costs() -> None:
    assert cost_chart([_phase("prd"), _phase("qa")]) is None


def test_gate_chart_draws_each_attempt_and_the_threshold() -> None:
    attempts = [
        GateAttemptSummary(attempt=1, score=0.4, threshold=0.8, passed=False),
        GateAttemptSummary(attempt=2, score=0.9, threshold=0.8, passed=True),
    ]
    svg = gate_chart([_phase("qa", gate_history=attempts), _phase("beta")])
    rects = _rects(svg)
    assert [float(r.get("width")) for r in rects] == pytest.approx([PLOT_W * 0.4, PLOT_W * 0.9])
    assert [r.get("fill") for r in rects] == [STATUS_COLORS["failed"], STATUS_COLORS["passed"]]
    (line,) = [el for el in ET.fromstring(svg).iter("line") if el.get("class") == "threshold"]
    assert float(line.get("x1")) == pytest.approx(LABEL_W + PLOT_W * 0.8)
    assert "0.90 ×2" in svg
    assert gate_chart([_phase("beta")]) is None


def test_timeline_places_phases_by_start_and_duration() -> None:
    phases = [
        _phase("intake", started_at=100.0, finished_at=102.0),
        _phase("prd", started_at=102.0, finished_at=104.0, status="failed"),
        _phase("qa", started_at=103.0, status="running"),  # unfinished: drawn up to `now`
        _phase("beta", status="not_selected"),  # never started: not drawn
    ]
    svg = timeline_chart(phases, now=108.0)
    rects = _rects(svg)
    starts = [float(r.get("x")) - LABEL_W for r in rects]
    widths = [float(r.get("width")) for r in rects]
    assert starts == pytest.approx([0, PLOT_W / 4, PLOT_W * 3 / 8])  # seconds 0, 2 and 3 of 8
    assert widths == pytest.approx([PLOT_W / 4, PLOT_W / 4, PLOT_W * 5 / 8])  # 2 s, 2 s, 5 s
    assert [r.get("fill") for r in rects] == [STATUS_COLORS[s] for s in ("passed", "failed", "running")]
    assert "8.0s" in svg and "beta" not in svg
    assert timeline_chart([_phase("beta", status="not_started")], now=1.0) is None


def test_labels_are_escaped_and_nothing_is_referenced() -> None:
    phases = [_phase('<script>alert("x")</script>', cost=PhaseCost(cost_usd=1.0), started_at=0.0)]
    for svg in (cost_chart(phases), timeline_chart(phases, now=1.0)):
        assert "<script>" not in svg and "&lt;script&gt;" in svg
        ET.fromstring(svg)  # well-formed
        assert not re.search(r"(href|src)\s*=|url\(|://", svg)
