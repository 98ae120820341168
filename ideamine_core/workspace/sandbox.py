"""Run an untrusted command in a sandbox: no network, unprivileged, capabilities dropped, resource limits.

The recipe (RELIABILITY §1.5), outermost first:

1. ``setpriv --reuid 65534 --regid 65534 --clear-groups`` (only when running as root), with the inheritable
   and bounding capability sets cleared: RLIMIT_NPROC only counts against a non-root real uid;
2. ``prlimit`` with ``--as --cpu --fsize --nofile --nproc --core=0``;
3. ``bwrap --unshare-all --unshare-user --disable-userns --die-with-parent --new-session --cap-drop ALL
   --clearenv`` with read-only binds of ``/usr`` and the runtime, a new ``/proc`` and ``/dev``, a size-capped
   tmpfs ``/tmp`` and the caller's mounts;
4. a wall-clock timeout in the parent that SIGKILLs the whole process group; leftovers (processes that
   carry this run's token in their environment) are then killed too, so nothing outlives `run`.

When bubblewrap is missing or unusable the fallback is ``unshare --net --pid --fork --kill-child`` (root
only) and else a plain subprocess with the same uid drop and rlimits; the result then says
``reduced_isolation`` and why, loudly, in `notes` — never silently. Under a fallback the command sees host
paths: build its arguments with `Sandbox.path`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from enum import StrEnum
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.errors import SandboxError
from ideamine_core.workspace.runtime import PythonRuntime

__all__ = ["Isolation", "Limits", "Mount", "Sandbox", "SandboxResult"]

NOBODY = 65534
RUNTIME_MOUNT = "/opt/ideamine/python"
TOKEN_VAR = "IDEAMINE_SANDBOX_TOKEN"
_SYSTEM_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime")
# Run as root inside the new network namespace, before the uid drop: bring `lo` up (as bubblewrap does),
# then exec the rest of the command line.
_LOOPBACK_UP = (
    "import fcntl, os, socket, struct, sys\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "fcntl.ioctl(s, 0x8914, struct.pack('16sH14s', b'lo', 0x1 | 0x8 | 0x40, bytes(14)))\n"
    "s.close()\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)


class Isolation(StrEnum):
    """How strongly a command is isolated, strongest first."""

    BUBBLEWRAP = "bubblewrap"
    UNSHARE = "unshare"
    RLIMITS = "rlimits"


class Limits(BaseModel):
    """Resource limits of one sandboxed command."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wall_seconds: float = Field(default=120.0, gt=0, description="Wall-clock limit; then SIGKILL.")
    cpu_seconds: int = Field(default=60, gt=0, description="CPU-time limit (RLIMIT_CPU soft; hard is +1 s).")
    memory_bytes: int = Field(default=2 << 30, gt=0, description="Address-space limit (RLIMIT_AS).")
    file_bytes: int = Field(default=64 << 20, gt=0, description="Largest file it may write (RLIMIT_FSIZE).")
    open_files: int = Field(default=256, gt=0, description="Open file descriptors (RLIMIT_NOFILE).")
    processes: int = Field(default=64, gt=0, description="Processes of the sandbox uid (RLIMIT_NPROC).")
    tmp_bytes: int = Field(default=256 << 20, gt=0, description="Size of the tmpfs /tmp (bubblewrap only).")
    output_bytes: int = Field(default=256 << 10, gt=0, description="stdout/stderr kept, each (the tail).")


