"""Compaction from Python on the Anthropic wire over `httpx.MockTransport`: a registered tool
fills the context, the summary request goes without tools, the stored marker survives a
resume in a new runtime, and the caching breakpoints stay valid after the compaction."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import BaseModel

import mentra
from mentra.providers.registry import ProviderSettings, create_provider

KEY_ENV = "MENTRA_TEST_ANTHROPIC_KEY"


def _sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def _start(n: int) -> dict[str, Any]:
    usage = {"input_tokens": 100, "output_tokens": 1}
    message = {"id": f"msg_{n}", "type": "message", "role": "assistant", "content": []}
    return {"type": "message_start", "message": {**message, "model": "claude-x", "usage": usage}}


def _end(reason: str) -> list[dict[str, Any]]:
    return [
        {"type": "message_delta", "delta": {"stop_reason": reason}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ]


def tool_use(n: int, name: str, args: dict[str, Any]) -> bytes:
    block = {"type": "tool_use", "id": f"toolu_{n}", "name": name, "input": {}}
    return _sse(
        _start(n),
        {"type": "content_block_start", "index": 0, "content_block": block},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": json.dumps(args)},
        },
        {"type": "content_block_stop", "index": 0},
        *_end("tool_use"),
    )


def text(n: int, body: str) -> bytes:
    return _sse(
        _start(n),
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": body}},
        {"type": "content_block_stop", "index": 0},
        *_end("end_turn"),
    )


class LogArgs(BaseModel):
    n: int


class ReadLog(mentra.ArgsTool[LogArgs]):
    name: ClassVar[str] = "read_log"
    description: ClassVar[str] = "Read log N."
    Args = LogArgs

    async def run(self, args: LogArgs, ctx: mentra.ToolContext) -> mentra.ToolResult:
        return mentra.ToolResult(f"LOG{args.n}-MARK " + "x" * 4000)


class Wire:
    def __init__(self) -> None:
        self.turns: list[dict[str, Any]] = []
        self.summaries: list[dict[str, Any]] = []
        self.replies: list[bytes] = []

    def client(self) -> httpx.AsyncClient:
        def handle(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content)
            if body.get("tools"):
                self.turns.append(body)
                reply = self.replies.pop(0)
            else:
                self.summaries.append(body)
                reply = text(0, json.dumps({"goal": "read logs", "progress": "two read"}))
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=reply)

        return httpx.AsyncClient(transport=httpx.MockTransport(handle))


def _runtime(tmp_path: Path, wire: Wire) -> mentra.Runtime:
    settings = ProviderSettings(wire="anthropic", base_url="http://mock.test", api_key_env=KEY_ENV)
    provider = create_provider("anthropic", settings, client=wire.client())
    store = mentra.open_store(tmp_path / "s.sqlite")
    runtime = mentra.Runtime.builder(tmp_path).store(store, str(tmp_path / "s.sqlite")).build()
    runtime.register_tool(ReadLog())
    runtime.register_provider_instance(provider)
    return runtime


async def _events(session: mentra.Session, prompt: str) -> list[Any]:
    return [e async for e in session.run(prompt)]


def _breakpoints(body: dict[str, Any]) -> int:
    return json.dumps(body).count('"cache_control"')


def test_compaction_on_the_anthropic_wire_from_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-ant-test")
    wire = Wire()
    wire.replies = [tool_use(1, "read_log", {"n": 1}), tool_use(2, "read_log", {"n": 2})]
    wire.replies += [tool_use(3, "read_log", {"n": 3}), text(4, "three read")]
    config = mentra.AgentConfig.model_validate(
        {"context": {"compact_threshold_tokens": 2500}, "memory": {"enabled": False}}
    )
    runtime = _runtime(tmp_path, wire)
    agent = runtime.spawn_with_config("a", "anthropic:claude-sonnet-4-5", config)
    events = asyncio.run(_events(mentra.Session(agent), "read the logs"))
    types = [e.type for e in events]
    assert types[-1] == "run_finished" and events[-1].status == "success"
    assert "compaction_completed" in types
    (ask,) = wire.summaries
    assert "tools" not in ask and ask["max_tokens"] == 2000
    assert _breakpoints(ask) == 0  # a one-off prompt: no cache write
    after = json.dumps(wire.turns[3])
    assert "[Compaction summary]\\nGoal: read logs" in after and "LOG1-MARK" not in after
    assert 1 <= _breakpoints(wire.turns[3]) <= 4  # the caching breakpoints are still placed
    assert agent.context is not None and len(agent.history) == 8  # every message is kept

    # a new runtime resumes from the marker
    runtime.close()
    wire.replies = [text(5, "again")]
    again = _runtime(tmp_path, wire)
    resumed = again.resume_agent(agent.id)
    assert resumed.context is not None and resumed.context.start == 7
    events = asyncio.run(_events(mentra.Session(resumed, resumed=True), "more"))
    assert events[-1].final_text == "again"
    sent = json.dumps(wire.turns[-1])
    assert "[Compaction summary]" in sent and "LOG1-MARK" not in sent and "LOG3-MARK" in sent
    again.close()
