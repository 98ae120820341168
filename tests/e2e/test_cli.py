"""The `ideamine` command as a user runs it: a subprocess on a temporary home, no prompts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from cli_runs import IDEA, full_run
from sqlite_probe import LOCKED, RetryProbe, dagster_event_texts, locked_errors
from support import ideamine

from ideamine_core.ledger import Ledger
from ideamine_core.storage.database import Database

pytestmark = pytest.mark.e2e


def assert_clean_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def test_scenario_9_full_run_with_zero_prompts_then_status(tmp_path: Path) -> None:
    run = full_run()  # `ideamine run IDEA --users … --constraint … --constraint …`, shared read-only
    proc, home, probe, seconds = run.proc, run.home, run.probe, run.seconds
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
    assert_no_locked_database(home, proc, run_id, probe, seconds)
    assert_dossier_complete(home, run_id, tmp_path / "dossier.json")


def assert_no_locked_database(
    home: Path, proc: subprocess.CompletedProcess, run_id: str, probe: RetryProbe, seconds: float
) -> None:
    """RELIABILITY 15 on the default threadpool executor (multiprocess: tests/integration/)."""
    events = dagster_event_texts(home / "dagster", proc.stdout.split("dagster run: ")[1].split()[0])
    output = (proc.stdout + proc.stderr).lower()
    entries = len(Ledger(Database(f"sqlite:///{home / 'ideamine.db'}")).entries(run_id))
    print(
        f"\n[test15 threadpool] 'database is locked' in CLI output: {output.count(LOCKED)}, in the Dagster "
        f"event log: {len(locked_errors(events))}; retries absorbed: {probe.retries()}; ledger {entries} "
        f"entries in {seconds:.1f}s = {entries / seconds:.1f} entries/s"
    )
    assert LOCKED not in output and locked_errors(events) == [] and probe.processes() >= 1


def assert_dossier_complete(home: Path, run_id: str, path: Path) -> None:
    """`ideamine dossier RUN` of a full run: every expected artifact and every outside input is there."""
    proc = ideamine(home, "dossier", run_id, "--format", "json", "-o", str(path))
    assert proc.returncode == 0 and "completeness 100.0%" in proc.stdout, proc.stdout + proc.stderr
    dossier = json.loads(path.read_text())
    assert dossier["completeness_percent"] == 100.0 and dossier["missing"] == []
    code, security, run = dossier["code"], dossier["security"], dossier["run"]
    assert len(code["workspace"]["commit_sha"]) == 40 and code["workspace"]["files"] > 0
    qa = code["qa_report"]
    assert qa["tests_run"] > 0 and qa["passed"] == qa["tests_run"]
    assert {"bandit", "detect-secrets"} <= {t.split()[0] for t in security["scanners"]["tools"]}
    ledger = Ledger(Database(f"sqlite:///{home / 'ideamine.db'}"))
    assert dossier["ledger_head"]["hash"] == ledger.latest_anchor(run_id).hash
    assert ledger.verify(run_id).ok
    assert run["waivers"] == [] and run["total_cost_usd"] is not None  # supplied (none applied; offline: $0)
    assert all(p["cost"] is not None for p in run["phases"])


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
    home = tmp_path / "home"
    proc = ideamine(home, "run", IDEA, config_dir=config_dir)
    assert_clean_error(proc, *needles, "Fix")
    # refused before anything is written: no run folder, no database, no Dagster instance or partition,
    # so a later run with the fixed config starts exactly like one on a fresh home (test_partial_run)
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())
    assert not (home / "ideamine.db").exists() and not (home / "dagster").exists()


def test_yaml_syntax_error_is_refused(tmp_path: Path, config_dir: Path) -> None:
    (config_dir / "prd.yaml").write_text("phase: prd\nagents: [unclosed\n")
    assert_clean_error(ideamine(tmp_path / "home", "run", IDEA, config_dir=config_dir), "prd.yaml")


def test_unwritable_home_is_refused_and_a_later_good_run_works(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the home folder should be")
    assert_clean_error(ideamine(blocker / "home", "run", IDEA), "IDEAMINE_HOME")
    ok = ideamine(tmp_path / "home", "run", IDEA, "--phases", "intake", "--executor", "in_process")
    assert ok.returncode == 0, ok.stderr
