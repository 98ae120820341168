"""`ideamine dossier RUN --format html|md|json [-o FILE]` as a user runs it: it writes the file (by default
into the run folder), prints its path, copies the ledger's signed head and costs when the ledger has
them, and ends a bad run id, format or output path in one clear message with exit 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ideamine_core.dossier import EXPECTED, Dossier
from ideamine_core.ledger import CostPayload, Ledger, Signer
from ideamine_core.settings import Settings
from ideamine_core.storage.database import open_database
from ideamine_core.storage.run_store import RunStore

pytestmark = pytest.mark.e2e

IDEA = "Build a collaborative todo app with real-time sync"


def ideamine(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("IDEAMINE_", "DAGSTER_", "DATABASE_URL"))
    }
    base |= {"IDEAMINE_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "ideamine_dagster.cli", *args],
        env=base,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(home, run id) of a partial offline run: intake and ideation only."""
    home = tmp_path_factory.mktemp("dossier-cli") / "home"
    proc = ideamine(home, "run", IDEA, "--phases", "intake,ideation", "--executor", "in_process")
    assert proc.returncode == 0, proc.stderr
    (record,) = RunStore(home / "runs").list_runs()
    return home, record.run_id


def test_writes_into_the_run_folder_and_prints_the_path(run: tuple[Path, str]) -> None:
    home, run_id = run  # (html by default: tests/e2e/test_dossier_browser.py opens that one)
    proc = ideamine(home, "dossier", run_id, "--format", "md")
    assert proc.returncode == 0, proc.stderr
    path = Path(proc.stdout.strip().splitlines()[-1])
    assert path == home / "runs" / run_id / "dossier.md"
    # intake and ideation make no dossier artifact; the ledger head, costs and waivers are supplied
    assert "| Completeness | **15.0%** (3 of 20 expected artifacts) |" in path.read_text()
    assert "completeness 15.0%" in proc.stdout


def test_output_file_holds_the_dossier_model(run: tuple[Path, str], tmp_path: Path) -> None:
    home, run_id = run
    target = tmp_path / "out" / "release.json"
    proc = ideamine(home, "dossier", run_id, "-f", "json", "-o", str(target))
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip().splitlines()[-1]) == target
    dossier = Dossier.model_validate_json(target.read_text())
    supplied = {"audit.ledger_head", "audit.phase_costs", "audit.waivers"}
    assert dossier.run.run_id == run_id and dossier.missing == [
        e.key for e in EXPECTED if e.key not in supplied
    ]
    assert [p.status for p in dossier.run.phases[:2]] == ["passed", "passed"]


def test_ledger_head_and_costs_are_copied_from_the_ledger(run: tuple[Path, str], tmp_path: Path) -> None:
    shared, run_id = run
    home = tmp_path / "home"  # a private copy: the ledger entries below stay out of the other tests
    shutil.copytree(shared, home)
    key = "dossier-test-signing-key-0123456789abcdef"
    settings = Settings(home=home, config_dir=tmp_path)
    ledger = Ledger(open_database(settings.db_url, embedded=True), signer=Signer(key.encode()))
    ledger.record(
        run_id,
        CostPayload(
            phase="ideation", agent="Persona", provider="openai", model="m", request_hash="h1", cost_usd=0.5
        ),
    )
    anchor = ledger.sign_head(run_id)
    out = tmp_path / "d.json"
    proc = ideamine(home, "dossier", run_id, "-f", "json", "-o", str(out), env={"IDEAMINE_LEDGER_KEY": key})
    assert proc.returncode == 0, proc.stderr
    dossier = Dossier.model_validate_json(out.read_text())
    assert dossier.ledger_head == anchor and dossier.run.total_cost_usd == 0.5
    assert "audit.ledger_head" not in dossier.missing and "audit.phase_costs" not in dossier.missing
    assert key not in out.read_text()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["dossier", "no-such-run-1"], "no run 'no-such-run-1'"),  # unknown run
        (["dossier", "../etc"], "not a valid run id"),  # a path, not a run id
        (["dossier", "RUN", "--format", "pdf"], "unknown dossier format 'pdf'"),  # unknown format
        (["dossier", "RUN", "-o", "DIR"], "is a folder"),  # output names a folder
    ],
)
def test_bad_input_is_one_clear_error(
    run: tuple[Path, str], tmp_path: Path, args: list[str], needle: str
) -> None:
    home, run_id = run
    argv = [str(tmp_path) if a == "DIR" else run_id if a == "RUN" else a for a in args]
    proc = ideamine(home, *argv)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert needle in proc.stderr and "Fix:" in proc.stderr and "Traceback" not in proc.stderr
