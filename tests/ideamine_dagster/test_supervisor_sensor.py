"""The supervisor sensor, evaluated tick by tick with `build_sensor_context` on a temporary instance.

A task whose heartbeats stopped is judged stalled once: one ledger `decision`, one `phase.stalled` and
one `task.retry` event, and a second tick decides nothing more. The tick's text (the sensor's skip
message in the UI) names each decision's task, failure mode, strategy and reason, bounded in length.
A run whose worker process died while Dagster still shows its run STARTED gets that Dagster run
marked FAILED, its record marked interrupted (ledger decision, `run.interrupted` event) and
`ideamine status` names `ideamine resume`. A due durable timer is claimed once and announced. The
sensor's interval is the smallest heartbeat interval.
"""

from __future__ import annotations

import subprocess
import sys
import time

import dagster as dg
import psutil
import pytest
import yaml
from support import DEMO
from typer.testing import CliRunner

from ideamine_core.phase.records import Records
from ideamine_core.resilience.decisions import Decision, FailureMode, Strategy
from ideamine_core.resilience.supervision import LISTED, REASON_CHARS, SUMMARY_CHARS, PassReport
from ideamine_core.resilience.timers import TimerStore
from ideamine_core.runtime import Runtime
from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore, WorkerInfo
from ideamine_dagster.cli.app import app
from ideamine_dagster.definitions import build_definitions

pytestmark = pytest.mark.exclusive  # leases and heartbeats expire in wall time


def _sensor(settings: Settings) -> tuple[dg.SensorDefinition, dg.ConfigurableResource]:
    defs = build_definitions(settings)
    return defs.resolve_sensor_def("supervisor"), defs.resources["ideamine"]


def _tick(instance: dg.DagsterInstance, settings: Settings) -> str:
    sensor, resource = _sensor(settings)
    result = sensor(dg.build_sensor_context(instance=instance, resources={"ideamine": resource}))
    assert isinstance(result, dg.SkipReason)
    return result.skip_message or ""


def _events(store: RunStore, run_id: str, kind: str) -> list[dict]:
    return [e.data for e in store.event_log(run_id).read() if e.type == kind]


def test_the_interval_is_the_smallest_heartbeat_interval(settings: Settings) -> None:
    assert _sensor(settings)[0].minimum_interval_seconds == 30
    path = settings.config_dir / "intake.yaml"
    config = yaml.safe_load(path.read_text())
    config["heartbeat"]["interval_seconds"] = 5
    path.write_text(yaml.safe_dump(config))
    assert _sensor(settings)[0].minimum_interval_seconds == 5


def test_a_silent_task_is_judged_stalled_once(instance: dg.DagsterInstance, settings: Settings) -> None:
    store = RunStore(settings.runs_dir)
    run_id = store.create(store.new_run_id(DEMO), DEMO, ["intake"]).run_id
    runtime = Runtime.of(settings)
    task_id = f"{run_id}/intake/Classifier/0"
    runtime.heartbeats.acquire(task_id, "elsewhere:1:1", 0.3, run_id=run_id, phase="intake", interval=0.1)
    assert "0 decision(s)" in _tick(instance, settings)  # still beating within its lease
    time.sleep(0.5)  # > N (3) intervals of 0.1 s without a beat
    assert "1 decision(s)" in _tick(instance, settings)
    assert "0 decision(s)" in _tick(instance, settings)  # the lease was revoked: decided once
    (decision,) = [e for e in runtime.ledger.entries(run_id) if e.type == "decision"]
    assert decision.data["mode"] == "stall" and decision.task_id == task_id
    assert len(_events(store, run_id, "phase.stalled")) == 1
    (retry,) = _events(store, run_id, "task.retry")
    assert retry["strategy"] == "retry_from_checkpoint"


def test_the_tick_names_each_decision_its_task_failure_mode_strategy_and_reason(
    instance: dg.DagsterInstance, settings: Settings
) -> None:
    store = RunStore(settings.runs_dir)
    run_id = store.create(store.new_run_id(DEMO), DEMO, ["intake"]).run_id
    heartbeats, now = Runtime.of(settings).heartbeats, time.time()
    silent, flat = f"{run_id}/intake/Classifier/0", f"{run_id}/intake/Expander/0"
    lease = heartbeats.acquire(silent, "elsewhere:1:1", 30.0, run_id=run_id, phase="intake", interval=0.1)
    heartbeats.beat(lease, at=now - 5)  # its last beat 5 s ago: 50 intervals of 0.1 s missed
    # beating every 3 s, with the same progress for the last 27 s (the slope window is 10 intervals)
    lease = heartbeats.acquire(flat, "elsewhere:1:2", 30.0, run_id=run_id, phase="intake", interval=3.0)
    for ago in (27, 15, 0):
        heartbeats.beat(lease, 0.5, at=now - ago)
    text = _tick(instance, settings)
    assert text.startswith("2 task(s) checked, 2 decision(s), 0 dead run(s), 0 timer(s) due: ")
    assert f"{silent}: stall → retry_from_checkpoint (no heartbeat for 5." in text
    assert f"{flat}: no_progress → switch_strategy (progress flat for 30 s)" in text
    assert "\n" not in text


