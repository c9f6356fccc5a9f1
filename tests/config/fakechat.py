"""A Chat Completions server on 127.0.0.1 for real `mentra` processes: every request body is
recorded, every reply is one short streamed answer with usage."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1760000000,
        "model": "fake-1",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


REPLY = (
    _chunk({"role": "assistant", "content": ""})
    + _chunk({"content": "ok"})
    + _chunk({}, "stop", usage={"prompt_tokens": 100_000, "completion_tokens": 10})
    + b"data: [DONE]\n\n"
)


class FakeChat:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                fake.requests.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("content-length", str(len(REPLY)))
                self.end_headers()
                self.wfile.write(REPLY)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def provider_yaml(self, name: str = "fakechat", extra: str = "") -> str:
        return (
            f"providers:\n  {name}:\n    wire: openai-chat\n    base_url: {self.base_url}\n"
            f"    retries: {{max_attempts: 1}}\n{extra}"
        )


@pytest.fixture
def fakechat() -> Iterator[FakeChat]:
    fake = FakeChat()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
