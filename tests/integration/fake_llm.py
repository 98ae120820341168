"""Local fake model servers for tests: the OpenAI chat-completions and Anthropic messages protocols.

A `FakeLLMServer` binds 127.0.0.1 on an ephemeral port, records and counts every request (with its
arrival time and the tokens it billed), and answers each one from a script of `Reply`s (then from its
responder): a tool call carrying the output (or any raw argument text, malformed JSON included), plain
text, an HTTP error with headers, a raw body, a delay, or a dropped connection. A request whose client
gave up during its delay (its timeout) is marked `abandoned` and gets no answer. Usage fields are
derived from the request and reply sizes, so token counts are deterministic.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Protocol = Literal["openai", "anthropic"]


@dataclass
class Reply:
    """One scripted answer."""

    output: Any = None
    """The output: a dict becomes the tool call's JSON arguments; a str is sent as the raw arguments."""
    text: str | None = None
    """A plain text answer instead of a tool call."""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    """A raw response body, sent as is (overrides output and text)."""
    delay: float = 0.0
    drop: bool = False
    """Close the connection without an answer (a server going away mid-request)."""


@dataclass
class Received:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    """When it arrived (time.monotonic)."""
    usage: tuple[int, int] | None = None
    """(input, output) tokens billed in the answer's usage fields; None for an error or raw body."""
    abandoned: bool = False
    """The client closed the connection before the answer was sent (it gave up first: its timeout)."""


Responder = Callable[[dict[str, Any]], Reply]


def tool_name(body: dict[str, Any]) -> str:
    """The name of the (first) output tool declared in a request."""
    tool = body["tools"][0]
    return tool["function"]["name"] if "function" in tool else tool["name"]


def user_text(body: dict[str, Any]) -> str:
    """The first user message's text (the agent's rendered prompt)."""
    for message in body["messages"]:
        if message["role"] == "user":
            content = message["content"]
            if isinstance(content, str):
                return content
            return "".join(block.get("text", "") for block in content if isinstance(block, dict))
    raise KeyError("no user message")


def tokens(text: str) -> int:
    """The fake tokenizer: one token per four characters, at least one."""
    return max(1, len(text) // 4)


class FakeLLMServer:
    """A scripted model server on 127.0.0.1; use as a context manager or call start()/stop()."""

    def __init__(self, protocol: Protocol = "openai", responder: Responder | None = None) -> None:
        self.protocol = protocol
        self.responder = responder or (lambda body: Reply(text="no script"))
        self.received: list[Received] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    @property
    def url(self) -> str:
        """The base URL clients use (`/v1` included for OpenAI, as its SDK expects); kept after stop()."""
        assert self._port is not None, "server not started"
        root = f"http://127.0.0.1:{self._port}"
        return f"{root}/v1" if self.protocol == "openai" else root

    @property
    def count(self) -> int:
        """Model requests received so far."""
        with self._lock:
            return len(self.received)

    def billed(self) -> tuple[int, int]:
        """(input, output) tokens billed so far: the server's own count, summed over its answers."""
        with self._lock:
            usages = [r.usage for r in self.received if r.usage is not None]
        return sum(u[0] for u in usages), sum(u[1] for u in usages)

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with `replies`, in order."""
        with self._lock:
            self._script.extend(replies)

    def start(self) -> FakeLLMServer:
        """Bind an ephemeral port and serve in a daemon thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next(self, received: Received) -> Reply:
        with self._lock:
            self.received.append(received)
            scripted = self._script.popleft() if self._script else None
        return scripted or self.responder(received.body)

    def answer(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        """The protocol's response body for `reply`."""
        args = reply.output if isinstance(reply.output, str) else json.dumps(reply.output, ensure_ascii=False)
        used_in = tokens(json.dumps(body.get("messages", []), ensure_ascii=False))
        if self.protocol == "openai":
            return _openai_body(body, reply, args, used_in)
        return _anthropic_body(body, reply, used_in)


def _openai_body(body: dict[str, Any], reply: Reply, args: str, used_in: int) -> dict[str, Any]:
    if reply.text is not None:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text}
        finish, used_out = "stop", tokens(reply.text)
    else:
        call = {"id": "call_1", "type": "function", "function": {"name": tool_name(body), "arguments": args}}
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        finish, used_out = "tool_calls", tokens(args)
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": body["model"],
        "choices": [{"index": 0, "finish_reason": finish, "message": message}],
        "usage": {
            "prompt_tokens": used_in,
            "completion_tokens": used_out,
            "total_tokens": used_in + used_out,
        },
    }


def _anthropic_body(body: dict[str, Any], reply: Reply, used_in: int) -> dict[str, Any]:
    if reply.text is not None:
        content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}]
        stop, used_out = "end_turn", tokens(reply.text)
    else:
        payload = reply.output if isinstance(reply.output, dict) else {"raw": reply.output}
        content = [{"type": "tool_use", "id": "toolu_fake1", "name": tool_name(body), "input": payload}]
        stop, used_out = "tool_use", tokens(json.dumps(payload))
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": used_in, "output_tokens": used_out},
    }


def _anthropic_events(message: dict[str, Any]) -> bytes:
    """A complete answer as the messages API streams it (server-sent events)."""
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {"type": "message_start", "message": message | {"content": [], "stop_reason": None}},
        )
    ]
    for index, block in enumerate(message["content"]):
        if block["type"] == "tool_use":
            start = block | {"input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        else:
            start, delta = block | {"text": ""}, {"type": "text_delta", "text": block["text"]}
        events += [
            ("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}),
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    stop = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    usage = {"output_tokens": message["usage"]["output_tokens"]}
    events += [
        ("message_delta", {"type": "message_delta", "delta": stop, "usage": usage}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()


def _usage(answer: dict[str, Any]) -> tuple[int, int]:
    usage = answer["usage"]
    if "prompt_tokens" in usage:
        return usage["prompt_tokens"], usage["completion_tokens"]
    return usage["input_tokens"], usage["output_tokens"]


def _handler(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            headers = {k.lower(): v for k, v in self.headers.items()}
            received = Received(self.path, headers, body)
            reply = server._next(received)
            kind = "application/json"
            if reply.delay:
                time.sleep(reply.delay)
                if self._client_gone():
                    received.abandoned = True
                    self.close_connection = True
                    return
            if reply.drop:
                self.close_connection = True
                return
            if reply.body is not None:
                data = reply.body.encode()
            elif reply.status >= 400:
                error = {
                    "error": {"message": f"scripted HTTP {reply.status}", "type": "scripted", "code": None}
                }
                if server.protocol == "anthropic":
                    error = {
                        "type": "error",
                        "error": {"type": "scripted", "message": f"HTTP {reply.status}"},
                    }
                data = json.dumps(error).encode()
            else:
                answer = server.answer(body, reply)
                received.usage = _usage(answer)
                if body.get("stream") and server.protocol == "anthropic":
                    data, kind = _anthropic_events(answer), "text/event-stream"
                else:
                    data = json.dumps(answer).encode()
            try:
                self.send_response(reply.status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout, a delay)
                received.abandoned = True
                self.close_connection = True

        def _client_gone(self) -> bool:
            """True when the client closed the connection (a readable socket with nothing to read)."""
            try:
                readable, _, _ = select.select([self.connection], [], [], 0)
                return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

        def log_message(self, *args: object) -> None:
            pass

    return Handler