def test_the_tick_text_is_bounded() -> None:
    def decision(n: int) -> Decision:
        return Decision(
            decision_id=f"d{n}",
            mode=FailureMode.RATE_LIMIT,
            strategy=Strategy.BACKOFF,
            reason="rate limited:\n" + "wait " * 500,
            run_id="run-1",
            phase="prd",
            task_id=f"run-1/prd/Agent{n}/0" if n % 2 else None,
            decided_at=0.0,
        )

    report = PassReport(checked=8, decisions=[decision(n) for n in range(8)], dead_runs=[], timers=[])
    text = report.summary()
    assert len(text) <= SUMMARY_CHARS and "\n" not in text
    assert "run-1/prd/Agent1/0: rate_limit → backoff (rate limited: wait wait" in text
    assert "run-1/prd: rate_limit → backoff (" in text  # no task: its phase
    assert text.count("rate_limit → backoff") == LISTED and text.endswith("; 3 more decision(s)")
    for line in text.split("; ")[1:-1]:
        assert len(line) <= len("run-1/prd/Agent1/0: rate_limit → backoff ()") + REASON_CHARS
        assert line.endswith("…)")


def _dead_worker() -> WorkerInfo:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    info = WorkerInfo(pid=proc.pid, host=WorkerInfo.current().host, started_at=psutil.Process().create_time())
    proc.wait()
    return info


def test_a_run_whose_worker_died_is_marked_failed_and_interrupted(
    instance: dg.DagsterInstance, settings: Settings
) -> None:
    store = RunStore(settings.runs_dir)
    record = store.create(store.new_run_id(DEMO), DEMO, ["intake"])
    record.worker = _dead_worker()
    store.save_run(record)
    runtime = Runtime.of(settings)
    Records(runtime.db, store).run(record, "running", settings.model)

    @dg.op
    def noop() -> None:
        return None

    job = dg.GraphDefinition(name="g", node_defs=[noop]).to_job()
    dagster_run = instance.create_run_for_job(
        job, status=dg.DagsterRunStatus.STARTED, tags={"ideamine/run_id": record.run_id}
    )
    text = _tick(instance, settings)
    assert "1 dead run(s)" in text and f"run {record.run_id} interrupted (silent " in text
    assert instance.get_run_by_id(dagster_run.run_id).status == dg.DagsterRunStatus.FAILURE
    assert "0 dead run(s)" in _tick(instance, settings)  # marked once
    (entry,) = [e for e in runtime.ledger.entries(record.run_id) if e.type == "decision"]
    assert entry.data["kind"] == "run_interrupted"
    assert _events(store, record.run_id, "run.interrupted")[0]["resume"] == f"ideamine resume {record.run_id}"
    assert store.load_run(record.run_id).worker is None


def test_status_says_how_to_resume_an_interrupted_run(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RunStore(settings.runs_dir)
    record = store.create(store.new_run_id(DEMO), DEMO, ["intake"])
    record.worker = _dead_worker()
    store.save_run(record)
    from ideamine_core.storage.run_store import PhaseRecord

    store.save_phase(record.run_id, PhaseRecord(phase="intake", status="running"))
    monkeypatch.setenv("IDEAMINE_HOME", str(settings.home))
    monkeypatch.setenv("IDEAMINE_CONFIG_DIR", str(settings.config_dir))
    out = CliRunner().invoke(app, ["status"], env={"COLUMNS": "300"}).output
    assert "interrupted" in out and f"ideamine resume {record.run_id}" in out


def test_a_due_timer_is_announced_once(instance: dg.DagsterInstance, settings: Settings) -> None:
    store = RunStore(settings.runs_dir)
    run_id = store.create(store.new_run_id(DEMO), DEMO, ["intake"]).run_id
    timers = TimerStore(Runtime.of(settings).db)
    timers.schedule("retry-1", run_id=run_id, kind="retry", fire_at=time.time() - 1, payload={"n": 1})
    text = _tick(instance, settings)
    assert "1 timer(s) due" in text and f"timer retry-1 (retry) of {run_id}" in text
    assert "0 timer(s) due" in _tick(instance, settings)
    (due,) = _events(store, run_id, "timer.due")
    assert due["timer_id"] == "retry-1" and due["payload"] == {"n": 1}
