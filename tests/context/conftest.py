"""A Chat Completions server on 127.0.0.1 for real `mentra` processes that tells a turn
request (it offers tools) from a compaction summary request (no tools) and answers each from
its own queue; every request body is kept."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import mentra
from tests.hooks.conftest import text_reply, tool_call_reply

__all__ = ["mentra", "text_reply", "tool_call_reply"]

SUMMARY = {
    "goal": "read the three logs",
    "progress": ["log1 and log2 read"],
    "decisions": [],
    "constraints": [],
    "delegated_work": [],
    "artifacts": ["log1.txt"],
    "open_questions": [],
    "next_steps": ["read log3"],
}


class ContextChat:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []  # turn requests (with tools)
        self.summary_requests: list[dict[str, Any]] = []
        self.replies: list[bytes] = []
        self.summary_replies: list[tuple[int, bytes]] = []  # (status, body); last one repeats
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                status, reply = 200, b""
                if body.get("tools"):
                    fake.requests.append(body)
                    reply = fake.replies.pop(0) if fake.replies else text_reply("done")
                else:
                    fake.summary_requests.append(body)
                    if fake.summary_replies:
                        queue = fake.summary_replies
                        status, reply = queue.pop(0) if len(queue) > 1 else queue[0]
                    else:
                        reply = text_reply(json.dumps(SUMMARY))
                self.send_response(status)
                kind = "text/event-stream" if status == 200 else "application/json"
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def config(self, context: str = "", extra: str = "") -> str:
        return (
            f"name: ctx\n{context}{extra}"
            f"providers:\n  fakechat:\n    wire: openai-chat\n    base_url: {self.base_url}\n"
            "    retries: {max_attempts: 1, base_delay: 0.01}\n"
        )


@pytest.fixture
def chat() -> Iterator[ContextChat]:
    fake = ContextChat()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path
