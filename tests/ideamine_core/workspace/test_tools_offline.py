"""Scanners run offline: a tool started by `run_tool` cannot reach even this machine's own services."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from ideamine_core.workspace._tools import offline_prefix, run_tool

PROBE = """\
import json, socket, sys
port = int(sys.argv[1])
try:
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
    reached = True
except OSError:
    reached = False
print(json.dumps({"reached": reached}))
"""


@pytest.fixture
def listener() -> socket.socket:
    """A TCP server on the host's loopback, accepting connections."""
    server = socket.create_server(("127.0.0.1", 0))
    server.listen()
    yield server
    server.close()


def _probe(tmp_path: Path, port: int) -> dict[str, bool]:
    (tmp_path / "netprobe.py").write_text(PROBE)
    out, _ = run_tool("netprobe", [str(port)], tmp_path, "netprobe", timeout=30)
    return json.loads(out)


def test_a_tool_cannot_connect_to_a_service_on_this_host(tmp_path: Path, listener: socket.socket) -> None:
    if not offline_prefix():
        reason = "no new network namespace can be made here (`unshare --net` refused)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires it", pytrace=False)
        pytest.skip(f"{reason}; run as root or allow unprivileged user namespaces to enable this test")
    port = listener.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass  # the service is reachable from this process
    assert _probe(tmp_path, port) == {"reached": False}
