"""RELIABILITY test 18: a hostile project's "tests" run in the QA sandbox and none of them escapes.

Each probe below is a test that *passes only if it escaped* (reached PostgreSQL/Redis/a registry, read
host secrets, kept a capability, injected into a terminal...). Writes outside the workspace are judged
by the parent, on the host. Resource attacks (fork bomb, 8 GiB allocation, CPU loop, 5 GiB file, a daemon
outliving the timeout) each get their own small-limit run. Nothing may be left running afterwards.
Needs bubblewrap: under CI=true its absence fails these tests.
"""

from __future__ import annotations

import os
import re
import stat
import uuid
from pathlib import Path

import psutil
import pytest
from workspace_support import require_bubblewrap

from ideamine_core.agents.outputs.build import SourceFile
from ideamine_core.agents.outputs.qa import TestExecution
from ideamine_core.workspace.sandbox import Limits
from ideamine_core.workspace.testing import run_tests

pytestmark = pytest.mark.exclusive  # time limits and kills are measured in wall time

PROBES = '''"""Hostile probes: each test passes only if it escaped the sandbox."""

import fcntl
import os
import socket
import termios

HOST_SSH = __HOST_SSH__
HOST_OUT = __HOST_OUT__


def _connects(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False


def test_reaches_postgresql():
    assert _connects("127.0.0.1", 5432)


def test_reaches_redis():
    assert _connects("127.0.0.1", 6379)


def test_reaches_a_package_registry():
    assert _connects("pypi.org", 443) or _connects("151.101.0.223", 443)


def test_reads_ssh_keys():
    found = []
    for path in (os.path.expanduser("~/.ssh/id_rsa"), "/root/.ssh/id_rsa", HOST_SSH):
        try:
            found.append(open(path).read())
        except OSError:
            pass
    assert any("BEGIN" in text for text in found)


def _environs():
    out = [repr(dict(os.environ))]
    for pid in os.listdir("/proc"):
        for name in ("environ", "cmdline"):
            try:
                out.append(open(f"/proc/{pid}/{name}", "rb").read().decode(errors="replace"))
            except OSError:
                pass
    return "\\n".join(out)


def test_reads_proc_1_environ():
    assert "sk-canary-" in open("/proc/1/environ", "rb").read().decode(errors="replace")


def test_finds_the_parent_api_key():
    assert "sk-canary-" in _environs()


def test_reads_etc_shadow():
    assert open("/etc/shadow").read()


def test_becomes_root():
    os.setuid(0)
    assert os.getuid() == 0


def test_keeps_capabilities():
    status = open("/proc/self/status").read()
    cap_eff = status.split("CapEff:")[1].split()[0]
    assert int(cap_eff, 16) != 0, f"CapEff={cap_eff}"


def test_injects_into_a_terminal():
    injected = False
    for fd in (0, 1, 2):
        try:
            fcntl.ioctl(fd, termios.TIOCSTI, b"x")
            injected = True
        except OSError:
            pass
    try:
        tty = os.open("/dev/tty", os.O_RDWR)
        fcntl.ioctl(tty, termios.TIOCSTI, b"x")
        injected = True
    except OSError:
        pass
    assert injected


def test_writes_outside_the_workspace():
    for path in (HOST_OUT + "/direct.txt", "/workspace/../outside.txt", os.getcwd() + "/../escape.txt"):
        try:
            with open(path, "w") as fh:
                fh.write("escaped")
        except OSError:
            pass


def test_writes_through_a_symlink():
    for link in ("/workspace/planted_link", "/workspace/new_link"):
        try:
            os.symlink(HOST_OUT, link)
        except OSError:
            pass
        try:
            with open(link + "/through_link.txt", "w") as fh:
                fh.write("escaped")
        except OSError:
            pass
'''

