"""Shared plumbing of the scanners: run a tool offline with a clean environment, time it, read its JSON."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.agents.outputs.build import SourceFile
from ideamine_core.errors import ToolError
from ideamine_core.workspace.findings import ScanFinding

__all__ = ["ToolRun", "offline_prefix", "parse_json", "run_tool", "text_files", "tool_version"]

TIMEOUT = 180.0
_MAX_TEXT_BYTES = 2_000_000


class ToolRun(BaseModel):
    """One scanner run: its normalized findings and what it cost."""

    model_config = ConfigDict(extra="forbid")

    tool: str = Field(description="Name and version, e.g. 'bandit 1.9.4'.")
    seconds: float = Field(ge=0, description="Wall-clock time of the run.")
    scanned_files: int = Field(ge=0, description="Files the tool inspected.")
    findings: list[ScanFinding] = Field(default_factory=list)


def tool_version(dist: str) -> str:
    """'bandit 1.9.4': the distribution and its installed version."""
    try:
        return f"{dist} {md.version(dist)}"
    except md.PackageNotFoundError:
        return dist


@cache
def offline_prefix() -> tuple[str, ...]:
    """['unshare', '--net', '--'] when a new network namespace can be made here, else []."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    try:
        ok = subprocess.run([unshare, "--net", "--", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return (unshare, "--net", "--") if ok else ()


def _tool_env() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": tempfile.gettempdir(),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONWARNINGS": "ignore",
    }


def run_tool(module: str, args: list[str], cwd: Path, tool: str, timeout: float) -> tuple[str, float]:
    """(stdout, seconds) of `python -m module args` in `cwd`; ToolError on failure or timeout."""
    cmd = [*offline_prefix(), sys.executable, "-m", module, *args]
    start = time.monotonic()
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=_tool_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except OSError as exc:
        raise ToolError(
            f"{tool} could not start in {cwd}: {exc.strerror or exc}", fix="check the folder exists"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolError(
            f"{tool} took over {timeout:g} s", fix="raise the scanner timeout or scan less"
        ) from exc
    seconds = time.monotonic() - start
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        tail = (proc.stderr or proc.stdout).strip()[-300:]
        raise ToolError(
            f"{tool} failed (exit {proc.returncode}): {tail}", fix=f"check that {tool} is installed"
        )
    return proc.stdout, seconds


def text_files(root: Path) -> list[SourceFile]:
    """The UTF-8 text files under `root` (no links, nothing under .git, none over 2 MB), by path."""
    out: list[SourceFile] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if ".git" in rel.split("/") or path.is_symlink() or not path.is_file():
            continue
        if path.stat().st_size > _MAX_TEXT_BYTES:
            continue
        try:
            out.append(SourceFile(path=rel, content=path.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, ValueError):
            continue
    return out


def parse_json(text: str, tool: str) -> Any:
    """The JSON a tool printed; ToolError naming the tool when it is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolError(f"{tool} printed output that is not JSON: {exc}", fix=f"upgrade {tool}") from exc
