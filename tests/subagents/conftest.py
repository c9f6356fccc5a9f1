"""A Chat Completions server on 127.0.0.1 that serves a parent and its subagents at once.

The queue of `tests/hooks/conftest.py` cannot tell concurrent children apart, so replies here
are chosen by the request itself: the first user message (the run's prompt) names a script,
and the number of assistant messages already in the history picks its reply, as the scripted
provider does. A reply may wait first (``delay``) and may quote the last tool result back
(``{result}``), so a parent's answer shows what its child really said."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.cli.conftest import mentra
from tests.config.fakechat import _chunk

__all__ = ["mentra"]

USAGE = {"prompt_tokens": 100, "completion_tokens": 10}
PRICES = "    prices:\n      fake-1: {input: 1.0, output: 2.0}\n"


@dataclass
class Reply:
    text: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    delay: float = 0.0
    status: int = 200  # not 200: an error body with this status


def calls(*pairs: tuple[str, dict[str, Any]], delay: float = 0.0) -> Reply:
    return Reply(calls=list(pairs), delay=delay)


def _body(reply: Reply, result: str) -> bytes:
    if reply.calls:
        tool_calls = [
            {
                "index": i,
                "id": f"call_{i}_{time.monotonic_ns()}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for i, (name, args) in enumerate(reply.calls)
        ]
        return (
            _chunk({"role": "assistant", "content": reply.text or None, "tool_calls": tool_calls})
            + _chunk({}, "tool_calls", usage=USAGE)
            + b"data: [DONE]\n\n"
        )
    text = reply.text.replace("{result}", result)
    return (
        _chunk({"role": "assistant", "content": text})
        + _chunk({}, "stop", usage=USAGE)
        + b"data: [DONE]\n\n"
    )


class RoutedChat:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.scripts: dict[str, list[Reply]] = {}
        self.log: list[tuple[str, float, float]] = []  # (prompt, started, ended) per request
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                started = time.monotonic()
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(body)
                messages = body.get("messages", [])
                prompt = next((str(m["content"]) for m in messages if m["role"] == "user"), "")
                turn = sum(1 for m in messages if m["role"] == "assistant")
                tools = [m for m in messages if m["role"] == "tool"]
                result = str(tools[-1]["content"]) if tools else ""
                script = next((s for k, s in fake.scripts.items() if k in prompt), None)
                reply = script[turn] if script and turn < len(script) else Reply("done")
                time.sleep(reply.delay)
                if reply.status != 200:
                    data = json.dumps({"error": {"message": f"status {reply.status}"}}).encode()
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                else:
                    data = _body(reply, result)
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                fake.log.append((prompt, started, time.monotonic()))

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def config(self, extra: str = "") -> str:
        return (
            "model: fake:fake-1\nsystem: You are the parent.\nproviders:\n  fake:\n"
            f"    wire: openai-chat\n    base_url: {self.base_url}\n"
            f"    retries: {{max_attempts: 1}}\n{PRICES}{extra}"
        )

    def requests_for(self, prompt: str) -> list[dict[str, Any]]:
        return [
            r
            for r in self.requests
            if any(m["role"] == "user" and prompt in str(m["content"]) for m in r["messages"])
        ]


@pytest.fixture
def chat() -> Iterator[RoutedChat]:
    fake = RoutedChat()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
