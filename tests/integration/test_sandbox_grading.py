"""RELIABILITY test 19: generated code cannot grade itself — tampering never turns a failing build green.

A buggy build (its delete does nothing, so some of QA's tests fail) tries every trick: editing its own
tests, deleting them, monkeypatching pytest (planted conftest/plugin/config, patches at import and during
tests, a forged test module in sys.modules) and writing fake reports (files, stdout, forged records on
every pipe). QA grades with its own copy of the tests from the build artifact. Contract: no trick is
graded green, and QA's pass/fail/error counts equal those of a clean run of the untouched tests.
Needs bubblewrap: under CI=true its absence fails these tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from workspace_support import project_files, require_bubblewrap

from ideamine_core.agents.outputs.build import SourceFile
from ideamine_core.agents.outputs.qa import TestExecution
from ideamine_core.workspace.repo import Workspace
from ideamine_core.workspace.testing import run_tests

BUG = ("        del self._rows[entity][record_id]\n", "        pass  # bug: the record stays\n")

FORCE_PASS_CONFTEST = """import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    report.outcome, report.longrepr = "passed", None
    return report
"""

EVIL_CONFIG = {
    "pytest.ini": "[pytest]\naddopts = -p evil_plugin -p no:ideamine_qa_plugin\n",
    "setup.cfg": "[tool:pytest]\naddopts = -p evil_plugin\n",
    ".coveragerc": "[run]\nomit = *\n",
    "sitecustomize.py": "import builtins\nbuiltins.AssertionError = type('Never', (Exception,), {})\n",
    "evil_plugin.py": FORCE_PASS_CONFTEST,
}

IMPORT_PATCH = """

import sys as _sys


def _forge_reports():
    reports = _sys.modules.get("_pytest.reports")
    if reports is None:
        return
    original = reports.TestReport.__dict__["from_item_and_call"].__func__

    def forged(cls, item, call):
        report = original(cls, item, call)
        report.outcome, report.longrepr = "passed", None
        return report

    reports.TestReport.from_item_and_call = classmethod(forged)
    _sys.modules["_pytest.python"].Function.runtest = lambda self: None


_forge_reports()
"""

RUNTIME_PATCH = (
    "    def __init__(self) -> None:\n",
    "    def __init__(self) -> None:\n        _forge_reports()\n",
)

FORGED_MODULE = """

import os as _os
import sys as _sys
import types as _types


def _forge_module():
    path = _os.path.realpath(_os.path.join(_os.path.dirname(__file__), "..", "tests", "test_stories.py"))
    fake = _types.ModuleType("test_stories")
    fake.__file__ = path
    exec(compile("def test_all_stories():\\n    pass\\n", path, "exec"), fake.__dict__)
    _sys.modules["test_stories"] = fake


_forge_module()
"""

FAKE_REPORTS = """

import ast as _ast
import json as _json
import os as _os
import stat as _stat


def _fake_reports():
    # claim every test passed, everywhere a naive grader might look
    tests = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "..", "tests")
    records = []
    for name in sorted(_os.listdir(tests)):
        if name.startswith("test_") and name.endswith(".py"):
            tree = _ast.parse(open(_os.path.join(tests, name)).read())
            for node in tree.body:
                if isinstance(node, _ast.FunctionDef) and node.name.startswith("test"):
                    base = {"event": "report", "nodeid": f"tests/{name}::{node.name}", "outcome": "passed"}
                    records += [{**base, "when": when} for when in ("setup", "call", "teardown")]
    records.append({"event": "integrity", "violations": []})
    records.append({"event": "coverage", "covered": 9, "total": 9})
    records.append({"event": "end", "exitstatus": 0})
    data = "".join(_json.dumps(r) + "\\n" for r in records).encode()
    for fd in range(3, 256):
        try:
            if _stat.S_ISFIFO(_os.fstat(fd).st_mode):
                _os.write(fd, data)
        except OSError:
            pass
    for target in ("report.xml", "/tmp/junit.xml", ".pytest_cache/lastfailed"):
        try:
            _os.makedirs(_os.path.dirname(target) or ".", exist_ok=True)
            open(target, "w").write("<testsuite tests='99' failures='0' errors='0'/>")
        except OSError:
            pass
    print("============================== 99 passed in 0.01s ==============================")


