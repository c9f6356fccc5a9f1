"""Real `mentra` processes with real hook scripts, and a Chat Completions server on 127.0.0.1
whose replies are queued (a tool call, then an answer) and whose request bodies are kept."""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import mentra

__all__ = ["mentra"]


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-hooks",
        "object": "chat.completion.chunk",
        "created": 1760000000,
        "model": "fake-1",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def tool_call_reply(name: str, arguments: dict[str, Any], call_id: str = "call_a") -> bytes:
    call = {
        "index": 0,
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }
    return (
        _chunk({"role": "assistant", "content": None, "tool_calls": [call]})
        + _chunk({}, "tool_calls")
        + b"data: [DONE]\n\n"
    )


def text_reply(text: str) -> bytes:
    return _chunk({"role": "assistant", "content": text}) + _chunk({}, "stop") + b"data: [DONE]\n\n"


class ToolChat:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.replies: list[bytes] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                fake.requests.append(json.loads(self.rfile.read(length) or b"{}"))
                body = fake.replies.pop(0) if fake.replies else text_reply("done")
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def provider_yaml(self) -> str:
        return (
            f"providers:\n  fakechat:\n    wire: openai-chat\n    base_url: {self.base_url}\n"
            "    retries: {max_attempts: 1}\n"
        )


@pytest.fixture
def toolchat() -> Iterator[ToolChat]:
    fake = ToolChat()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace folder for one test."""
    path = tmp_path / "ws"
    path.mkdir()
    return path


def write_hook(folder: Path, name: str, body: str) -> Path:
    """A Python hook script (``body`` reads ``event``, the JSON object on stdin)."""
    path = folder / name
    path.write_text(
        f"#!{sys.executable}\nimport json, os, sys\nevent = json.load(sys.stdin)\n{body}\n",
        encoding="utf-8",
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    if status.exists():  # a zombie waiting for its parent is not running
        return status.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    return True
