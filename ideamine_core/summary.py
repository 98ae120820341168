"""The daily summary: runs, phase performance and gate outcomes of the last day, as Markdown."""

from __future__ import annotations

import datetime as dt
import time

from ideamine_core.storage.database import Database
from ideamine_core.storage.reporting import DAY, phase_performance, recent_runs


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def daily_summary(db: Database, *, now: float | None = None, days: float = 1.0) -> str:
    """Markdown summary of the runs created in the last `days` and of phase performance over them."""
    now = time.time() if now is None else now
    since = now - days * DAY
    runs = [r for r in recent_runs(db, limit=1000) if r["created_at"] >= since]
    lines = [f"# IdeaMine summary, {_when(since)} to {_when(now)}", ""]
    if not runs:
        return "\n".join([*lines, "No runs in this period.", ""])
    cost = sum(r["cost_usd"] or 0.0 for r in runs)
    lines += [
        f"{len(runs)} run(s), total model cost ${cost:.4f}.",
        "",
        "| run | status | phases passed | cost (USD) |",
        "|---|---|---|---|",
        *(
            f"| {r['run_id']} | {r['status']} | {r['phases_passed']} | {r['cost_usd'] or 0:.4f} |"
            for r in runs
        ),
        "",
        "| phase | runs | mean s | max s | pass rate | mean attempts |",
        "|---|---|---|---|---|---|",
    ]
    for p in phase_performance(db, since=since):
        lines.append(
            f"| {p['phase']} | {p['runs']} | {p['mean_seconds'] or 0:.1f} | {p['max_seconds'] or 0:.1f} "
            f"| {p['pass_rate'] or 0:.0%} | {p['mean_attempts'] or 0:.1f} |"
        )
    return "\n".join([*lines, ""])