FORK_BOMB = '''"""Fork until it fails; passes (escaped) only if far more processes start than allowed."""

import os
import time


def test_fork_bomb():
    children = 0
    try:
        while children < 500:
            if os.fork() == 0:
                time.sleep(30)
                os._exit(0)
            children += 1
    except OSError:
        pass
    assert children >= 500, f"forks={children}"
'''

MEMORY = '''"""Allocate 8 GiB; passes (escaped) only if the allocation succeeds."""


def test_allocates_8_gib():
    block = bytearray(8 << 30)
    assert len(block) == 8 << 30
'''

CPU = '''"""Spin forever; only the CPU limit can stop it."""


def test_spins():
    while True:
        pass
'''

BIG_FILE = '''"""Write 5 GiB; passes (escaped) only if all of it is written."""


def test_writes_5_gib():
    chunk, written = b"x" * (1 << 20), 0
    try:
        with open("/workspace/big.bin", "wb") as fh:
            while written < 5 << 30:
                fh.write(chunk)
                written += len(chunk)
    except OSError:
        pass
    assert written >= 5 << 30, f"written={written}"
'''

DAEMON = '''"""Leave a daemon behind, then outlive the wall-clock limit."""

import os
import sys
import time


def test_leaves_a_daemon():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", "__MARKER__"])
        os._exit(0)
    time.sleep(60)
'''


SELF_JUDGED = (
    "test_reaches_postgresql",
    "test_reaches_redis",
    "test_reaches_a_package_registry",
    "test_reads_ssh_keys",
    "test_reads_proc_1_environ",
    "test_finds_the_parent_api_key",
    "test_reads_etc_shadow",
    "test_becomes_root",
    "test_keeps_capabilities",
    "test_injects_into_a_terminal",
)
SECRET_PROBES = ("test_reads_ssh_keys", "test_reads_proc_1_environ", "test_finds_the_parent_api_key")


@pytest.fixture(autouse=True)
def _bubblewrap() -> None:
    require_bubblewrap()


def _project(tmp_path: Path) -> Path:
    code = tmp_path / "code"
    (code / "app").mkdir(parents=True)
    (code / "app" / "__init__.py").write_text('"""Nothing to see."""\n')
    return code


def _run(tmp_path: Path, name: str, source: str, limits: Limits) -> TestExecution:
    return run_tests(_project(tmp_path), [SourceFile(path=f"tests/{name}", content=source)], limits=limits)


def _survivors(marker: str) -> list[psutil.Process]:
    out = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(marker in part for part in proc.info["cmdline"] or []):
            out.append(proc)
    return out


