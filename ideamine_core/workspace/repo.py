"""The run's code workspace: one git repository, files written through the path policy, a commit per phase.

Commits are deterministic: author and committer are fixed (``IdeaMine <ideamine@ideamine.invalid>``)
and the date of commit *n* (0-based) is the run's creation second plus *n*, in UTC. The same files give
the same tree hash in every run; commit SHAs also match when the run's creation time and the sequence of
commits are the same (a replay of the same run), and differ between runs created at different times.
Git runs with system and global configuration, hooks, signing and templates switched off.
"""

from __future__ import annotations

import fcntl
import io
import os
import subprocess
import tarfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.agents.outputs.build import SourceFile
from ideamine_core.errors import PathPolicyError, WorkspaceError
from ideamine_core.workspace.injection import InjectionSignal, sanitize
from ideamine_core.workspace.policy import PathPolicy

__all__ = ["CommitInfo", "Rejection", "Workspace", "WriteReport"]

AUTHOR = ("IdeaMine", "ideamine@ideamine.invalid")
_GIT_CONFIG = (
    "core.hooksPath=/dev/null",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "core.autocrlf=false",
    "core.fsmonitor=false",
    "core.quotePath=false",
    "core.symlinks=false",
    "gc.auto=0",
    "init.defaultBranch=main",
    "user.useConfigOnly=false",
)
_GIT_TIMEOUT = 60.0


