"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe): no extra package.

Every protocol event is kept, so a test can list the requests a page made (`Network.requestWillBeSent`).
Also a loopback "proxy" that only counts connections: pages open in a browser context routed to one
(every host, loopback included), so any request that tries to leave a page is counted there as well.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""The flags the project runs Chromium with (no background traffic on a closed network)."""


def chromium_binary() -> str:
    """/usr/bin/chromium (Debian's package); fails under CI=true when missing, skips elsewhere."""
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path:
        return path
    what = "chromium is not installed (Debian package `chromium`: apt-get install -y chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what}; CI=true requires it", pytrace=False)
    pytest.skip(what)


_BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class CountingProxy:
    """A TCP listener on 127.0.0.1 that counts connections and answers 502: nothing goes further."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    self.requests.append(conn.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace"))
                    conn.sendall(_BAD_GATEWAY)
                except OSError:
                    pass

    def close(self) -> None:
        """Stop listening."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


class Browser:
    """One headless Chromium process and its DevTools pipe."""

    def __init__(self, binary: str, user_data_dir: Path, extra: list[str]) -> None:
        to_child, self._to_browser = os.pipe()
        self._from_browser, from_child = os.pipe()

        def wire() -> None:  # the pipe protocol: Chromium reads fd 3 and writes fd 4
            os.dup2(to_child, 3)
            os.dup2(from_child, 4)

        argv = [binary, *FLAGS, f"--user-data-dir={user_data_dir}", "--remote-debugging-pipe", *extra]
        self.proc = subprocess.Popen(
            [*argv, "about:blank"],
            preexec_fn=wire,  # the only way to put the pipe ends at fds 3 and 4 in the child
            pass_fds=(3, 4),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)
        self.events: list[dict[str, Any]] = []
        self._responses: dict[int, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._next_id = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._from_browser, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._cond:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._responses[message["id"]] = message
                    else:
                        self.events.append(message)
                self._cond.notify_all()

    def _send(self, method: str, params: dict | None, session: str | None) -> int:
        with self._cond:
            self._next_id += 1
            ident = self._next_id
        message = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        return ident

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict[str, Any]:
        """Send one command and return its result (AssertionError on a protocol error or 30 s timeout)."""
        ident = self._send(method, params, session)
        with self._cond:
            assert self._cond.wait_for(lambda: ident in self._responses, timeout=30), f"{method} timed out"
            response = self._responses.pop(ident)
        assert "error" not in response, f"{method}: {response['error']}"
        return response["result"]

    def wait_event(self, method: str, session: str, timeout: float = 30) -> dict[str, Any]:
        """The first event `method` of `session` (waiting for it)."""

        def found() -> dict[str, Any] | None:
            return next(iter(self._matching(method, session)), None)

        with self._cond:
            assert self._cond.wait_for(found, timeout=timeout), f"no {method} within {timeout} s"
            return found()

    def of(self, method: str, session: str) -> list[dict[str, Any]]:
        """Every event `method` seen for `session` so far."""
        with self._cond:
            return [e["params"] for e in self._matching(method, session)]

    def _matching(self, method: str, session: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["method"] == method and e.get("sessionId") == session]

    def context(self, proxy: CountingProxy) -> str:
        """A fresh browser context (own profile) whose every request goes to `proxy`; its id.

        The browser's own background traffic stays in the default context, so `proxy` counts
        exactly what pages opened in this context ask for.
        """
        params = {"proxyServer": f"http://127.0.0.1:{proxy.port}", "proxyBypassList": "<-loopback>"}
        return self.call("Target.createBrowserContext", params)["browserContextId"]

    def open(self, url: str, context: str, width: int = 1200, height: int = 900) -> str:
        """A new tab in `context` with network and page events on, `url` loaded; its session id."""
        params = {"url": "about:blank", "browserContextId": context}
        target = self.call("Target.createTarget", params)["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Network.enable", "Page.enable"):
            self.call(domain, session=session)
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self.call("Emulation.setDeviceMetricsOverride", metrics, session)
        self.call("Page.navigate", {"url": url}, session)
        self.wait_event("Page.loadEventFired", session)
        time.sleep(0.5)  # let any late request (there should be none) show up
        return session

    def evaluate(self, expression: str, session: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"]["value"]

    def screenshot(self, session: str, path: Path, max_height: int = 12000) -> Path:
        """A full-page PNG of the tab, written to `path`."""
        size = self.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], max_height), "scale": 1}
        params = {"format": "png", "clip": clip, "captureBeyondViewport": True}
        data = self.call("Page.captureScreenshot", params, session)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Close the browser (kill it if it does not exit) and the pipe."""
        try:
            self._send("Browser.close", None, None)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self._to_browser)
        self._reader.join(timeout=5)
        os.close(self._from_browser)
