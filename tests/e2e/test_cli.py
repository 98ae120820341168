"""The `ideamine` command as a user runs it: a subprocess on a temporary home, no prompts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e

IDEA = "Build a collaborative todo app with real-time sync"


def ideamine(home: Path, *args: str, config_dir: Path | None = None, timeout: float = 240):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDEAMINE_", "DAGSTER_"))}
    env |= {"IDEAMINE_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}
    if config_dir:
        env["IDEAMINE_CONFIG_DIR"] = str(config_dir)
    return subprocess.run(
        [sys.executable, "-m", "ideamine_dagster.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def assert_clean_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def test_scenario_9_full_run_with_zero_prompts_then_status(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = ideamine(
        home,
        "run",
        IDEA,
        "--users",
        "remote teams",
        "--constraint",
        "mobile-first",
        "--constraint",
        "offline-capable",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "IdeaMine run summary" in proc.stdout
    artifacts = Path(proc.stdout.split("artifacts: ")[1].split()[0])
    assert artifacts.is_dir()
    assert len(list(artifacts.glob("*.json"))) == 13 and len(list(artifacts.glob("*.md"))) == 13
    for path in artifacts.glob("*.json"):
        data = json.loads(path.read_text())
        assert data["gate"]["passed"]
        # the offline rules make model outputs; real scanners and the sandboxed test run make the rest
        assert {r["provenance"]["provider"] for r in data["results"]} <= {"offline", "tool"}
    for phase in ("intake", "story_loop", "beta"):
        assert phase in proc.stdout
    assert proc.stdout.count("passed") >= 13
    run_id = artifacts.parent.name
    status = ideamine(home, "status")
    assert status.returncode == 0 and run_id in status.stdout and "13/13" in status.stdout
    run_dir = artifacts.parent
    assert {"dossier.html", "dossier.md", "dossier.json"} <= {p.name for p in run_dir.iterdir()}
    assert (run_dir / "workspace" / ".git").is_dir()


def test_partial_run(tmp_path: Path) -> None:
    proc = ideamine(tmp_path / "home", "run", IDEA, "--phases", "intake,ideation", "--executor", "in_process")
    assert proc.returncode == 0, proc.stderr
    artifacts = Path(proc.stdout.split("artifacts: ")[1].split()[0])
    assert sorted(p.name for p in artifacts.glob("*.json")) == ["ideation.json", "intake.json"]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["run", ""], ["idea is empty"]),  # empty idea
        (["run", "   "], ["idea is empty"]),  # whitespace idea
        (["run", "x" * 20_001], ["20,000"]),  # idea too long
        (["run", IDEA, "--phases", "intake,marketing"], ["marketing", "intake, ideation"]),  # unknown phase
        (["run", IDEA, "--phases", "prd"], ["critique", "--phases"]),  # dependency not selected
        (["run", IDEA, "--executor", "warp"], ["warp"]),  # unknown executor
    ],
)
def test_bad_input_ends_in_one_clear_message_and_exit_2(tmp_path: Path, args, needles) -> None:
    home = tmp_path / "home"
    assert_clean_error(ideamine(home, *args), *needles)
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())


BAD_YAML = [
    ("ideation.yaml", lambda d: d | {"colour": "blue"}, ["ideation.yaml", "colour"]),  # unknown key
    ("ideation.yaml", lambda d: d | {"parallelism": "fast"}, ["ideation.yaml", "parallelism"]),  # wrong type
    (
        "critique.yaml",
        lambda d: d | {"depends_on": ["ideationn"]},
        ["critique.yaml", "depends_on"],
    ),  # unknown dep
    ("intake.yaml", lambda d: d | {"depends_on": ["beta"]}, ["depends_on", "→"]),  # cycle
]


@pytest.mark.parametrize(("file", "edit", "needles"), BAD_YAML)
def test_malformed_phase_yaml_is_refused_naming_file_and_field(
    tmp_path: Path, config_dir: Path, file, edit, needles
) -> None:
    path = config_dir / file
    path.write_text(yaml.safe_dump(edit(yaml.safe_load(path.read_text()))))
    proc = ideamine(tmp_path / "home", "run", IDEA, config_dir=config_dir)
    assert_clean_error(proc, *needles, "Fix")


def test_yaml_syntax_error_is_refused(tmp_path: Path, config_dir: Path) -> None:
    (config_dir / "prd.yaml").write_text("phase: prd\nagents: [unclosed\n")
    assert_clean_error(ideamine(tmp_path / "home", "run", IDEA, config_dir=config_dir), "prd.yaml")


def test_unwritable_home_is_refused_and_a_later_good_run_works(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the home folder should be")
    assert_clean_error(ideamine(blocker / "home", "run", IDEA), "IDEAMINE_HOME")
    ok = ideamine(tmp_path / "home", "run", IDEA, "--phases", "intake", "--executor", "in_process")
    assert ok.returncode == 0, ok.stderr