class Rejection(BaseModel):
    """A proposed file the path policy refused (the lead records it as a ledger `decision`)."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="The proposed path, as repr() truncated to 120 characters.")
    rule: str = Field(description="The rule it broke, e.g. 'parent_reference', 'symlink'.")
    message: str = Field(description="One sentence: the cause and the fix.")

    @classmethod
    def of(cls, error: PathPolicyError) -> Rejection:
        """The record of one policy error."""
        shown = repr(error.path)
        return cls(
            path=shown if len(shown) <= 120 else shown[:117] + "...", rule=error.rule, message=error.explain()
        )


class WriteReport(BaseModel):
    """What `Workspace.write_files` did with each proposed file."""

    model_config = ConfigDict(extra="forbid")

    written: list[str] = Field(default_factory=list, description="Canonical paths written (changed or new).")
    unchanged: list[str] = Field(default_factory=list, description="Paths whose content was already equal.")
    deleted: list[str] = Field(default_factory=list, description="Paths removed.")
    rejected: list[Rejection] = Field(default_factory=list, description="Proposals refused by the policy.")
    invisible_removed: dict[str, int] = Field(
        default_factory=dict, description="Path → invisible characters stripped from its content."
    )
    injection_signals: dict[str, list[InjectionSignal]] = Field(
        default_factory=dict, description="Path → prompt-injection signals found in its content."
    )


class CommitInfo(BaseModel):
    """One commit of the workspace."""

    model_config = ConfigDict(extra="forbid")

    sha: str
    tree: str
    message: str
    timestamp: int = Field(description="Commit time, epoch seconds (derived from the run).")


def _as_pairs(files: Iterable[SourceFile | tuple[str, str | bytes]]) -> Iterator[tuple[object, str | bytes]]:
    for item in files:
        if isinstance(item, SourceFile):
            yield item.path, item.content
        else:
            yield item[0], item[1]


class Workspace:
    """One git repository per run under `root`; open it with `Workspace.open`."""

    def __init__(self, root: Path, created_at: float, policy: PathPolicy) -> None:
        self.root = root
        self.created_at = int(created_at)
        self.policy = policy

    @classmethod
    def open(cls, root: Path, *, created_at: float, policy: PathPolicy | None = None) -> Workspace:
        """Open (and on first use create) the workspace repository at `root` (e.g. `<run dir>/workspace`).

        `created_at` is the run's creation time (epoch seconds): commit dates derive from it.
        """
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(
                f"cannot create the workspace folder {root}: {exc.strerror or exc}",
                fix="make the run folder writable (check IDEAMINE_HOME and its permissions)",
            ) from exc
        ws = cls(root.resolve(), created_at, policy or PathPolicy())
        if not (ws.root / ".git").is_dir():
            ws._git("init", "--quiet", "--template=", "--initial-branch=main")
        return ws

    def _env(self, timestamp: int | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_TERMINAL_PROMPT="0",
            GIT_AUTHOR_NAME=AUTHOR[0],
            GIT_AUTHOR_EMAIL=AUTHOR[1],
            GIT_COMMITTER_NAME=AUTHOR[0],
            GIT_COMMITTER_EMAIL=AUTHOR[1],
            LC_ALL="C",
            TZ="UTC",
        )
        if timestamp is not None:
            env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"@{timestamp} +0000"
        return env

    def _git(
        self, *args: str, timestamp: int | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        config = [item for pair in (("-c", c) for c in _GIT_CONFIG) for item in pair]
        cmd = ["git", *config, "-C", str(self.root), *args]
        try:
            proc = subprocess.run(
                cmd,
                env=self._env(timestamp),
                capture_output=True,
                timeout=_GIT_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError as exc:
            raise WorkspaceError(
                "git is not installed", fix="install it, e.g. `apt-get install -y git`"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise WorkspaceError(
                f"`git {args[0]}` took over {_GIT_TIMEOUT:g} s", fix="retry the phase"
            ) from exc
        if check and proc.returncode != 0:
            detail = proc.stderr.decode(errors="replace").strip()[-300:]
            raise WorkspaceError(
                f"`git {args[0]}` failed in the workspace {self.root}: {detail}",
                fix="check the workspace folder is writable and not corrupted; re-run the phase",
            )
        return proc

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise writers of this workspace (threads and processes)."""
        with open(self.root / ".git" / "ideamine.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def write_files(
        self, files: Iterable[SourceFile | tuple[str, str | bytes]], *, strict: bool = False
    ) -> WriteReport:
        """Write proposed files through the path policy; text is stripped of invisible characters.

        A refused path becomes a `Rejection` in the report and the other files are still written; with
        `strict=True` the first refusal raises `PathPolicyError` instead (files before it stay written).
        """
        report = WriteReport()
        with self._locked():
            for path, content in _as_pairs(files):
                try:
                    self._write_one(path, content, report)
                except PathPolicyError as exc:
                    if strict:
                        raise
                    report.rejected.append(Rejection.of(exc))
        return report

    def _write_one(self, path: object, content: str | bytes, report: WriteReport) -> None:
        rel = self.policy.check(path)
        if isinstance(content, str):
            clean = sanitize(content)
            if clean.removed:
                report.invisible_removed[rel] = clean.removed
            if clean.signals:
                report.injection_signals[rel] = clean.signals
            data = clean.text.encode("utf-8")
        else:
            data = bytes(content)
        if self.policy.read(self.root, rel) == data:
            report.unchanged.append(rel)
            return
        self.policy.write(self.root, rel, data)
        report.written.append(rel)

    def delete_files(self, paths: Iterable[str]) -> WriteReport:
        """Remove files through the path policy (refusals are reported, not raised)."""
        report = WriteReport()
        with self._locked():
            for path in paths:
                try:
                    if self.policy.delete(self.root, path):
                        report.deleted.append(self.policy.check(path))
                except PathPolicyError as exc:
                    report.rejected.append(Rejection.of(exc))
        return report

    def commit(self, message: str) -> str:
        """Commit every change (an empty commit when nothing changed) and return the commit SHA."""
        subject = sanitize(message).text.strip() or "IdeaMine commit"
        with self._locked():
            timestamp = self.created_at + len(self.commits())
            self._git("add", "--all", "--", ".")
            self._git("commit", "--quiet", "--allow-empty", "--no-verify", "-m", subject, timestamp=timestamp)
            return self._git("rev-parse", "HEAD").stdout.decode().strip()

    def head(self) -> str | None:
        """The SHA of the last commit, or None before the first."""
        proc = self._git("rev-parse", "--verify", "--quiet", "HEAD", check=False)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def commits(self) -> list[CommitInfo]:
        """Every commit, oldest first."""
        if self.head() is None:
            return []
        out = self._git("log", "--reverse", "--format=%H%x00%T%x00%ct%x00%s%x1e").stdout.decode()
        rows = [r.strip("\n").split("\x00") for r in out.split("\x1e") if r.strip()]
        return [CommitInfo(sha=s, tree=t, timestamp=int(ts), message=m) for s, t, ts, m in rows]

    def files(self, rev: str = "HEAD") -> list[str]:
        """The paths tracked at `rev`, sorted."""
        out = self._git("ls-tree", "-r", "-z", "--name-only", rev).stdout.decode("utf-8", "replace")
        return sorted(p for p in out.split("\x00") if p)

    def tree_hash(self, rev: str = "HEAD") -> str:
        """The git tree hash of `rev` (equal content gives an equal hash)."""
        return self._git("rev-parse", f"{rev}^{{tree}}").stdout.decode().strip()

    def _archive(self, rev: str) -> tarfile.TarFile:
        data = self._git("archive", "--format=tar", rev).stdout
        return tarfile.open(fileobj=io.BytesIO(data), mode="r:")

    def export(self, dest: Path, rev: str = "HEAD") -> list[str]:
        """Extract the committed tree of `rev` into `dest` (links and unsafe members refused); the paths."""
        with self._archive(rev) as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            tar.extractall(dest, members=members, filter="data")
        return sorted(m.name for m in members)

    def read_files(self, rev: str = "HEAD") -> list[SourceFile]:
        """The committed UTF-8 text files of `rev`, sorted by path (binary files are left out)."""
        out: list[SourceFile] = []
        with self._archive(rev) as tar:
            for member in tar.getmembers():
                fh = tar.extractfile(member) if member.isfile() else None
                if fh is None:
                    continue
                try:
                    out.append(SourceFile(path=member.name, content=fh.read().decode("utf-8")))
                except (UnicodeDecodeError, ValueError):
                    continue
        return sorted(out, key=lambda f: f.path)
