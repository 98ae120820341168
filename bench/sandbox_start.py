"""Sandbox start cost, measured side by side: `python -c pass` plain, under each isolation, and a QA run.

Plain is the sandbox runtime's interpreter in a subprocess (no limits, no uid drop); the others go
through `Sandbox.run` (setpriv → prlimit → [unshare | bubblewrap]). Then the demo project's QA run in the
sandbox against plain `python -m pytest` on the same files.

    python bench/sandbox_start.py --repeat 20
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ideamine_core.workspace.sandbox import Isolation, Sandbox, _bwrap_usable, _unshare_usable
from ideamine_core.workspace.testing import qa_runtime, run_tests

sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from workspace_support import project_files  # noqa: E402


def _mean_ms(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.mean(times) * 1000


def main() -> None:
    """Print one line of start costs and one line for the QA run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    runtime = qa_runtime()
    python = runtime.python()
    plain = _mean_ms(lambda: subprocess.run([python, "-I", "-c", "pass"], check=True), args.repeat)
    row = [f"plain={plain:.1f}ms"]
    modes = [Isolation.RLIMITS] + ([Isolation.UNSHARE] if _unshare_usable() else [])
    modes += [Isolation.BUBBLEWRAP] if _bwrap_usable() is None else []
    for mode in modes:
        box = Sandbox(runtime, mode)
        ms = _mean_ms(lambda b=box: b.run([b.python, "-I", "-c", "pass"], cwd="/tmp"), args.repeat)
        row.append(f"{mode.value}={ms:.1f}ms (+{ms - plain:.1f}ms, x{ms / plain:.2f})")
    print("sandbox start cost, mean of", args.repeat, ":", " ".join(row))
    code, tests = project_files()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for f in [*code, *tests]:
            (root / f.path).parent.mkdir(parents=True, exist_ok=True)
            (root / f.path).write_text(f.content)
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        host = _mean_ms(lambda: subprocess.run(cmd, cwd=root, capture_output=True, check=True), 3)
        qa = _mean_ms(lambda: run_tests(root, tests), 3)
    print(
        f"QA run of the demo project, mean of 3: plain_pytest={host:.0f}ms sandboxed_qa={qa:.0f}ms"
        f" x{qa / host:.2f}"
    )


if __name__ == "__main__":
    main()
