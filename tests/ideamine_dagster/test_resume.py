"""`resume_run` continues a run whose worker was SIGKILLed: the dead Dagster run is marked failed,
then re-executed from failure, so phases that completed are not run again.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
from support import REPO

from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore, run_status
from ideamine_dagster.launcher import last_dagster_run, open_instance, resume_run

WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from ideamine_core.domain.idea import IdeaSubmission
    from ideamine_core.settings import Settings
    from ideamine_dagster.launcher import create_run, execute_run, open_instance

    if __name__ == "__main__":
        settings = Settings(home=Path(sys.argv[1]), config_dir=Path(sys.argv[2]))
        submission = IdeaSubmission(idea="Build a parts catalogue for bike mechanics")
        record = create_run(settings, submission, ["intake", "ideation", "critique", "prd"])
        print(record.run_id, flush=True)
        execute_run(settings, open_instance(settings), record, "threadpool", simulated_latency_seconds=0.3)
    """
)


def test_a_killed_run_resumes_without_rerunning_completed_phases(tmp_path: Path, settings: Settings) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDEAMINE_", "DAGSTER_"))}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(settings.home), str(settings.config_dir)],
        stdout=subprocess.PIPE,
        text=True,
        env=env | {"PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    store = RunStore(settings.runs_dir)
    deadline = time.monotonic() + 60
    while store.load_phase(run_id, "critique") is None and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    record = store.load_run(run_id)
    phases = {p: store.load_phase(run_id, p) for p in record.phases}
    assert run_status(record, phases) == "interrupted"
    done_before = {p for p, r in phases.items() if r and r.status == "passed"}
    assert {"intake", "ideation"} <= done_before

    instance = open_instance(settings)
    killed = last_dagster_run(instance, run_id)
    assert killed is not None and killed.status == dg.DagsterRunStatus.STARTED
    dagster_run_id, success = resume_run(settings, instance, run_id, executor="in_process")
    assert success and dagster_run_id != killed.run_id
    assert instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE
    events = [json.loads(line) for line in store.event_log(run_id).path.read_text().splitlines()]
    runs_per_agent = collections.Counter(
        (e["phase"], e["data"]["agent"]) for e in events if e["type"] == "phase.agent.complete"
    )
    for phase in done_before:
        assert all(n == 1 for (p, _), n in runs_per_agent.items() if p == phase), runs_per_agent
    assert {p for p in record.phases if store.load_phase(run_id, p).status == "passed"} == set(record.phases)
    assert resume_run(settings, instance, run_id) == (None, True)  # nothing left to do
