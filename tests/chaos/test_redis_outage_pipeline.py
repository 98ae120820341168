"""RELIABILITY 10 on the pipeline: a run's Redis (heartbeats, breaker, event stream) is killed mid-run and
restarted empty, while the supervisor ticks as its sensor would. Expected: the run completes, no task is
judged stalled, and events published after the restart reach the new Redis stream."""

from __future__ import annotations

import shutil
import threading
import time

import dagster as dg
import pytest
import redis
import yaml
from resilience_scenarios import RedisServer
from support import DEMO

from ideamine_core.events import DEFAULT_STREAM_PREFIX, stream_key
from ideamine_core.resilience.supervision import supervise
from ideamine_core.runtime import Runtime
from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore
from ideamine_dagster.launcher import create_run, execute_run

pytestmark = [pytest.mark.chaos, pytest.mark.exclusive, pytest.mark.timeout(120)]

PHASES = ["intake", "ideation", "critique"]
INTERVAL = 0.5  # heartbeats: 3 missed (1.5 s, half the outage) would be judged a stall


@pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not installed (.ci/run installs it)"
)
def test_a_run_survives_its_redis_restarting_with_no_false_stall(
    settings: Settings, instance: dg.DagsterInstance
) -> None:
    for phase in PHASES:
        path = settings.config_dir / f"{phase}.yaml"
        config = yaml.safe_load(path.read_text())
        config["heartbeat"] = {"interval_seconds": INTERVAL, "stall_threshold": 3}
        path.write_text(yaml.safe_dump(config))
    with RedisServer() as server:
        on_redis = settings.model_copy(update={"redis_url": server.url})
        runtime = Runtime.of(on_redis)
        configs = _configs(on_redis)
        record = create_run(on_redis, DEMO, PHASES)
        outcome: dict[str, bool] = {}

        def run() -> None:
            outcome["success"] = execute_run(on_redis, instance, record, "threadpool", 0.4)[1]

        worker = threading.Thread(target=run)
        started = time.monotonic()
        worker.start()
        decisions, ticks, down_at, up_at = [], 0, None, None
        while worker.is_alive():
            elapsed = time.monotonic() - started
            if down_at is None and elapsed > 1.5:
                server.stop()
                down_at = elapsed
            elif down_at is not None and up_at is None and elapsed > down_at + 3.0:
                server.start()
                up_at = elapsed
            decisions += supervise(runtime, configs).decisions
            ticks += 1
            time.sleep(INTERVAL / 2)
        worker.join()
        stream = redis.Redis.from_url(server.url)
        try:
            after_restart = stream.xlen(stream_key(DEFAULT_STREAM_PREFIX, record.run_id))
        finally:
            stream.close()
    seconds = time.monotonic() - started
    print(
        f"\nRELIABILITY 10 (pipeline): run_success={outcome.get('success')} seconds={seconds:.1f} "
        f"redis_down={down_at or 0:.1f}s→{up_at or 0:.1f}s ticks={ticks} stall_decisions={len(decisions)} "
        f"events_in_new_stream={after_restart}"
    )
    assert down_at is not None and up_at is not None, "the run ended before the outage was over"
    assert outcome.get("success") is True
    assert decisions == [], [(d.task_id, d.mode, d.reason) for d in decisions]
    assert after_restart > 0  # the stream came back with the server
    phases = {p: RunStore(on_redis.runs_dir).load_phase(record.run_id, p).status for p in PHASES}
    assert set(phases.values()) == {"passed"}


def _configs(settings: Settings) -> list:
    from ideamine_dagster.resources import phase_graph

    return list(phase_graph(str(settings.config_dir)).phases.values())
