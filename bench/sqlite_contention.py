"""RELIABILITY 15 at full counts: full 13-phase `ideamine run`s on the embedded SQLite default under the
multiprocess executor, one after another, each on a fresh home.

Figures per run and in total: "database is locked" reaching the user (CLI output, Dagster event log;
goal 0), step failures, retries `Database.write` absorbed (counted in every process), ledger
throughput. The test (tests/integration/test_sqlite_multiprocess_run.py) runs three phases once.

    python bench/sqlite_contention.py [--runs 5] [--phases intake,ideation]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # the packages first: tests/ mirrors their names

from sqlite_probe import run_multiprocess  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--phases", default="", help="comma-separated phases (default: all 13)")
    args = parser.parse_args()
    phases = [p for p in args.phases.split(",") if p] or None
    runs = []
    with tempfile.TemporaryDirectory(prefix="ideamine-bench-sqlite-") as tmp:
        for n in range(args.runs):
            run = run_multiprocess(Path(tmp) / f"run-{n}", phases, timeout=900)
            runs.append(run)
            status = "ok" if run.returncode == 0 and run.ledger_ok else f"FAILED (exit {run.returncode})"
            print(f"run {n + 1}/{args.runs} {status}: {run.line()}", flush=True)
            if run.returncode != 0:
                print(run.output[-2000:])
    entries, seconds = sum(r.entries for r in runs), sum(r.seconds for r in runs)
    print(
        f"total: {args.runs} runs, locked errors reaching the user "
        f"{sum(r.locked_in_output + len(r.locked_in_event_log) for r in runs)}, "
        f"step failures {sum(r.step_failures for r in runs)}, "
        f"retries absorbed {sum(r.retries for r in runs)}, "
        f"ledger {entries} entries in {seconds:.1f}s = {entries / seconds:.1f} entries/s"
    )


if __name__ == "__main__":
    main()
