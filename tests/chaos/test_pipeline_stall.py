"""RELIABILITY 8 on the pipeline: an agent that blocks is detected by the supervisor sensor and retried.

Intake's config copy beats every 0.2 s with N = 3 and `max_silence_seconds: 0.4`; Expander's offline
generator blocks for 4 s on its first call. While the run executes in process, the supervisor sensor
is evaluated every 0.1 s (`build_sensor_context`). Expected: exactly one `phase.stalled` event, one
`task.retry` carrying `retry_from_checkpoint`, one ledger `decision`, detection within
max_silence + (N + 1) · h + the longest gap between two ticks; the blocked call, when it returns,
is fenced out and the task is retried, so the run completes with one succeeded task per agent.
"""

from __future__ import annotations

from pathlib import Path

import pipeline_chaos as pc
import pytest

pytestmark = [pytest.mark.chaos, pytest.mark.exclusive, pytest.mark.timeout(120)]


def test_a_blocked_agent_is_detected_once_and_retried(tmp_path: Path) -> None:
    f = pc.stall_scenario(tmp_path)
    print("\nRELIABILITY 8 (pipeline): " + " ".join(f"{k}={v}" for k, v in f.items() if k != "failures"))
    assert f["run_success"], f["failures"]
    assert f["stalled_events"] == [f"{f['run_id']}/intake/Expander/0"]
    assert f["retry_strategies"] == ["retry_from_checkpoint"]
    assert f["decisions"] == 1 and f["latency_s"] is not None and f["latency_s"] <= f["bound_s"]
    assert f["succeeded_agents"] == ["Classifier", "Expander", "Validator"]
