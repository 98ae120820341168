"""The audit-trail commands as a user runs them: ledger, verify, metrics, lineage, events, db upgrade.

A real two-phase run (offline model) records its ledger (task and gate entries, a signed head per
phase), provenance and events in the embedded database as it runs; then the commands print it,
`ledger verify` passes and, after a tampered row, fails naming the entry; `events --follow` in one
process receives the events another process publishes over Redis Streams and exits when the run
completes.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import cli_runs
import pytest
from support import ideamine

from ideamine_core.ledger import Ledger
from ideamine_core.storage.database import Database

pytestmark = pytest.mark.e2e

IDEA = "Build a collaborative todo app with real-time sync"


@pytest.fixture(scope="module")
def recorded_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("audit") / "home"
    proc = ideamine(home, "run", IDEA, "--phases", "intake,ideation")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    run_id = proc.stdout.split("run ", 1)[1].split()[0]
    return home, run_id


def test_ledger_lists_entries_filtered_by_type_and_time(recorded_run: tuple[Path, str]) -> None:
    home, run_id = recorded_run
    proc = ideamine(home, "ledger", run_id, "--type", "gate", "--type", "signature", "--since", "1h")
    assert proc.returncode == 0, proc.stderr
    # one gate evaluation per phase, and the head signed after each phase
    assert proc.stdout.count(" gate ") == 2 and proc.stdout.count(" signature ") == 2
    assert " task " not in proc.stdout and " artifact " not in proc.stdout


def test_metrics_and_lineage_of_a_real_run(recorded_run: tuple[Path, str]) -> None:
    home, run_id = recorded_run
    metrics = ideamine(home, "metrics", run_id)
    assert metrics.returncode == 0, metrics.stderr
    assert "intake" in metrics.stdout and "ideation" in metrics.stdout and "gate pass rate" in metrics.stdout
    lineage = ideamine(home, "lineage", run_id, "ideation")
    assert lineage.returncode == 0, lineage.stderr
    out = lineage.stdout
    assert out.index("phase:ideation") < out.index("agent:ideation/") < out.index("phase:intake")
    assert "submission" in out and "agent:intake/" in out and out.count("sha256:") > 8


def test_verify_passes_then_names_the_tampered_entry(recorded_run: tuple[Path, str]) -> None:
    home, run_id = recorded_run
    ok = ideamine(home, "ledger", "verify", run_id)
    assert ok.returncode == 0 and "intact" in ok.stdout, ok.stdout + ok.stderr
    conn = sqlite3.connect(home / "ideamine.db")
    (seq,) = conn.execute(
        "SELECT min(seq) FROM ledger WHERE run_id = ? AND type = 'task'", (run_id,)
    ).fetchone()  # the first task entry: its status is rewritten
    conn.execute("DROP TRIGGER ledger_no_update")
    edit = "UPDATE ledger SET payload = replace(payload, 'succeeded', 'failed') WHERE run_id = ? AND seq = ?"
    conn.execute(edit, (run_id, seq))
    conn.commit()
    conn.close()
    broken = ideamine(home, "ledger", "verify", run_id)
    assert broken.returncode == 1
    assert f"BROKEN at seq {seq}" in broken.stderr and "edited" in broken.stderr


def test_events_history_falls_back_to_the_run_folder(recorded_run: tuple[Path, str]) -> None:
    home, run_id = recorded_run
    proc = ideamine(home, "events", run_id, "--type", "phase.gate.*")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("phase.gate.passed") == 2


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    proc = ideamine(tmp_path / "fresh", "db", "upgrade")
    assert proc.returncode == 0, proc.stderr
    assert "empty → revision 0001" in proc.stdout


PUBLISHER = """
import sys
from ideamine_core.events import EventBus, RedisEventStream
url, prefix, run = sys.argv[1:4]
bus = EventBus()
bus.subscribe("*", RedisEventStream(url, prefix=prefix))
for phase in ("intake", "ideation"):
    bus.emit("phase.started", run, phase)
    bus.emit("phase.complete", run, phase, status="passed")
bus.emit("run.complete", run)
"""


def test_events_follow_receives_another_process_events_over_redis(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    env = {"REDIS_URL": redis_url, "IDEAMINE_REDIS_PREFIX": redis_prefix}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("IDEAMINE_", "DAGSTER_"))}
    follower = subprocess.Popen(
        [sys.executable, "-m", "ideamine_dagster.cli", "events", "live-run", "--follow"],
        env=base | env | {"IDEAMINE_HOME": str(tmp_path / "home"), "COLUMNS": "200", "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "following run live-run from Redis Streams" in follower.stdout.readline()
        publisher = subprocess.run(
            [sys.executable, "-c", PUBLISHER, redis_url, redis_prefix, "live-run"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert publisher.returncode == 0, publisher.stderr
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
    lines = [line.split()[1] for line in out.splitlines() if line.strip()]
    print(
        f"\n[events --follow redis] received {len(lines)} events from another process; "
        f"exit {follower.returncode}"
    )
    assert follower.returncode == 0, err
    assert lines == ["phase.started", "phase.complete", "phase.started", "phase.complete", "run.complete"]


def test_a_full_run_writes_every_entry_type_as_it_runs() -> None:
    """Tasks with model, tokens, cost, latency and request hash; gates; orchestrator decisions; artifacts
    with their hash; costs; signed heads: all in the ledger of a plain `ideamine run`."""
    run = cli_runs.full_run()
    ledger = Ledger(Database(f"sqlite:///{run.home / 'ideamine.db'}"))
    entries = ledger.entries(run.run_id)
    by_type: dict[str, list[dict]] = {}
    for entry in entries:
        by_type.setdefault(entry.type, []).append(entry.data)
    assert {"task", "gate", "decision", "artifact", "cost", "signature"} <= set(by_type)
    model_tasks = [t for t in by_type["task"] if t["provider"] == "offline"]
    assert model_tasks and all(t["status"] == "succeeded" for t in by_type["task"])
    for task in model_tasks:
        assert task["model"] and task["tokens_in"] > 0 and task["cost_usd"] is not None
        assert task["latency_ms"] >= 0 and task["request_hash"].startswith("sha256:")
    assert len(by_type["gate"]) == 13 and all(g["passed"] for g in by_type["gate"])
    kinds = [d["kind"] for d in by_type["decision"]]
    assert kinds.count("dispatch") == 13 and kinds.count("handoff") == 13
    handoff = next(d for d in by_type["decision"] if d["kind"] == "handoff" and d["phase"] == "build")
    assert handoff["detail"]["downstream"] == ["aesthetic", "security", "story_loop"]
    assert all(a["content_hash"].startswith("sha256:") for a in by_type["artifact"])
    assert len(by_type["cost"]) == len(model_tasks)
    assert ledger.verify(run.run_id).ok