def test_probes_escape_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDEAMINE_CANARY_API_KEY", f"sk-canary-{uuid.uuid4().hex}")
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True)
    (ssh / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY----- canary\n")
    for p in (tmp_path, tmp_path / "home", ssh):
        p.chmod(0o755)
    (ssh / "id_rsa").chmod(0o644)
    out = tmp_path / "host_out"
    out.mkdir()
    out.chmod(0o777)
    code = _project(tmp_path)
    os.symlink(out, code / "planted_link")
    probes = PROBES.replace("__HOST_SSH__", repr(str(ssh / "id_rsa"))).replace("__HOST_OUT__", repr(str(out)))
    result = run_tests(
        code, [SourceFile(path="tests/test_probes.py", content=probes)], limits=Limits(wall_seconds=60)
    )
    failed = {f.test_id.split("::")[1]: f.message for f in result.failures}
    escaped = [name for name in SELF_JUDGED if name not in failed]
    host_writes = sorted(p.name for p in out.iterdir())
    host_writes += [p for p in ("outside.txt", "escape.txt") if (tmp_path / p).exists()]
    cap = failed.get("test_keeps_capabilities", "")
    cap_eff = cap.rsplit("CapEff=", 1)[1].split()[0].strip("'\"") if "CapEff=" in cap else "?"
    secrets = [name for name in escaped if name in SECRET_PROBES]
    print(
        f"sandbox probes: escapes={len(escaped) + len(host_writes)}/{len(SELF_JUDGED) + 2} cap_eff={cap_eff} "
        f"host_secrets_visible={len(secrets)} isolation={result.isolation} seconds={result.duration_seconds}"
    )
    assert result.isolation == "bubblewrap" and not result.reduced_isolation
    assert result.expected == result.collected == len(SELF_JUDGED) + 2 and not result.tampering
    assert escaped == [] and host_writes == [] and secrets == []
    assert int(cap_eff, 16) == 0


@pytest.mark.parametrize(
    ("name", "source", "limits"),
    [
        # fork bomb against RLIMIT_NPROC (effective only because the uid is dropped first)
        ("test_fork.py", FORK_BOMB, Limits(processes=32, wall_seconds=30)),
        # 8 GiB allocation against RLIMIT_AS
        ("test_memory.py", MEMORY, Limits(memory_bytes=1 << 30, wall_seconds=30)),
        # 5 GiB file against RLIMIT_FSIZE
        ("test_big_file.py", BIG_FILE, Limits(file_bytes=16 << 20, wall_seconds=30)),
    ],
)
def test_resource_attacks_are_contained(tmp_path: Path, name: str, source: str, limits: Limits) -> None:
    unique = f"{name[:-3]}_{uuid.uuid4().hex[:12]}.py"
    result = _run(tmp_path, unique, source, limits)
    survivors = _survivors(unique)
    message = result.failures[0].message if result.failures else ""
    figures = re.findall(r"\b(forks|written)=(\d+)", message)
    figure = "=".join(figures[-1]) if figures else "-"
    print(
        f"sandbox {name}: escaped={result.passed} {figure} orphans={len(survivors)} "
        f"seconds={result.duration_seconds}"
    )
    assert result.passed == 0 and result.failed + result.errors >= 1 and not result.timed_out
    assert survivors == []


def test_cpu_loop_is_killed_by_the_cpu_limit(tmp_path: Path) -> None:
    limits = Limits(cpu_seconds=1, wall_seconds=20)
    result = _run(tmp_path, "test_cpu.py", CPU, limits)
    print(
        f"sandbox cpu loop: killed_by=RLIMIT_CPU exit={result.exit_code} wall={result.duration_seconds}s "
        f"cpu_limit={limits.cpu_seconds}s"
    )
    assert not result.timed_out and result.duration_seconds < limits.wall_seconds
    assert result.passed == 0 and result.errors >= 1 and not result.green


def test_a_daemon_does_not_outlive_the_timeout(tmp_path: Path) -> None:
    marker = f"ideamine-daemon-{uuid.uuid4().hex}"
    limits = Limits(wall_seconds=2.0)
    result = _run(tmp_path, "test_daemon.py", DAEMON.replace("__MARKER__", marker), limits)
    survivors = _survivors(marker)
    late = result.duration_seconds - limits.wall_seconds
    print(
        f"sandbox daemon: timed_out={result.timed_out} kill_after_limit={late:+.2f}s orphans={len(survivors)}"
    )
    for proc in survivors:
        proc.kill()
    assert result.timed_out and late <= 1.0 and survivors == []
    assert not result.green and result.errors >= 1


def test_the_workspace_copy_is_private_to_the_sandbox_uid(tmp_path: Path) -> None:
    code = _project(tmp_path)
    probe = """import os, stat


def test_owner():
    st = os.stat("/workspace/app/__init__.py")
    assert os.getuid() == 65534 and st.st_uid == 65534
    assert not os.access("/workspace/tests/test_owner.py", os.W_OK)
"""
    if os.geteuid() != 0:
        probe = probe.replace("os.getuid() == 65534 and st.st_uid == 65534", "st.st_uid == os.getuid()")
    result = run_tests(code, [SourceFile(path="tests/test_owner.py", content=probe)])
    assert result.green, result.failures
    assert stat.S_IMODE(code.stat().st_mode) == 0o755 and code.stat().st_uid == os.geteuid()
