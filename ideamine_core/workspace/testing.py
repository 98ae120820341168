"""QA's test run: the generated code, QA's own untouched copy of the tests, pytest + coverage in the sandbox.

Grading integrity (SWE-bench's rule: the candidate never edits the tests that grade it):

- the code is a fresh export of the workspace; every file it has at a QA test path, every ``conftest.py``
  and every pytest/coverage config is removed, then QA's copy of the tests (from the build artifact, not
  from the workspace) is written in — reset before each run — and, under bubblewrap, bind-mounted
  read-only on top;
- pytest runs with ``-I`` (no environment, no cwd on ``sys.path``), QA's own ini (``-c``), ``--confcutdir``,
  ``-p no:cacheprovider``, plugin autoload off and only QA's test files as arguments;
- results come only from QA's plugin over an inherited pipe, as the tests run; no file the code could
  write is read. The parent checks them against the test functions found by parsing QA's copy: a missing
  test is an error, a duplicate or unknown report is tampering, a report that says "passed" for a call
  that raised is tampering, and so is any monkeypatch the plugin detects.

Limitation (stated, not hidden): the code under test shares the interpreter with pytest, so a determined
adversary could still subvert the plugin itself; these checks defeat the known tricks and make others loud.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ideamine_core.agents.outputs.build import SourceFile
from ideamine_core.agents.outputs.qa import TestExecution, TestFailure
from ideamine_core.agents.rules._scan import is_test
from ideamine_core.errors import PathPolicyError, SandboxError
from ideamine_core.workspace.injection import strip_invisible
from ideamine_core.workspace.policy import PathPolicy
from ideamine_core.workspace.repo import Workspace
from ideamine_core.workspace.runtime import PythonRuntime, ensure_runtime
from ideamine_core.workspace.sandbox import NOBODY, Limits, Mount, Sandbox

__all__ = ["expected_tests", "qa_runtime", "run_tests"]

PLUGIN = "ideamine_qa_plugin"
_CONFIGS = (
    "pytest.ini",
    ".pytest.ini",
    "tox.ini",
    "setup.cfg",
    ".coveragerc",
    "sitecustomize.py",
    "usercustomize.py",
)
_TEST_FILE = re.compile(r"(^|/)(test_[^/]*|[^/]*_test)\.py$")
_MAX_PIPE = 16 << 20


def qa_runtime(base_dir: Path | None = None) -> PythonRuntime:
    """The sandbox runtime with QA's pytest plugin installed (built once per versions)."""
    source = Path(__file__).with_name("_qa_plugin.py").read_text(encoding="utf-8")
    return ensure_runtime(base_dir, {f"{PLUGIN}.py": source})


def expected_tests(tests: Sequence[SourceFile]) -> set[str]:
    """'path::name' (or 'path::Class::name') of every test function in QA's test files, by parsing them."""
    out: set[str] = set()
    for f in tests:
        if not _TEST_FILE.search(f.path):
            continue
        try:
            tree = ast.parse(f.content)
        except SyntaxError:
            out.add(f"{f.path}::<module>")
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
                out.add(f"{f.path}::{node.name}")
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                out |= {
                    f"{f.path}::{node.name}::{item.name}"
                    for item in node.body
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                    and item.name.startswith("test")
                }
    return out


