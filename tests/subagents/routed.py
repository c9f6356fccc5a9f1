"""A Chat Completions server on 127.0.0.1 that answers by
route: the first user message of a request names the conversation (the parent's prompt, or a
child's delegated prompt), the number of assistant messages in it is the round, so parent and
children that run at the same time each get their own script, in order."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["chat"]

USAGE = {"prompt_tokens": 10, "completion_tokens": 2}


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    body = {
        "id": "chatcmpl-sub",
        "object": "chat.completion.chunk",
        "created": 1760000000,
        "model": "fake-1",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def calls(*named: tuple[str, dict[str, Any]]) -> bytes:
    """A reply that calls these tools, in one assistant message."""
    tool_calls = [
        {
            "index": i,
            "id": f"call_{i}_{name}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }
        for i, (name, args) in enumerate(named)
    ]
    return (
        _chunk({"role": "assistant", "content": None, "tool_calls": tool_calls})
        + _chunk({}, "tool_calls", usage=USAGE)
        + b"data: [DONE]\n\n"
    )


def text(answer: str) -> bytes:
    return (
        _chunk({"role": "assistant", "content": answer})
        + _chunk({}, "stop", usage=USAGE)
        + b"data: [DONE]\n\n"
    )


def last_tool_result(body: dict[str, Any]) -> str:
    tools = [m for m in body["messages"] if m["role"] == "tool"]
    return str(tools[-1]["content"]) if tools else ""


Reply = bytes | Callable[[dict[str, Any]], bytes]


@dataclass
class Route:
    replies: list[Reply]
    delay_s: float = 0.0  # before every reply of this route
    status: int = 200


@dataclass
class RoutedChat:
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""

    def route(
        self, first_user: str, *replies: Reply, delay_s: float = 0.0, status: int = 200
    ) -> None:
        self.routes[first_user] = Route(list(replies), delay_s, status)

    def requests_of(self, first_user: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if first_user_text(r) == first_user]

    def answer(self, body: dict[str, Any]) -> tuple[int, bytes, float]:
        route = self.routes.get(first_user_text(body))
        if route is None:
            return 200, text("unrouted"), 0.0
        if route.status != 200:
            return route.status, json.dumps({"error": {"message": "refused"}}).encode(), 0.0
        n = sum(1 for m in body["messages"] if m["role"] == "assistant")
        reply = route.replies[min(n, len(route.replies) - 1)]
        return 200, reply(body) if callable(reply) else reply, route.delay_s

    def provider_yaml(self) -> str:
        return (
            f"providers:\n  fake:\n    wire: openai-chat\n    base_url: {self.base_url}\n"
            "    retries: {max_attempts: 1}\n"
        )


def first_user_text(body: dict[str, Any]) -> str:
    for m in body.get("messages", []):
        if m["role"] == "user":
            content = m["content"]
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content)
    return ""


@pytest.fixture
def chat() -> Iterator[RoutedChat]:
    fake = RoutedChat()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            fake.requests.append(body)
            status, data, delay = fake.answer(body)
            time.sleep(delay)
            self.send_response(status)
            self.send_header(
                "content-type", "text/event-stream" if status == 200 else "application/json"
            )
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