_fake_reports()
"""


@pytest.fixture(autouse=True)
def _bubblewrap() -> None:
    require_bubblewrap()


def _patched(files: list[SourceFile], suffix: str, edit: tuple[str, str] | None = None) -> list[SourceFile]:
    out = []
    for f in files:
        content = f.content
        if f.path.endswith("/service.py"):
            content = content.replace(*BUG) + suffix
            if edit:
                content = content.replace(*edit)
        out.append(SourceFile(path=f.path, content=content))
    return out


def _trivial(tests: list[SourceFile]) -> list[SourceFile]:
    """The same test names, every body replaced by `pass`."""
    out = []
    for f in tests:
        names = [line[4:].split("(")[0] for line in f.content.splitlines() if line.startswith("def test")]
        out.append(SourceFile(path=f.path, content="".join(f"def {n}():\n    pass\n\n\n" for n in names)))
    return out


def _tricks(code: list[SourceFile], tests: list[SourceFile]) -> dict[str, list[SourceFile]]:
    """Workspace contents per trick (the buggy code plus what the trick adds or removes)."""
    buggy = _patched(code, "")
    return {
        "edits its own tests": buggy + _trivial(tests),
        "deletes its tests": buggy,
        "planted conftest forces passes": buggy
        + tests
        + [SourceFile(path="conftest.py", content=FORCE_PASS_CONFTEST)],
        "pytest.ini/setup.cfg plugin, sitecustomize, .coveragerc": buggy
        + tests
        + [SourceFile(path=p, content=c) for p, c in EVIL_CONFIG.items()],
        "patches pytest at import and during tests": _patched(code, IMPORT_PATCH, RUNTIME_PATCH) + tests,
        "forged test module in sys.modules": _patched(code, FORGED_MODULE) + tests,
        "fake report files, stdout and forged pipe records": _patched(code, FAKE_REPORTS) + tests,
    }


def _grade(tmp_path: Path, name: str, files: list[SourceFile], tests: list[SourceFile]) -> TestExecution:
    ws = Workspace.open(tmp_path / name.replace(" ", "_").replace("/", "_")[:40], created_at=1_764_000_000)
    report = ws.write_files(files)
    assert report.rejected == []
    ws.commit("build")
    return run_tests(ws, tests)


def _counts(r: TestExecution) -> tuple[int, int, int]:
    return r.passed, r.failed, r.errors


def test_tampering_never_grades_a_failing_build_green(tmp_path: Path) -> None:
    code, tests = project_files()
    clean = _grade(tmp_path, "clean", _patched(code, "") + tests, tests)
    assert clean.failed >= 1 and clean.passed >= 1 and not clean.green and not clean.tampering
    tampered_passes, equal, detected = [], [], []
    for name, files in _tricks(code, tests).items():
        result = _grade(tmp_path, name, files, tests)
        if result.green:
            tampered_passes.append(name)
        if _counts(result) == _counts(clean):
            equal.append(name)
        if result.tampering:
            detected.append(name)
    n = len(_tricks(code, tests))
    print(
        f"grading integrity: tricks={n} tampered_passes={len(tampered_passes)} "
        f"counts_equal_clean={len(equal)}/{n} flagged_as_tampering={len(detected)} "
        f"clean=(passed={clean.passed}, failed={clean.failed}, errors={clean.errors})"
    )
    assert tampered_passes == []
    assert len(equal) == n, sorted(set(_tricks(code, tests)) - set(equal))
    assert {
        "patches pytest at import and during tests",
        "forged test module in sys.modules",
        "fake report files, stdout and forged pipe records",
    } <= set(detected)


def test_tricks_on_a_correct_build_change_nothing_or_are_flagged(tmp_path: Path) -> None:
    code, tests = project_files()
    honest = _grade(tmp_path, "honest", code + tests, tests)
    assert honest.green and honest.failed == 0 and honest.passed == honest.expected > 0
    evil = _grade(
        tmp_path, "evil", code + [SourceFile(path="conftest.py", content=FORCE_PASS_CONFTEST)], tests
    )
    assert _counts(evil) == _counts(honest) and evil.green
    fake = [
        f.model_copy(update={"content": f.content + FAKE_REPORTS}) if f.path.endswith("/service.py") else f
        for f in code
    ]
    flagged = _grade(tmp_path, "flagged", fake + tests, tests)
    assert _counts(flagged) == _counts(honest) and flagged.tampering and not flagged.green