class Mount(BaseModel):
    """A host directory or file made visible to the command."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: Path = Field(description="Host path (must be readable by the sandbox uid).")
    inside: str = Field(pattern=r"^/", description="Absolute path inside the sandbox (bubblewrap only).")
    writable: bool = Field(default=False, description="Read-write instead of read-only.")


class SandboxResult(BaseModel):
    """What happened to a sandboxed command."""

    model_config = ConfigDict(extra="forbid")

    isolation: Isolation
    reduced_isolation: bool = Field(description="True unless bubblewrap with the full recipe was used.")
    notes: list[str] = Field(default_factory=list, description="Isolation warnings, loud and explicit.")
    returncode: int | None = Field(
        description="Exit status; negative = killed by that signal; None if unknown."
    )
    timed_out: bool = Field(description="True when the wall-clock limit killed it.")
    duration_seconds: float = Field(ge=0, description="Wall-clock time from start to reaped.")
    stdout: str = Field(description="Tail of standard output.")
    stderr: str = Field(description="Tail of standard error.")
    leftovers_killed: int = Field(
        default=0, ge=0, description="Processes still alive after it ended, killed."
    )


def _probe(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=20, stdin=subprocess.DEVNULL).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@cache
def _drop_prefix() -> tuple[str, ...]:
    """setpriv down to uid/gid 65534 when running as root; () otherwise."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        return ()
    cmd = (setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")
    cmd += ("--inh-caps=-all", "--bounding-set=-all", "--")
    return cmd if _probe([*cmd, "true"]) else ()


def _bwrap_base(tmp_bytes: int) -> list[str]:
    bwrap = shutil.which("bwrap") or "bwrap"
    cmd = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent"]
    cmd += ["--new-session", "--cap-drop", "ALL", "--clearenv", "--hostname", "sandbox"]
    cmd += ["--ro-bind", "/usr", "/usr"]
    for name in _SYSTEM_LINKS:
        host = Path("/", name)
        if host.is_symlink():
            cmd += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            cmd += ["--ro-bind", str(host), f"/{name}"]
    for etc in _ETC_FILES:
        cmd += ["--ro-bind-try", etc, etc]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    return cmd


@cache
def _bwrap_usable() -> str | None:
    """None when the bubblewrap recipe works here, else why not."""
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (apt-get install -y bubblewrap)"
    if _probe([*_drop_prefix(), *_bwrap_base(1 << 20), "--", "/usr/bin/true"]):
        return None
    return "bubblewrap is installed but cannot create its namespaces here (user namespaces disabled?)"


@cache
def _unshare_usable() -> bool:
    unshare = shutil.which("unshare")
    return (
        bool(unshare)
        and os.geteuid() == 0
        and _probe([unshare, "--net", "--pid", "--fork", "--kill-child", "true"])
    )


class Sandbox:
    """Runs commands with the strongest isolation available; `Sandbox.detect(runtime)` picks it."""

    def __init__(self, runtime: PythonRuntime, isolation: Isolation, notes: Sequence[str] = ()) -> None:
        self.runtime = runtime
        self.isolation = isolation
        self.base_notes = list(notes)

    @classmethod
    def detect(cls, runtime: PythonRuntime, *, allow_fallback: bool = True) -> Sandbox:
        """bubblewrap when usable; else a fallback with loud notes, or SandboxError if not allowed."""
        why = _bwrap_usable()
        if why is None:
            return cls(runtime, Isolation.BUBBLEWRAP, cls._uid_notes())
        if not allow_fallback:
            raise SandboxError(f"the QA sandbox is unavailable: {why}", fix="apt-get install -y bubblewrap")
        iso = Isolation.UNSHARE if _unshare_usable() else Isolation.RLIMITS
        lost = "no filesystem isolation (the command sees the host's files its uid can read)"
        if iso is Isolation.RLIMITS:
            lost += ", no network isolation, no PID namespace"
        notes = [f"REDUCED ISOLATION ({iso.value}): {why}; {lost}", *cls._uid_notes()]
        return cls(runtime, iso, notes)

    @staticmethod
    def _uid_notes() -> list[str]:
        if _drop_prefix():
            return []
        return [
            f"REDUCED ISOLATION: runs as the calling uid {os.geteuid()} (not root or no setpriv); "
            "the process limit counts all of that user's processes"
        ]

    @property
    def reduced(self) -> bool:
        """True unless the full bubblewrap recipe is in use."""
        return self.isolation is not Isolation.BUBBLEWRAP or bool(self.base_notes)

    def path(self, mount: Mount) -> str:
        """Where the command sees `mount`: its inside path under bubblewrap, the host path otherwise."""
        return mount.inside if self.isolation is Isolation.BUBBLEWRAP else str(mount.host)

    @property
    def python(self) -> str:
        """The sandbox runtime's interpreter, as the command sees it."""
        inside = RUNTIME_MOUNT if self.isolation is Isolation.BUBBLEWRAP else None
        return self.runtime.python(inside)

    def _env(self, extra: dict[str, str], token: str) -> dict[str, str]:
        inside = RUNTIME_MOUNT if self.isolation is Isolation.BUBBLEWRAP else None
        env = {
            "PATH": f"{Path(self.runtime.python(inside)).parent}:/usr/bin:/bin",
            "HOME": "/tmp",
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
            "LD_LIBRARY_PATH": self.runtime.library_dir(inside),
        }
        return {**env, **extra, TOKEN_VAR: token}

    def _argv(
        self, argv: Sequence[str], mounts: Sequence[Mount], cwd: str, env: dict[str, str], limits: Limits
    ) -> list[str]:
        rl = [shutil.which("prlimit") or "prlimit", f"--as={limits.memory_bytes}"]
        rl += [f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}", f"--fsize={limits.file_bytes}"]
        rl += [f"--nofile={limits.open_files}", "--core=0"]
        rl += [f"--nproc={self._nproc(limits)}", "--"]
        if self.isolation is Isolation.BUBBLEWRAP:
            box = _bwrap_base(limits.tmp_bytes) + ["--ro-bind", str(self.runtime.prefix), RUNTIME_MOUNT]
            for m in mounts:
                box += ["--bind" if m.writable else "--ro-bind", str(m.host), m.inside]
            for key, value in sorted(env.items()):
                box += ["--setenv", key, value]
            return [*_drop_prefix(), *rl, *box, "--chdir", cwd, "--", *argv]
        outer: list[str] = []
        if self.isolation is Isolation.UNSHARE:
            outer = [shutil.which("unshare") or "unshare", "--net", "--pid", "--fork", "--kill-child", "--"]
            outer += [sys.executable, "-I", "-S", "-c", _LOOPBACK_UP]
        return [*outer, *_drop_prefix(), *rl, *argv]

    def _nproc(self, limits: Limits) -> int:
        if _drop_prefix():
            return limits.processes
        mine = sum(1 for p in Path("/proc").iterdir() if p.name.isdigit() and _owner(p) == os.geteuid())
        return mine + limits.processes

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str,
        mounts: Sequence[Mount] = (),
        env: dict[str, str] | None = None,
        limits: Limits | None = None,
        pass_fds: Sequence[int] = (),
    ) -> SandboxResult:
        """Run `argv` (paths as the command sees them; see `path`) and return once nothing of it is left."""
        limits = limits or Limits()
        token = secrets.token_hex(12)
        full_env = self._env(env or {}, token)
        cmd = self._argv(argv, mounts, cwd, full_env, limits)
        outer_env = full_env if self.isolation is not Isolation.BUBBLEWRAP else {"PATH": "/usr/bin:/bin"}
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=None if self.isolation is Isolation.BUBBLEWRAP else cwd,
                env=outer_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                pass_fds=tuple(pass_fds),
            )
        except OSError as exc:
            raise SandboxError(
                f"cannot start the sandbox: {exc}", fix="install util-linux and bubblewrap"
            ) from exc
        out, err = _Tail(proc.stdout, limits.output_bytes), _Tail(proc.stderr, limits.output_bytes)
        timed_out = False
        try:
            proc.wait(timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
            _killpg(proc.pid)
            proc.wait()
        duration = time.monotonic() - start
        _killpg(proc.pid)
        leftovers = kill_leftovers(token)
        return SandboxResult(
            isolation=self.isolation,
            reduced_isolation=self.reduced,
            notes=list(self.base_notes),
            returncode=proc.returncode,
            timed_out=timed_out,
            duration_seconds=round(duration, 3),
            stdout=out.text(),
            stderr=err.text(),
            leftovers_killed=leftovers,
        )


class _Tail:
    """Drains a pipe in a daemon thread, keeping the last `limit` bytes."""

    def __init__(self, pipe: object, limit: int) -> None:
        self._buf = bytearray()
        self._limit = limit
        self._thread = threading.Thread(target=self._drain, args=(pipe,), daemon=True)
        self._thread.start()

    def _drain(self, pipe: object) -> None:
        read = pipe.read1  # type: ignore[attr-defined]
        while chunk := read(65536):
            self._buf += chunk
            if len(self._buf) > 2 * self._limit:
                del self._buf[: len(self._buf) - self._limit]

    def text(self) -> str:
        """The tail, once the writer closed the pipe (or after 2 s)."""
        self._thread.join(timeout=2.0)
        return bytes(self._buf[-self._limit :]).decode("utf-8", errors="replace")


def _owner(proc_dir: Path) -> int | None:
    try:
        return proc_dir.stat().st_uid
    except OSError:
        return None


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_leftovers(token: str) -> int:
    """SIGKILL every process of the sandbox uid whose environment carries `token`; how many there were."""
    needle = f"{TOKEN_VAR}={token}".encode()
    uid = NOBODY if _drop_prefix() else os.geteuid()
    killed = 0
    for _ in range(3):  # a dying parent may fork once more: sweep until none is left
        procs = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _owner(p) == uid]
        found = [int(p.name) for p in procs if _has(p, needle)]
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)
    return killed


def _has(proc_dir: Path, needle: bytes) -> bool:
    try:
        return needle in (proc_dir / "environ").read_bytes().split(b"\0")
    except OSError:
        return False
