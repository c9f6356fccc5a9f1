"""An MCP tool's image reaches the model as an image: a real `mentra run` whose model (a fake
server of each wire on 127.0.0.1) calls server-everything's `get-tiny-image`, then answers; the
second request must carry the PNG in the wire's own shape."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from providers.harness import Reply, TcpHarness

MENTRA = Path(sys.executable).parent / "mentra"
TOOL = "mcp__everything__get-tiny-image"
ANSWER = "A tiny logo."
PNG_B64 = "iVBORw0KGgo"  # how every base64 PNG starts


def _sse(events: list[dict[str, Any]], *, named: bool = False, done: bool = False) -> bytes:
    out = [
        (f"event: {e['type']}\n" if named else "") + f"data: {json.dumps(e)}\n\n" for e in events
    ]
    return "".join(out + (["data: [DONE]\n\n"] if done else [])).encode()


def anthropic(tool: bool) -> bytes:
    start = {"type": "message_start", "message": {"id": "m1", "model": "m", "usage": {}}}
    if tool:
        block = {"type": "tool_use", "id": "toolu_1", "name": TOOL, "input": {}}
        delta, stop = {"type": "input_json_delta", "partial_json": "{}"}, "tool_use"
    else:
        block = {"type": "text", "text": ""}
        delta, stop = {"type": "text_delta", "text": ANSWER}, "end_turn"
    return _sse(
        [
            start,
            {"type": "content_block_start", "index": 0, "content_block": block},
            {"type": "content_block_delta", "index": 0, "delta": delta},
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {}},
            {"type": "message_stop"},
        ],
        named=True,
    )


def responses(tool: bool) -> bytes:
    created = {"type": "response.created", "response": {"id": "r1", "model": "m"}}
    done = {"type": "response.completed", "response": {"id": "r1", "usage": {}}}
    if tool:
        item = {"type": "function_call", "id": "fc1", "call_id": "call_1", "name": TOOL}
        delta = {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": "{}"}
    else:
        item = {"type": "message", "id": "m1", "role": "assistant"}
        delta = {"type": "response.output_text.delta", "output_index": 0, "delta": ANSWER}
    added = {"type": "response.output_item.added", "output_index": 0, "item": item}
    finished = {"type": "response.output_item.done", "output_index": 0, "item": item}
    return _sse([created, added, delta, finished, done], named=True)


def chat(tool: bool) -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": [choice]}

    if tool:
        call = {"index": 0, "id": "call_1", "type": "function"}
        call["function"] = {"name": TOOL, "arguments": "{}"}
        return _sse([chunk({"tool_calls": [call]}), chunk({}, "tool_calls")], done=True)
    return _sse([chunk({"content": ANSWER}), chunk({}, "stop")], done=True)


def gemini(tool: bool) -> bytes:
    part = {"functionCall": {"name": TOOL, "args": {}}} if tool else {"text": ANSWER}
    content = {"role": "model", "parts": [part]}
    return _sse([{"candidates": [{"content": content, "finishReason": "STOP"}]}])


def anthropic_sent(body: dict[str, Any]) -> None:
    (result,) = [b for b in body["messages"][-1]["content"] if b["type"] == "tool_result"]
    kinds = [part["type"] for part in result["content"]]
    assert kinds == ["text", "image"]  # the placeholder text, then the image itself
    source = result["content"][1]["source"]
    assert source["type"] == "base64" and source["media_type"] == "image/png"
    assert source["data"].startswith(PNG_B64)


def responses_sent(body: dict[str, Any]) -> None:
    (out,) = [i for i in body["input"] if i.get("type") == "function_call_output"]
    assert [p["type"] for p in out["output"]] == ["input_text", "input_image"]
    assert out["output"][1]["image_url"].startswith("data:image/png;base64," + PNG_B64)


def chat_sent(body: dict[str, Any]) -> None:
    messages = body["messages"]
    tool_at = next(i for i, m in enumerate(messages) if m["role"] == "tool")
    assert isinstance(messages[tool_at]["content"], str)  # tool messages take text only
    follow = messages[tool_at + 1]
    assert follow["role"] == "user"
    urls = [p["image_url"]["url"] for p in follow["content"] if p["type"] == "image_url"]
    assert len(urls) == 1 and urls[0].startswith("data:image/png;base64," + PNG_B64)


def gemini_sent(body: dict[str, Any]) -> None:
    parts = body["contents"][-1]["parts"]
    assert "functionResponse" in parts[0]
    assert parts[1]["inlineData"]["mimeType"] == "image/png"
    assert parts[1]["inlineData"]["data"].startswith(PNG_B64)


Check = Callable[[dict[str, Any]], None]
WIRES: dict[str, tuple[Callable[[bool], bytes], str, str, str, Check]] = {
    "anthropic": (anthropic, "", "ANTHROPIC_API_KEY", "claude-haiku-4-5", anthropic_sent),
    "openai": (responses, "/v1", "OPENAI_API_KEY", "gpt-5-mini", responses_sent),
    "openrouter": (chat, "/api/v1", "OPENROUTER_API_KEY", "openai/gpt-4o-mini", chat_sent),
    "gemini": (gemini, "", "GEMINI_API_KEY", "gemini-2.5-flash", gemini_sent),
}


@pytest.fixture
async def tcp() -> AsyncIterator[TcpHarness]:
    server = TcpHarness()
    await server.start()
    yield server
    await server.stop()


@pytest.mark.parametrize("provider", list(WIRES))
async def test_an_mcp_image_result_reaches_the_model_as_an_image(
    tcp: TcpHarness, tmp_path: Path, everything_js: str, provider: str
) -> None:
    build, suffix, key_env, model, sent = WIRES[provider]
    sse = {"content-type": "text/event-stream"}
    tcp.queue(Reply(body=build(True), headers=sse), Reply(body=build(False), headers=sse))
    config = tmp_path / "agent.yaml"
    config.write_text(
        json.dumps(
            {
                "providers": {provider: {"base_url": f"{tcp.base_url}{suffix}"}},
                "mcp_servers": {"everything": {"command": "node", "args": [everything_js]}},
                "permissions": {"mode": "bypass"},
            }
        )
    )
    proc = await asyncio.create_subprocess_exec(
        str(MENTRA),
        *("run", "-c", str(config), "-m", f"{provider}:{model}", "-C", str(tmp_path)),
        *("--ephemeral", "--no-user-config", "Show me the logo."),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env={**os.environ, key_env: "dummy-key-for-tests"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=90)
    events = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert events and events[-1]["type"] == "run_finished", err.decode()
    assert events[-1]["status"] == "success", (events[-1], err.decode())
    done = next(e for e in events if e["type"] == "tool_completed")
    assert done["name"] == TOOL and not done["is_error"]
    assert "[image: image/png" in done["output"]  # events keep the text, not the bytes
    assert PNG_B64 not in out.decode()
    assert len(tcp.requests) == 2
    sent(json.loads(tcp.requests[1].body))
