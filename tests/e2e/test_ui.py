"""`ideamine ui` serves the Dagster UI on the CLI's instance: 13 assets, lineage, gate checks, the run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

QUERY = """{
  assetNodes { assetKey { path } dependencyKeys { path }
    assetChecksOrError { ... on AssetChecks { checks { name blocking } } } }
  runsOrError { ... on Runs { results { runId status tags { key value } } } }
}"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(port: int) -> dict:
    body = json.dumps({"query": QUERY}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["data"]


def test_ui_shows_the_run_just_made_with_its_assets_lineage_and_gates(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDEAMINE_", "DAGSTER_"))}
    env["IDEAMINE_HOME"] = str(tmp_path / "home")
    cli = [sys.executable, "-m", "ideamine_dagster.cli"]
    made = subprocess.run(
        [*cli, "run", "A habit tracker for students", "--phases", "intake", "--executor", "in_process"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    port = _free_port()
    server = subprocess.Popen(
        [*cli, "ui", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline, data = time.monotonic() + 90, None
        while time.monotonic() < deadline:
            try:
                data = _graphql(port)
                if data.get("assetNodes"):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert data and data["assetNodes"], "webserver did not answer with the code location loaded"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    nodes = {n["assetKey"]["path"][-1]: n for n in data["assetNodes"]}
    assert len(nodes) == 13
    assert {d["path"][-1] for d in nodes["qa"]["dependencyKeys"]} == {"security", "story_loop"}
    assert all(
        n["assetChecksOrError"]["checks"] == [{"name": "gate", "blocking": True}] for n in nodes.values()
    )
    runs = data["runsOrError"]["results"]
    assert len(runs) == 1 and runs[0]["status"] == "SUCCESS"
    assert {t["key"]: t["value"] for t in runs[0]["tags"]}["dagster/partition"].startswith("habit-tracker")
