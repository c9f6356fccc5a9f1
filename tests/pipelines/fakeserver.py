"""A Chat Completions server on 127.0.0.1 for the pipeline tests: it records every request
body and answers by rule — an HTTP status per model (529 for an overloaded one), a 400 for a
turn whose text asks for it, else a streamed ``answer N`` (N counts the answers)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.config.fakechat import _chunk


def reply(text: str) -> bytes:
    return (
        _chunk({"role": "assistant", "content": ""})
        + _chunk({"content": text})
        + _chunk({}, "stop", usage={"prompt_tokens": 10, "completion_tokens": 2})
        + b"data: [DONE]\n\n"
    )


class RuleServer:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status_by_model: dict[str, int] = {}
        self.answers = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(body)
                status = fake.status_by_model.get(body.get("model", ""), 200)
                last = body["messages"][-1]["content"] if body.get("messages") else ""
                if status == 200 and "PLEASE FAIL" in str(last):
                    status = 400
                if status != 200:
                    data = json.dumps({"error": {"message": f"status {status}"}}).encode()
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                else:
                    fake.answers += 1
                    data = reply(f"answer {fake.answers}")
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def config(self, model: str = "fake:model-a", extra: str = "") -> str:
        return (
            f"model: {model}\nsystem: be brief\nproviders:\n  fake:\n    wire: openai-chat\n"
            f"    base_url: {self.base_url}\n    retries: {{max_attempts: 1}}\n{extra}"
        )


@pytest.fixture
def rules() -> Iterator[RuleServer]:
    fake = RuleServer()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