class _PipeReader:
    """Reads the plugin's JSON lines from the pipe in a thread, up to `_MAX_PIPE` bytes."""

    def __init__(self, fd: int) -> None:
        self.data = bytearray()
        self._thread = threading.Thread(target=self._read, args=(fd,), daemon=True)
        self._thread.start()

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "rb", buffering=0) as fh:
            while chunk := fh.read(65536):
                if len(self.data) < _MAX_PIPE:
                    self.data += chunk

    def records(self) -> list[dict[str, Any]]:
        """The records received (lines that are not JSON objects are skipped)."""
        self._thread.join(timeout=5.0)
        out: list[dict[str, Any]] = []
        for line in bytes(self.data).decode("utf-8", errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out


def _own(path: Path, uid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [*dirnames, *filenames]:
            os.lchown(os.path.join(dirpath, name), uid, uid)
    os.lchown(path, uid, uid)


def _copy_code(source: Workspace | Path, dest: Path) -> None:
    if isinstance(source, Workspace):
        source.export(dest)
        return
    policy = PathPolicy()
    for path in sorted(Path(source).rglob("*")):
        rel = path.relative_to(source).as_posix()
        if path.is_symlink() or not path.is_file() or ".git" in rel.split("/"):
            continue
        try:
            policy.write(dest, rel, path.read_bytes())
        except PathPolicyError:
            continue


def _reset(work: Path, tests: list[SourceFile]) -> None:
    """Remove what could grade the code instead of QA's tests; then write QA's copy in."""
    qa_paths = {f.path for f in tests}
    for path in sorted(work.rglob("*"), reverse=True):
        rel = path.relative_to(work).as_posix()
        if path.is_file() and (rel in qa_paths or path.name == "conftest.py" or rel in _CONFIGS):
            path.unlink()
        if path.name == "__pycache__" and path.is_dir():
            shutil.rmtree(path)
    policy = PathPolicy()
    for f in tests:
        policy.write(work, f.path, f.content.encode("utf-8"))


def _protected_dirs(work: Path, tests: list[SourceFile]) -> list[str]:
    """Top-level directories that hold only tests (bound read-only whole); others get per-file binds."""
    tops = {f.path.split("/")[0] for f in tests if "/" in f.path}
    out = []
    for top in sorted(tops):
        files = [p.relative_to(work).as_posix() for p in (work / top).rglob("*") if p.is_file()]
        if all(is_test(rel) for rel in files):
            out.append(top)
    return out


class _Layout:
    """The scratch folder of one run: work copy, pristine tests, QA ini; and the mounts."""

    def __init__(self, scratch: Path, sandbox: Sandbox, tests: list[SourceFile]) -> None:
        self.work, self.pristine, self.qa = scratch / "work", scratch / "tests", scratch / "qa"
        self.sandbox, self.tests = sandbox, tests
        self.ws = Mount(host=self.work, inside="/workspace", writable=True)

    @property
    def root(self) -> str:
        """The work copy's root, as the sandboxed command sees it."""
        return self.sandbox.path(self.ws)

    def seen(self, rel: str) -> str:
        """`rel` inside the work copy, as the sandboxed command sees it."""
        return f"{self.root}/{rel}"

    def prepare(self, source: Workspace | Path) -> list[Mount]:
        self.work.mkdir()
        _copy_code(source, self.work)
        _reset(self.work, self.tests)
        self.pristine.mkdir()
        policy = PathPolicy()
        for f in self.tests:
            policy.write(self.pristine, f.path, f.content.encode("utf-8"))
        self.qa.mkdir()
        ini = f"[pytest]\npython_files = test_*.py *_test.py\npythonpath = {self.root}\n"
        (self.qa / "pytest.ini").write_text(ini + "addopts =\n", encoding="utf-8")
        protected = _protected_dirs(self.work, self.tests)
        if os.geteuid() == 0:
            _own(self.work, NOBODY)
            for top in protected:
                _own(self.work / top, 0)
        mounts = [self.ws, Mount(host=self.qa, inside="/qa")]
        for top in protected:
            mounts.append(Mount(host=self.pristine / top, inside=f"/workspace/{top}"))
        for f in self.tests:
            if f.path.split("/")[0] not in protected:
                mounts.append(Mount(host=self.pristine / f.path, inside=f"/workspace/{f.path}"))
        return mounts


def _outcome(phases: dict[str, dict[str, Any]], tampering: list[str], nodeid: str) -> tuple[str, str]:
    """('passed'|'failed'|'error'|'skipped', message) of one test from its phase reports."""
    for when in ("setup", "call", "teardown"):
        rep = phases.get(when)
        if rep is None:
            continue
        raised_for_real = rep.get("raised") and not rep.get("skip") and not rep.get("wasxfail")
        if rep.get("outcome") == "passed" and raised_for_real:
            tampering.append(f"{nodeid}: reported passed but its {when} raised {rep['raised']}")
            return (
                "failed" if when == "call" else "error"
            ), f"{rep['raised']} (report rewritten to 'passed')"
        if rep.get("outcome") == "failed":
            return ("failed" if when == "call" else "error"), str(rep.get("longrepr", ""))
        if rep.get("outcome") == "skipped":
            return "skipped", ""
    if "call" not in phases:
        return "error", "the test never ran its call phase"
    return "passed", ""


def _badness(rep: dict[str, Any]) -> int:
    raised = rep.get("raised") and not rep.get("skip") and not rep.get("wasxfail")
    return 2 if raised or rep.get("outcome") == "failed" else int(rep.get("outcome") == "skipped")


def _base(nodeid: str) -> str:
    return nodeid.split("[", 1)[0]


def _grade(records: list[dict[str, Any]], expected: set[str], counts: dict[str, Any]) -> None:
    """Fill `counts` (run, passed, ..., failures, tampering) from the plugin's records."""
    tampering: list[str] = counts["tampering"]
    failures: list[TestFailure] = counts["failures"]
    events: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        events.setdefault(str(rec.get("event")), []).append(rec)
    for kind in ("start", "collected", "integrity", "coverage", "end"):
        if len(events.get(kind, [])) > 1:
            tampering.append(f"{len(events[kind])} '{kind}' records were received; exactly one was expected")
    texts = [str(r.get("text")) for r in events.get("violation", [])]
    texts += [str(v) for r in events.get("integrity", []) for v in r.get("violations", [])]
    tampering += list(dict.fromkeys(texts))
    collected = [str(n) for n in (events.get("collected") or [{}])[0].get("nodeids", [])]
    counts["collected"] = len(collected)
    phases: dict[str, dict[str, dict[str, Any]]] = {}
    for rep in events.get("report", []):
        nodeid, when = str(rep.get("nodeid")), str(rep.get("when"))
        if _base(nodeid) not in expected:
            tampering.append(f"a report arrived for {nodeid!r}, which is not in QA's tests")
            continue
        earlier = phases.setdefault(nodeid, {}).get(when)
        if earlier is not None:
            tampering.append(f"two '{when}' reports arrived for {nodeid}; the worse one counts")
            rep = max(earlier, rep, key=_badness)
        phases[nodeid][when] = rep
    for nodeid in sorted(phases):
        outcome, message = _outcome(phases[nodeid], tampering, nodeid)
        key = {"passed": "passed", "failed": "failed", "error": "errors", "skipped": "skipped"}[outcome]
        counts[key] += 1
        if outcome in ("failed", "error"):
            failures.append(TestFailure(test_id=nodeid, kind=outcome, message=_clean(message)))
    for rec in events.get("collect_error", []):
        counts["errors"] += 1
        failures.append(
            TestFailure(test_id=str(rec.get("nodeid")), kind="error", message=_clean(rec.get("longrepr")))
        )
    ran = {_base(n) for n in phases}
    broken = {str(r.get("nodeid")) for r in events.get("collect_error", [])}
    for missing in sorted(expected - ran):
        if missing.split("::")[0] not in broken:
            counts["errors"] += 1
            failures.append(
                TestFailure(test_id=missing, kind="not_run", message="QA's test never reported a result")
            )
    counts["ended"] = bool(events.get("end"))
    counts["coverage"] = (events.get("coverage") or [{}])[0]


def _clean(text: object) -> str:
    return strip_invisible(str(text or ""))[0][-2000:]


def _coverage(data: dict[str, Any], prefix: str) -> dict[str, Any]:
    files = {
        str(name).removeprefix(prefix + "/"): round(float(pct), 2)
        for name, pct in (data.get("files") or {}).items()
    }
    total, covered = int(data.get("total") or 0), int(data.get("covered") or 0)
    pct = round(100.0 * covered / total, 2) if total else None
    return {"coverage_percent": pct, "covered_lines": covered, "total_lines": total, "file_coverage": files}


def run_tests(
    source: Workspace | Path,
    tests: Sequence[SourceFile],
    *,
    sandbox: Sandbox | None = None,
    limits: Limits | None = None,
    allow_fallback: bool = True,
) -> TestExecution:
    """Run QA's copy of `tests` against the code of `source` (a workspace's last commit, or a folder).

    `tests` come from the build artifact (TestWriter's files), never from the workspace. Raises
    SandboxError only when no sandbox can be made (or bubblewrap is required and missing).
    """
    sandbox = sandbox or Sandbox.detect(qa_runtime(), allow_fallback=allow_fallback)
    clean = [
        SourceFile(path=PathPolicy().check(f.path), content=strip_invisible(f.content)[0]) for f in tests
    ]
    expected = expected_tests(clean)
    scratch = Path(tempfile.mkdtemp(prefix="ideamine-qa-"))
    try:
        scratch.chmod(0o711)
        layout = _Layout(scratch, sandbox, clean)
        mounts = layout.prepare(source)
        return _execute(layout, sandbox, mounts, expected, limits or Limits())
    except OSError as exc:
        raise SandboxError(
            f"cannot prepare the QA sandbox: {exc}", fix="check free disk space in /tmp"
        ) from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _execute(
    layout: _Layout, sandbox: Sandbox, mounts: list[Mount], expected: set[str], limits: Limits
) -> TestExecution:
    targets = sorted(f.path for f in layout.tests if _TEST_FILE.search(f.path))
    qa_dir = sandbox.path(mounts[1])
    argv = [sandbox.python, "-I", "-m", "pytest", "-c", f"{qa_dir}/pytest.ini", "--rootdir", layout.root]
    argv += ["--confcutdir", layout.root, "-p", "no:cacheprovider", "-p", PLUGIN, "-q", "--color=no"]
    argv += ["--tb=short", "-rN", "--", *targets]
    read_fd, write_fd = os.pipe()
    reader = _PipeReader(read_fd)
    env = {
        "IDEAMINE_QA_FD": str(write_fd),
        "IDEAMINE_QA_SOURCE": layout.root,
        "IDEAMINE_QA_TESTS": json.dumps(sorted(layout.seen(f.path) for f in layout.tests)),
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    try:
        result = sandbox.run(
            argv, cwd=layout.root, mounts=mounts, env=env, limits=limits, pass_fds=[write_fd]
        )
    finally:
        os.close(write_fd)
    counts: dict[str, Any] = {
        "passed": 0,
        "failed": 0,
        "errors": 0,
        "skipped": 0,
        "failures": [],
        "tampering": [],
    }
    _grade(reader.records(), expected, counts)
    counts["tampering"] = list(dict.fromkeys(counts["tampering"]))
    if not counts["ended"] and not result.timed_out:
        counts["failures"].append(
            TestFailure(
                test_id="<session>", kind="error", message=f"pytest ended early (exit {result.returncode})"
            )
        )
        counts["errors"] += 1
    run = counts["passed"] + counts["failed"] + counts["errors"]
    problems = counts["failed"] + counts["errors"] + len(counts["tampering"])
    return TestExecution(
        isolation=result.isolation.value,
        reduced_isolation=result.reduced_isolation,
        isolation_notes=result.notes,
        expected=len(expected),
        collected=counts["collected"],
        run=run,
        passed=counts["passed"],
        failed=counts["failed"],
        errors=counts["errors"],
        skipped=counts["skipped"],
        **_coverage(counts["coverage"], layout.root),
        duration_seconds=result.duration_seconds,
        timed_out=result.timed_out,
        exit_code=result.returncode,
        failures=counts["failures"],
        tampering=counts["tampering"],
        output_tail=_clean((result.stdout + result.stderr)[-2000:]),
        green=run > 0 and problems == 0 and not result.timed_out and counts["ended"],
    )
