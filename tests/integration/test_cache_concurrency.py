"""Two processes sending the same request at the same time make ONE upstream call (RELIABILITY test 24).

The first claims the request in the `model_calls` table and calls the (slow) local server; the second
finds the claim, waits for the row to complete and is served from it. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_llm import FakeLLMServer, Reply

from ideamine_core.agents.registry import get_agent
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.storage.database import Database

CHILD = Path(__file__).with_name("concurrent_call.py")
SUB = IdeaSubmission(idea="Build a collaborative todo app with real-time sync")


@pytest.mark.slow
@pytest.mark.usefixtures("allow_local_model_requests")
def test_two_processes_with_the_same_request_make_one_upstream_call(db: Database, tmp_path: Path) -> None:
    spec = get_agent("Classifier")
    good = spec.offline_rule(AgentContext(run_id="x", phase="intake", agent="Classifier", submission=SUB))
    env = os.environ | {"OPENAI_API_KEY": "sk-test", "PYTHONPATH": os.pathsep.join(sys.path)}
    with FakeLLMServer(
        "openai", responder=lambda body: Reply(output=good.model_dump(mode="json"), delay=1.0)
    ) as srv:
        children = [
            subprocess.Popen(
                [sys.executable, str(CHILD), db.url, srv.url, str(tmp_path), name],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in ("a", "b")
        ]
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready-{n}").exists() for n in ("a", "b")):
            assert time.monotonic() < deadline and all(c.poll() is None for c in children), (
                "children did not start"
            )
            time.sleep(0.01)
        (tmp_path / "go").touch()
        outputs = [c.communicate(timeout=60) for c in children]
        upstream = srv.count
    assert all(c.returncode == 0 for c in children), [err[-2000:] for _, err in outputs]
    results = [out.strip().split("\n")[-1].split(" ", 1) for out, _ in outputs]
    records = [json.loads(record) for _, record in results]
    assert (
        json.loads(results[0][0])["output"]
        == json.loads(results[1][0])["output"]
        == good.model_dump(mode="json")
    )
    assert sorted(r["cached"] for r in records) == [False, True]
    print(f"concurrent identical requests from 2 processes: {upstream} upstream call(s)")
    assert upstream == 1
