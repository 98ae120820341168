"""Inline SVG charts of the dossier: cost per phase, gate scores and attempts, and a phase timeline.

Charts are plain SVG text generated here (no script, no external reference), with every label
escaped, so the HTML page stays self-contained and safe to open.
"""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup, escape

from ideamine_core.dossier.model import PhaseSummary

LABEL_W = 120
PLOT_W = 420
ROW_H = 24
TOP = 28
STATUS_COLORS = {
    "passed": "#2e7d32",
    "failed": "#c62828",
    "escalated": "#ef6c00",
    "error": "#6a1b9a",
    "running": "#f9a825",
    "not_started": "#9e9e9e",
    "not_selected": "#bdbdbd",
}
"""Bar colour per phase status (also used by the HTML legend)."""


def _svg(chart_id: str, title: str, height: float, body: Iterable[str]) -> Markup:
    width = LABEL_W + PLOT_W + 110
    head = (
        f'<svg id="{chart_id}" class="chart" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height:.0f}" width="{width}" height="{height:.0f}">'
        f"<title>{escape(title)}</title>"
    )
    return Markup(head + "".join(body) + "</svg>")


def _label(y: float, text: str) -> str:
    return f'<text class="label" x="{LABEL_W - 8}" y="{y:.1f}" text-anchor="end">{escape(text)}</text>'


def _bar(x: float, y: float, w: float, h: float, color: str, tip: str, cls: str = "bar") -> str:
    return (
        f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.0):.1f}" height="{h:.1f}" '
        f'fill="{color}"><title>{escape(tip)}</title></rect>'
    )


def _value(x: float, y: float, text: str) -> str:
    return f'<text class="value" x="{x:.1f}" y="{y:.1f}">{escape(text)}</text>'


def _heading(text: str) -> str:
    return f'<text class="heading" x="0" y="16">{escape(text)}</text>'


def cost_chart(phases: list[PhaseSummary]) -> Markup | None:
    """Horizontal bars of cost (USD) per phase; None when no phase has a cost."""
    rows = [(p.phase, p.cost.cost_usd, p.cost.tokens_in + p.cost.tokens_out) for p in phases if p.cost]
    if not rows:
        return None
    top = max(cost for _, cost, _ in rows) or 1.0
    body = [_heading("Cost per phase (USD)")]
    for i, (phase, cost, tokens) in enumerate(rows):
        y = TOP + i * ROW_H
        width = PLOT_W * cost / top
        tip = f"{phase}: ${cost:.4f}, {tokens:,} tokens"
        body += [_label(y + 13, phase), _bar(LABEL_W, y + 2, width, 16, "#1565c0", tip)]
        body.append(_value(LABEL_W + width + 6, y + 14, f"${cost:.4f}"))
    return _svg("chart-cost", "Cost per phase", TOP + len(rows) * ROW_H + 8, body)


def gate_chart(phases: list[PhaseSummary]) -> Markup | None:
    """Per phase, one bar per gate attempt (score 0–1) with the phase's threshold as a dashed line."""
    rows = [p for p in phases if p.gate_history]
    if not rows:
        return None
    body = [_heading("Gate score per attempt (dashed: threshold)")]
    y = TOP
    for phase in rows:
        height = 6 + 12 * len(phase.gate_history)
        body.append(_label(y + height / 2 + 4, phase.phase))
        for k, att in enumerate(phase.gate_history):
            color = STATUS_COLORS["passed" if att.passed else "failed"]
            tip = f"{phase.phase} attempt {att.attempt}: {att.score:.2f} (threshold {att.threshold:.2f})"
            body.append(_bar(LABEL_W, y + 3 + 12 * k, PLOT_W * _unit(att.score), 10, color, tip))
        threshold = PLOT_W * _unit(phase.gate_history[-1].threshold) + LABEL_W
        body.append(
            f'<line class="threshold" x1="{threshold:.1f}" x2="{threshold:.1f}" y1="{y:.1f}" '
            f'y2="{y + height:.1f}" stroke="#212121" stroke-dasharray="3,2"/>'
        )
        last = phase.gate_history[-1]
        summary = f"{last.score:.2f} ×{len(phase.gate_history)}"
        body.append(_value(LABEL_W + PLOT_W + 6, y + height / 2 + 4, summary))
        y += height + 4
    return _svg("chart-gates", "Gate scores and attempts", y + 8, body)


def _unit(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def timeline_chart(phases: list[PhaseSummary], now: float) -> Markup | None:
    """Gantt-like bars from each phase's start to its end (or `now` if unfinished), coloured by status."""
    rows = [p for p in phases if p.started_at is not None]
    if not rows:
        return None
    start = min(p.started_at for p in rows if p.started_at is not None)
    end = max(p.finished_at or now for p in rows)
    span = max(end - start, 1e-6)
    bottom = TOP + len(rows) * ROW_H
    body = [_heading(f"Timeline of phases ({span:.1f} s)"), *_ticks(span, bottom)]
    for i, p in enumerate(rows):
        assert p.started_at is not None
        y, until = TOP + i * ROW_H, p.finished_at or now
        x = LABEL_W + PLOT_W * (p.started_at - start) / span
        width = max(PLOT_W * (until - p.started_at) / span, 1.0)
        tip = f"{p.phase}: {p.status}, from +{p.started_at - start:.1f} s for {until - p.started_at:.1f} s"
        body += [_label(y + 13, p.phase), _bar(x, y + 2, width, 16, STATUS_COLORS[p.status], tip)]
    return _svg("chart-timeline", "Timeline of phases", bottom + 22, body)


def _ticks(span: float, bottom: float) -> list[str]:
    parts = []
    for k in range(5):
        x = LABEL_W + PLOT_W * k / 4
        parts.append(f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{bottom}"/>')
        label = f"{span * k / 4:.1f}s"
        parts.append(f'<text class="axis" x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">{label}</text>')
    return parts
