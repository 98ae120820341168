"""`ideamine run` on model providers, as a user runs it, with local fake OpenAI servers.

Bad model settings end before anything runs with one clear paragraph and exit status 2 (a subprocess
each): an unknown provider prefix (the known ones listed), a missing key (its variable named), an
unreachable base URL (named, password hidden). A server that goes down mid-run fails the run with exit 1
and one paragraph naming the unreachable URL, keeping what was done; `ideamine resume` with the server
back completes it without paying for finished tasks again. A model that keeps returning invalid output
fails after the configured attempts, its raw output in the report, no stack trace anywhere. (`--replay`
of a recorded run is checked on a full run in test_pipeline_openai.py.)
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from fake_llm import FakeLLMServer, Reply
from rules_model import rules_answer, system_text
from typer.testing import CliRunner

from ideamine_core.storage.run_store import RunStore

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


def in_process(home: Path, *args: str, env: dict[str, str]) -> Result:
    """The CLI in this process (as `ideamine()` runs it, without a new interpreter's start-up)."""
    from ideamine_dagster.cli.app import app

    stale = {k: None for k in os.environ if k.startswith(("IDEAMINE_", "DAGSTER_", "OPENAI_", "ANTHROPIC_"))}
    full = stale | {"IDEAMINE_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"} | env
    return CliRunner().invoke(app, list(args), env=full)


def _clean_failure(result: Result, run_id: str) -> None:
    """Exit 1 with one paragraph naming how to continue, and no stack trace of any kind."""
    assert result.exit_code == 1, result.output[-3000:]
    assert "Traceback" not in result.output and "Stack Trace" not in result.output, result.output[-3000:]
    assert f"continue it with `ideamine resume {run_id}`" in result.stderr


class GoesDown:
    """Plays the rules model until the first request of `agent`, then stops its server mid-request."""

    def __init__(self, agent: str) -> None:
        self.agent, self.server = agent, FakeLLMServer("openai", responder=self)

    def __call__(self, body: dict[str, Any]) -> Reply:
        if system_text(body).startswith(f"You are {self.agent},"):
            threading.Thread(target=self.server.stop).start()
            return Reply(drop=True)
        return rules_answer(body)


@pytest.mark.usefixtures("allow_local_model_requests")
def test_a_server_unreachable_mid_run_fails_cleanly_and_the_run_resumes_once_it_is_back(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    down = GoesDown("Validator")  # intake's third agent, after Classifier and Expander answered
    env = {
        "IDEAMINE_MODEL": "openai:gpt-4.1-mini",
        "IDEAMINE_MODEL_BASE_URL": down.server.start().url,
        "OPENAI_API_KEY": "sk-cli-canary-9876",
    }
    first = in_process(home, "run", IDEA, "--phases", "intake", env=env)
    run_id = first.stdout.split("run ")[1].split()[0]
    _clean_failure(first, run_id)
    assert f"at {down.server.url} could not be reached" in first.stderr
    assert "sk-cli-canary" not in first.output
    tasks = home / "runs" / run_id / "tasks" / "intake"
    assert sorted(p.name for p in tasks.iterdir()) == ["Classifier.0.json", "Expander.0.json"]  # kept

    # the breaker opened on the outage; let its reset timeout pass (instead of sleeping 30 s) …
    with sqlite3.connect(home / "ideamine.db") as db:
        assert db.execute("UPDATE circuit_breakers SET opened_at = opened_at - 60").rowcount == 1
    with FakeLLMServer("openai", responder=rules_answer) as back:  # … and bring a server back up
        second = in_process(home, "resume", run_id, env=env | {"IDEAMINE_MODEL_BASE_URL": back.url})
        asked = [system_text(r.body).split(",")[0] for r in back.received]
    assert second.exit_code == 0, second.output[-3000:]
    assert RunStore(home / "runs").has_artifact(run_id, "intake")
    assert asked == ["You are Validator"]  # the finished tasks were not paid for again


@pytest.mark.usefixtures("allow_local_model_requests")
def test_a_model_that_keeps_returning_invalid_output_fails_with_its_raw_output(
    tmp_path: Path, config_dir: Path
) -> None:
    intake = config_dir / "intake.yaml"
    intake.write_text(intake.read_text().replace("max_attempts: 5", "max_attempts: 2"))
    raw = '{"category": "productivity", "complexity": "enormous", "notes": ["RAW-7f3a"]}'

    def answer(body: dict[str, Any]) -> Reply:
        return Reply(output=raw) if "You are Classifier," in system_text(body) else rules_answer(body)

    with FakeLLMServer("openai", responder=answer) as server:
        env = {
            "IDEAMINE_MODEL": "openai:gpt-4.1-mini",
            "IDEAMINE_MODEL_BASE_URL": server.url,
            "IDEAMINE_CONFIG_DIR": str(config_dir),
            "OPENAI_API_KEY": "sk-cli-canary-1357",
        }
        result = in_process(tmp_path / "home", "run", IDEA, "--phases", "intake", env=env)
        asked = sum("You are Classifier," in system_text(r.body) for r in server.received)
    run_id = result.stdout.split("run ")[1].split()[0]
    _clean_failure(result, run_id)
    assert asked == 3 * 2  # 3 attempts per call (re-asked with the validation error) × 2 gate attempts
    report = result.stderr.split("error: ", 1)[1]
    assert (
        "Classifier" in report and "after 3 attempt(s) the last output was" in report and "RAW-7f3a" in report
    )
    assert (tmp_path / "home" / "runs" / run_id / "artifacts" / "intake.failed.json").exists()  # kept
