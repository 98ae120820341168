"""IdeaMine's QA pytest plugin, run inside the sandbox: outcomes over a pipe, coverage, tamper checks.

This file is copied into the sandbox runtime as ``ideamine_qa_plugin`` and loaded with ``-p`` before any
test or workspace module is imported. It must only import the standard library, pytest and coverage.

- Every test report goes to the parent as one JSON line on the inherited pipe ``IDEAMINE_QA_FD``, as soon as
  it exists (nothing is read back from files the code could write).
- coverage.py starts at import, with no config file (a planted ``.coveragerc`` cannot change it) and no
  data file; its summary is sent at the end of the session.
- At session start pytest's and pluggy's reporting functions, the import hooks and the registered plugins
  are recorded. Before each test module is imported, after collection and before each test, a replaced
  function or a new import hook is reported as tampering *and undone*, so the tests that follow run on
  genuine pytest; a forged test module already in ``sys.modules`` is removed; at the end, new plugins and
  test functions whose code does not come from QA's test files are reported too.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any

import _pytest.main
import _pytest.python
import _pytest.reports
import _pytest.runner
import coverage
import pluggy._callers
import pluggy._hooks
import pluggy._manager
import pytest

_FD = int(os.environ["IDEAMINE_QA_FD"])
_SOURCE = os.environ["IDEAMINE_QA_SOURCE"]
_TESTS = frozenset(json.loads(os.environ["IDEAMINE_QA_TESTS"]))
_MAX = 4000

_COV = coverage.Coverage(data_file=None, source=[_SOURCE], omit=sorted(_TESTS), config_file=False)
_COV.start()

_WATCHED: list[tuple[str, Any, str]] = [
    ("_pytest.runner.call_and_report", _pytest.runner, "call_and_report"),
    ("_pytest.runner.runtestprotocol", _pytest.runner, "runtestprotocol"),
    ("_pytest.runner.call_runtest_hook", _pytest.runner, "call_runtest_hook"),
    ("_pytest.runner.CallInfo.from_call", _pytest.runner.CallInfo, "from_call"),
    ("_pytest.runner.pytest_runtest_makereport", _pytest.runner, "pytest_runtest_makereport"),
    ("_pytest.reports.TestReport.from_item_and_call", _pytest.reports.TestReport, "from_item_and_call"),
    ("_pytest.reports.TestReport.__init__", _pytest.reports.TestReport, "__init__"),
    ("_pytest.reports.BaseReport.passed", _pytest.reports.BaseReport, "passed"),
    ("_pytest.reports.BaseReport.failed", _pytest.reports.BaseReport, "failed"),
    ("_pytest.python.Function.runtest", _pytest.python.Function, "runtest"),
    ("_pytest.python.pytest_pyfunc_call", _pytest.python, "pytest_pyfunc_call"),
    ("_pytest.main.pytest_runtestloop", _pytest.main, "pytest_runtestloop"),
    ("pluggy.HookCaller.__call__", pluggy._hooks.HookCaller, "__call__"),
    ("pluggy._callers._multicall", pluggy._callers, "_multicall"),
    ("pluggy.PluginManager._hookexec", pluggy._manager.PluginManager, "_hookexec"),
    (
        "builtins.__import__",
        __builtins__ if isinstance(__builtins__, dict) else vars(__builtins__),
        "__import__",
    ),
]
_originals: dict[str, Any] = {}
_hooks: dict[str, list[Any]] = {}
_plugins: set[int] = set()
_seen: list[str] = []


def _emit(record: dict[str, Any]) -> None:
    data = (json.dumps(record, default=str) + "\n").encode()
    while data:
        data = data[os.write(_FD, data) :]


def _violation(text: str) -> None:
    if text not in _seen:
        _seen.append(text)
        _emit({"event": "violation", "text": text})


def _get(owner: Any, name: str) -> Any:
    return owner.get(name) if isinstance(owner, dict) else vars(owner).get(name)


def _take_snapshot(session: pytest.Session) -> None:
    _originals.update({label: _get(owner, name) for label, owner, name in _WATCHED})
    _hooks["meta_path"] = list(sys.meta_path)
    _hooks["path_hooks"] = list(sys.path_hooks)
    _plugins.update(id(p) for p in session.config.pluginmanager.get_plugins())


def _guard(where: str) -> None:
    """Report and undo replaced pytest internals and new import hooks, so later tests run genuinely."""
    for label, owner, name in _WATCHED:
        original = _originals[label]
        if _get(owner, name) is not original:
            _violation(f"{label} was replaced ({where}); restored")
            if isinstance(owner, dict):
                owner[name] = original
            else:
                setattr(owner, name, original)
    for kind in ("meta_path", "path_hooks"):
        current = getattr(sys, kind)
        if any(all(h is not k for k in _hooks[kind]) for h in current):
            _violation(f"sys.{kind} gained an import hook ({where}); removed")
            current[:] = _hooks[kind]


def _allowed_plugin(plugin: object) -> bool:
    path = getattr(plugin, "__file__", None)
    return isinstance(path, str) and os.path.realpath(path) in _TESTS


def _check_session(session: pytest.Session) -> None:
    _guard("at the end of the session")
    pm = session.config.pluginmanager
    for plugin in pm.get_plugins():
        if id(plugin) not in _plugins and not _allowed_plugin(plugin):
            _violation(f"plugin {pm.get_name(plugin)!r} was registered during the run")
    for item in session.items:
        code = getattr(getattr(item, "obj", None), "__code__", None)
        if code is not None and os.path.realpath(code.co_filename) not in _TESTS:
            _violation(f"{item.nodeid}: its test function now runs code from {code.co_filename}")


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Record the originals the guards compare against (no workspace code has run yet)."""
    _take_snapshot(session)
    _emit({"event": "start", "pytest": pytest.__version__, "coverage": coverage.__version__})


