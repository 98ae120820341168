"""QA's grading from the plugin's records, and the sandbox's loud fallbacks when bubblewrap is unusable.

Contract: expected tests come from parsing QA's copy; a test with no report is an error; reports for
unknown tests, duplicate records and a 'passed' report for a call that raised are tampering, and the worse
of duplicated reports counts. Without bubblewrap the run still happens under `unshare`/rlimits and says
REDUCED ISOLATION; with fallback disallowed it is a clear error naming `apt-get install -y bubblewrap`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from workspace_support import project_files

from ideamine_core.agents.outputs.build import SourceFile
from ideamine_core.errors import SandboxError
from ideamine_core.workspace import sandbox as sandbox_mod
from ideamine_core.workspace.sandbox import Isolation, Limits, Sandbox
from ideamine_core.workspace.testing import _grade, expected_tests, qa_runtime, run_tests

TESTS = [
    SourceFile(
        path="tests/test_a.py",
        content="def test_one():\n    pass\n\n\ndef test_two():\n    pass\n\n\n"
        "class TestC:\n    def test_m(self):\n        pass\n\n\ndef helper():\n    pass\n",
    ),
    SourceFile(path="tests/conftest.py", content="def test_not_collected():\n    pass\n"),
    SourceFile(path="tests/test_broken.py", content="def test_(:\n"),
]
A = "tests/test_a.py"


def test_expected_tests_come_from_parsing_qa_copy() -> None:
    assert expected_tests(TESTS) == {
        f"{A}::test_one",
        f"{A}::test_two",
        f"{A}::TestC::test_m",
        "tests/test_broken.py::<module>",
    }


def _rep(nodeid: str, when: str, outcome: str, raised: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"event": "report", "nodeid": nodeid, "when": when, "outcome": outcome, "raised": raised, **extra}


def _ok(nodeid: str) -> list[dict[str, Any]]:
    return [
        _rep(nodeid, "setup", "passed"),
        _rep(nodeid, "call", "passed"),
        _rep(nodeid, "teardown", "passed"),
    ]


def _run_grade(records: list[dict[str, Any]]) -> dict[str, Any]:
    counts: dict[str, Any] = {
        "passed": 0,
        "failed": 0,
        "errors": 0,
        "skipped": 0,
        "failures": [],
        "tampering": [],
    }
    expected = {f"{A}::test_one", f"{A}::test_two", f"{A}::test_p"}
    _grade([{"event": "start"}, *records, {"event": "end", "exitstatus": 0}], expected, counts)
    return counts


@pytest.mark.parametrize(
    ("records", "passed", "failed", "errors", "tampered"),
    [
        # every test reports and passes (a parametrized test counts per case)
        (
            _ok(f"{A}::test_one") + _ok(f"{A}::test_two") + _ok(f"{A}::test_p[1]") + _ok(f"{A}::test_p[2]"),
            4,
            0,
            0,
            0,
        ),
        # test_two never reports: an error, not a pass
        (_ok(f"{A}::test_one") + _ok(f"{A}::test_p[1]"), 2, 0, 1, 0),
        # a real assertion failure
        (_ok(f"{A}::test_one") + [_rep(f"{A}::test_two", "call", "failed", "AssertionError")], 1, 1, 1, 0),
        # setup error
        ([_rep(f"{A}::test_one", "setup", "failed", "RuntimeError")], 0, 0, 3, 0),
        # the report says passed but the call raised: tampering, counted as failed
        (
            [
                _rep(f"{A}::test_one", "setup", "passed"),
                _rep(f"{A}::test_one", "call", "passed", "AssertionError"),
            ],
            0,
            1,
            2,
            1,
        ),
        # a forged 'passed' first, the real 'failed' second: the worse counts
        (
            [
                _rep(f"{A}::test_one", "call", "passed"),
                _rep(f"{A}::test_one", "call", "failed", "AssertionError"),
            ],
            0,
            1,
            2,
            1,
        ),
        # a report for a test QA does not have: tampering, ignored
        (_ok(f"{A}::test_one") + _ok(f"{A}::test_fake"), 1, 0, 2, 1),
        # skips and expected failures are skipped, not failed
        (
            [_rep(f"{A}::test_one", "call", "skipped", "Skipped", skip=True)] + _ok(f"{A}::test_two"),
            1,
            0,
            1,
            0,
        ),
    ],
)
def test_grading_rules(
    records: list[dict[str, Any]], passed: int, failed: int, errors: int, tampered: int
) -> None:
    counts = _run_grade(records)
    assert (counts["passed"], counts["failed"], counts["errors"]) == (passed, failed, errors)
    assert bool(counts["tampering"]) == bool(tampered)


def test_violations_and_duplicate_session_records_are_tampering() -> None:
    counts = _run_grade(
        [{"event": "violation", "text": "x was replaced"}, {"event": "integrity", "violations": ["y"]}]
        + [{"event": "end", "exitstatus": 0}]
    )
    assert counts["tampering"][:2] == [
        "2 'end' records were received; exactly one was expected",
        "x was replaced",
    ]
    assert "y" in counts["tampering"]


# --- fallbacks ---------------------------------------------------------------------------------------


def test_without_bubblewrap_the_run_is_loudly_reduced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox_mod, "_bwrap_usable", lambda: "bubblewrap is not installed (test)")
    box = Sandbox.detect(qa_runtime())
    assert box.isolation in (Isolation.UNSHARE, Isolation.RLIMITS) and box.reduced
    code, tests = project_files()
    root = tmp_path / "code"
    for f in code:
        (root / f.path).parent.mkdir(parents=True, exist_ok=True)
        (root / f.path).write_text(f.content)
    result = run_tests(root, tests, sandbox=box)
    print(f"sandbox fallback: isolation={result.isolation} passed={result.passed}/{result.expected}")
    assert result.reduced_isolation and any("REDUCED ISOLATION" in n for n in result.isolation_notes)
    assert "bubblewrap is not installed" in result.isolation_notes[0]
    assert result.passed == result.expected > 0 and result.coverage_percent
    with pytest.raises(SandboxError) as info:
        Sandbox.detect(qa_runtime(), allow_fallback=False)
    assert "apt-get install -y bubblewrap" in info.value.explain()


@pytest.mark.exclusive  # the kill is timed in wall time
def test_rlimits_fallback_kills_on_timeout_and_sweeps_escaped_daemons(tmp_path: Path) -> None:
    box = Sandbox(qa_runtime(), Isolation.RLIMITS, ["REDUCED ISOLATION (rlimits): test"])
    marker = f"ideamine-sweep-{time.time_ns()}"
    code = (
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        f"    os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(600)', '{marker}'])\n"
        "time.sleep(60)\n"
    )
    tmp_path.chmod(0o755)
    result = box.run([box.python, "-I", "-c", code], cwd=str(tmp_path), limits=Limits(wall_seconds=1.5))
    survivors = [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]
    for proc in survivors:
        proc.kill()
    assert result.timed_out and result.duration_seconds <= 2.5 and result.reduced_isolation
    assert result.leftovers_killed >= 1 and survivors == []
