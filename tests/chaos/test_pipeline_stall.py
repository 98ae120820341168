"""RELIABILITY 8 on the pipeline: an agent that blocks is detected by the supervisor sensor and retried.

Intake's config copy beats every 0.2 s with N = 3 and `max_silence_seconds: 0.4`; Expander's offline
generator blocks for 4 s on its first call. While the run executes in process, the supervisor sensor
is evaluated every 0.1 s (`build_sensor_context`). Expected: exactly one `phase.stalled` event, one
`task.retry` carrying `retry_from_checkpoint`, one ledger `decision`, detection within
max_silence + (N + 1) · h (+ one tick); the blocked call, when it returns, is fenced out and the task
is retried, so the run completes with one succeeded task entry per agent.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pipeline_chaos as pc
import pytest
import yaml

from ideamine_core.agents.spec import AgentSpec
from ideamine_core.domain.agent import AgentContext
from ideamine_core.providers.offline import OfflineProvider
from ideamine_core.runtime import Runtime
from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore
from ideamine_dagster.definitions import build_definitions
from ideamine_dagster.resources import IdeaMineResource

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]

INTERVAL, THRESHOLD, SILENCE, BLOCK = 0.2, 3, 0.4, 4.0
BLOCKED: dict[str, float] = {}


class BlockingOnce(OfflineProvider):
    """The offline rules, except that Expander's first call blocks for BLOCK seconds."""

    def generate(self, spec: AgentSpec, ctx: AgentContext) -> dict[str, Any]:
        if spec.name == "Expander" and "at" not in BLOCKED:
            BLOCKED["at"] = time.time()
            time.sleep(BLOCK)
        return super().generate(spec, ctx)


class BlockingResource(IdeaMineResource):
    def provider(self) -> OfflineProvider:
        return BlockingOnce()


def test_a_blocked_agent_is_detected_once_and_retried(
    settings: Settings, instance: dg.DagsterInstance, config_dir: Path
) -> None:
    path = config_dir / "intake.yaml"
    config = yaml.safe_load(path.read_text())
    config["heartbeat"] = {
        "interval_seconds": INTERVAL,
        "stall_threshold": THRESHOLD,
        "max_silence_seconds": SILENCE,
    }
    path.write_text(yaml.safe_dump(config))
    resource = BlockingResource(home=str(settings.home), config_dir=str(settings.config_dir))
    defs = build_definitions(settings, resources={"ideamine": resource})
    sensor = defs.resolve_sensor_def("supervisor")
    outcome: dict[str, Any] = {}

    def run() -> None:
        outcome["run_id"], outcome["result"] = pc.run_in_process(
            settings, instance, ["intake"], {"ideamine": resource}
        )

    worker = threading.Thread(target=run)
    worker.start()
    ticks = 0
    while worker.is_alive() and ticks < 600:
        sensor(dg.build_sensor_context(instance=instance, resources={"ideamine": resource}))
        ticks += 1
        time.sleep(0.1)
    worker.join(timeout=60)
    run_id, result = outcome["run_id"], outcome["result"]

    events = RunStore(settings.runs_dir).event_log(run_id).read()
    stalled = [e for e in events if e.type == "phase.stalled"]
    retries = [e.data for e in events if e.type == "task.retry"]
    ledger = Runtime.of(settings).ledger.entries(run_id)
    decisions = [e.data for e in ledger if e.type == "decision" and e.data.get("mode") == "stall"]
    tasks = [e.data for e in ledger if e.type == "task" and e.data["status"] == "succeeded"]
    latency = decisions[0]["decided_at"] - BLOCKED["at"] if decisions else None
    bound = SILENCE + (THRESHOLD + 1) * INTERVAL + 0.1
    print(
        f"\nRELIABILITY 8 (pipeline): stalled_events={len(stalled)} retry_strategies="
        f"{[r['strategy'] for r in retries]} decisions={len(decisions)} "
        f"latency_s={latency and round(latency, 2)} bound_s={bound:.2f} ticks={ticks} "
        f"run_success={result.success}"
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert len(stalled) == 1 and stalled[0].data["task_id"] == f"{run_id}/intake/Expander/0"
    assert [r["strategy"] for r in retries] == ["retry_from_checkpoint"]
    assert len(decisions) == 1 and latency is not None and latency <= bound
    assert sorted(t["agent"] for t in tasks) == ["Classifier", "Expander", "Validator"]