@pytest.hookimpl(tryfirst=True)
def pytest_collectstart(collector: pytest.Collector) -> None:
    """Before a test module is imported: no forged copy of it may already sit in sys.modules."""
    if not isinstance(collector, pytest.Module):
        return
    _guard(f"before importing {collector.path.name}")
    target = os.path.realpath(str(collector.path))
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and os.path.realpath(path) == target:
            _violation(f"{collector.path.name} was in sys.modules before pytest imported it; removed")
            del sys.modules[name]


@pytest.hookimpl(tryfirst=True)
def pytest_collectreport(report: pytest.CollectReport) -> None:
    """Send collection errors (a test module that cannot be imported)."""
    if report.failed:
        _emit({"event": "collect_error", "nodeid": report.nodeid, "longrepr": str(report.longrepr)[-_MAX:]})


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Send the collected test ids (after undoing any tampering done while importing)."""
    _guard("after collection")
    _emit({"event": "collected", "nodeids": [item.nodeid for item in session.items]})


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Undo tampering left by the previous test before this one runs."""
    _guard(f"before {item.nodeid}")
    return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Send each phase's final report, with the exception the call really raised."""
    report = yield
    exc = call.excinfo
    _emit(
        {
            "event": "report",
            "nodeid": item.nodeid,
            "when": call.when,
            "outcome": report.outcome,
            "raised": None if exc is None else exc.typename,
            "skip": exc is not None and exc.errisinstance((pytest.skip.Exception, pytest.xfail.Exception)),
            "wasxfail": hasattr(report, "wasxfail"),
            "duration": round(call.duration, 6),
            "longrepr": "" if report.passed else str(report.longrepr)[-_MAX:],
        }
    )
    return report


def _coverage() -> dict[str, Any]:
    _COV.stop()
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        _COV.json_report(outfile=path)
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except coverage.CoverageException as exc:  # e.g. no source file was ever measured
        return {"error": str(exc)[:500]}
    finally:
        os.unlink(path)
    files = {name: info["summary"]["percent_covered"] for name, info in data.get("files", {}).items()}
    totals = data.get("totals", {})
    return {
        "files": files,
        "covered": totals.get("covered_lines", 0),
        "total": totals.get("num_statements", 0),
    }


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Send the tamper check, the coverage and the end marker."""
    _check_session(session)
    _emit({"event": "integrity", "violations": list(_seen)})
    _emit({"event": "coverage", **_coverage()})
    _emit({"event": "end", "exitstatus": int(exitstatus)})
