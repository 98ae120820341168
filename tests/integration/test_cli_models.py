"""`ideamine run` on model providers, as a user runs it (a subprocess), with a local fake OpenAI server.

Bad model settings end before anything runs with one clear paragraph and exit status 2: an unknown
provider prefix (the known ones listed), a missing key (its variable named), an unreachable base URL
(named, password hidden). A run on `openai:<model>` is recorded, then `--replay RUN_ID` with the
server stopped reproduces its artifacts byte for byte.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fake_llm import FakeLLMServer, Reply, user_text

from ideamine_core.agents.prompting import render_prompt
from ideamine_core.agents.registry import agents_of_phase
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.idea import IdeaSubmission

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

IDEA = "Build a collaborative todo app with real-time sync"


def ideamine(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI on `home`, with `env` added to a clean environment."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IDEAMINE_", "DAGSTER_", "OPENAI_", "ANTHROPIC_"))
    }
    full = base | {"IDEAMINE_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "ideamine_dagster.cli", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("env", "needles"),
    [
        ({"IDEAMINE_MODEL": "mistral:large"}, ["unknown provider 'mistral'", "offline, openai, anthropic"]),
        ({"IDEAMINE_MODEL": "anthropic:claude-sonnet-4-5"}, ["ANTHROPIC_API_KEY is not set"]),
        (
            {
                "IDEAMINE_MODEL": "openai:llama3.1",
                "IDEAMINE_MODEL_BASE_URL": "http://u:hunter2@127.0.0.1:{port}/v1",
            },
            ["cannot reach the model server at http://127.0.0.1:", "IDEAMINE_MODEL_BASE_URL"],
        ),
    ],
    ids=["unknown-provider", "missing-key", "unreachable-base-url"],
)
def test_bad_model_settings_stop_the_run_before_it_starts(
    tmp_path: Path, env: dict[str, str], needles: list[str]
) -> None:
    env = {k: v.format(port=_closed_port()) for k, v in env.items()} | {
        "IDEAMINE_ALLOW_MODEL_REQUESTS": "local"
    }
    proc = ideamine(tmp_path / "home", "run", IDEA, "--phases", "intake", env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and "hunter2" not in proc.stdout + proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr
    assert not (tmp_path / "home" / "runs").exists() or not any((tmp_path / "home" / "runs").iterdir())


def _intake_oracle(submission: IdeaSubmission) -> dict[str, dict[str, Any]]:
    """Prompt → output for the sequential intake agents, from the offline rules."""
    answers: dict[str, dict[str, Any]] = {}
    previous: dict[str, dict[str, Any]] = {}
    for spec in agents_of_phase("intake"):
        ctx = AgentContext(
            run_id="x", phase="intake", agent=spec.name, submission=submission, previous=previous
        )
        output = spec.offline_rule(ctx).model_dump(mode="json")
        answers[render_prompt(spec, ctx).user] = output
        previous = previous | {spec.name: output}
    return answers


def test_a_recorded_openai_run_replays_identically_with_the_server_stopped(tmp_path: Path) -> None:
    oracle = _intake_oracle(IdeaSubmission(idea=IDEA))
    home = tmp_path / "home"
    with FakeLLMServer("openai", responder=lambda body: Reply(output=oracle.get(user_text(body)))) as server:
        env = {
            "IDEAMINE_MODEL": "openai:gpt-4.1-mini",
            "IDEAMINE_MODEL_BASE_URL": server.url,
            "OPENAI_API_KEY": "sk-cli-canary-1234",
            "IDEAMINE_ALLOW_MODEL_REQUESTS": "local",
        }
        first = ideamine(home, "run", IDEA, "--phases", "intake", env=env)
        calls = server.count
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert calls == 3 and "model openai:gpt-4.1-mini" in first.stdout
    run_id = first.stdout.split("run ")[1].split()[0]
    replay_env = env | {"IDEAMINE_ALLOW_MODEL_REQUESTS": "none"}  # stopped server, and no request allowed
    second = ideamine(home, "run", "ignored: the recorded idea is used", "--replay", run_id, env=replay_env)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    replay_id = second.stdout.split("run ")[1].split()[0]
    recorded, replayed = (home / "runs" / r / "artifacts" / "intake.json" for r in (run_id, replay_id))
    assert replay_id != run_id and recorded.read_bytes() == replayed.read_bytes()
    assert json.loads(replayed.read_text())["results"][0]["provenance"]["provider"] == "openai"
