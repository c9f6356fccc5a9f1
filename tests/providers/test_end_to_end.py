"""A real `mentra run` process against a fake server of each wire on 127.0.0.1: one tool round
trip (the builtin read-only `files` tool), then the answer; the JSONL ends in success."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from providers.harness import Reply, TcpHarness

MENTRA = Path(sys.executable).parent / "mentra"
ARGS = {"operations": [{"op": "read", "path": "x.txt"}]}
ANSWER = "The file says hello."


def _sse(events: list[Any], *, named: bool = False, done: bool = False) -> bytes:
    out = []
    for e in events:
        head = f"event: {e['type']}\n" if named else ""
        out.append(f"{head}data: {json.dumps(e)}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def chat(tool: bool) -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    usage = {"id": "c1", "choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 9}}
    if tool:
        call = {"index": 0, "id": "call_1", "type": "function"}
        return _sse(
            [
                chunk(
                    {"role": "assistant", "tool_calls": [{**call, "function": {"name": "files"}}]}
                ),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": json.dumps(ARGS)}}]}),
                chunk({}, "tool_calls"),
                usage,
            ],
            done=True,
        )
    return _sse([chunk({"content": ANSWER}), chunk({}, "stop"), usage], done=True)


def responses(tool: bool) -> bytes:
    created = {"type": "response.created", "response": {"id": "r1", "model": "m"}}
    usage = {"input_tokens": 50, "output_tokens": 9}
    done = {"type": "response.completed", "response": {"id": "r1", "usage": usage}}
    if tool:
        item = {"type": "function_call", "id": "fc1", "call_id": "call_1", "name": "files"}
        return _sse(
            [
                created,
                {"type": "response.output_item.added", "output_index": 0, "item": item},
                {
                    "type": "response.function_call_arguments.delta",
                    "output_index": 0,
                    "delta": json.dumps(ARGS),
                },
                {"type": "response.output_item.done", "output_index": 0, "item": item},
                done,
            ],
            named=True,
        )
    msg = {"type": "message", "id": "m1", "role": "assistant"}
    return _sse(
        [
            created,
            {"type": "response.output_item.added", "output_index": 0, "item": msg},
            {"type": "response.output_text.delta", "output_index": 0, "delta": ANSWER},
            {"type": "response.output_item.done", "output_index": 0, "item": msg},
            done,
        ],
        named=True,
    )


def anthropic(tool: bool) -> bytes:
    start = {
        "type": "message_start",
        "message": {"id": "msg_1", "model": "m", "usage": {"input_tokens": 50, "output_tokens": 1}},
    }
    if tool:
        block = {"type": "tool_use", "id": "toolu_1", "name": "files", "input": {}}
        delta = {"type": "input_json_delta", "partial_json": json.dumps(ARGS)}
        stop = "tool_use"
    else:
        block = {"type": "text", "text": ""}
        delta = {"type": "text_delta", "text": ANSWER}
        stop = "end_turn"
    return _sse(
        [
            start,
            {"type": "content_block_start", "index": 0, "content_block": block},
            {"type": "content_block_delta", "index": 0, "delta": delta},
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop},
                "usage": {"output_tokens": 9},
            },
            {"type": "message_stop"},
        ],
        named=True,
    )


def gemini(tool: bool) -> bytes:
    part = {"functionCall": {"name": "files", "args": ARGS}} if tool else {"text": ANSWER}
    usage = {"promptTokenCount": 50, "candidatesTokenCount": 9}
    return _sse(
        [
            {
                "candidates": [
                    {"content": {"role": "model", "parts": [part]}, "finishReason": "STOP"}
                ],
                "usageMetadata": usage,
            }
        ]
    )


WIRES = {
    # provider: (builder, base_url suffix, key variable, model)
    "openai": (responses, "/v1", "OPENAI_API_KEY", "gpt-5-mini"),
    "openrouter": (chat, "/api/v1", "OPENROUTER_API_KEY", "openai/gpt-4o-mini"),
    "anthropic": (anthropic, "", "ANTHROPIC_API_KEY", "claude-haiku-4-5"),
    "gemini": (gemini, "", "GEMINI_API_KEY", "gemini-2.5-flash"),
}


@pytest.mark.parametrize("provider", list(WIRES))
async def test_mentra_run_with_a_tool_round_trip(
    tcp: TcpHarness, tmp_path: Path, provider: str
) -> None:
    build, suffix, key_env, model = WIRES[provider]
    ctype = {"content-type": "text/event-stream"}
    tcp.queue(Reply(body=build(True), headers=ctype), Reply(body=build(False), headers=ctype))
    (tmp_path / "x.txt").write_text("hello from x\n")
    config = tmp_path / "agent.yaml"
    config.write_text(
        f'providers:\n  {provider}:\n    base_url: "{tcp.base_url}{suffix}"\n'
        "    timeouts: {connect: 5s, idle: 10s}\n"
    )
    env = {**os.environ, key_env: "dummy-key-for-tests"}
    proc = await asyncio.create_subprocess_exec(
        str(MENTRA),
        "run",
        "-c",
        str(config),
        "-m",
        f"{provider}:{model}",
        "-C",
        str(tmp_path),
        "--ephemeral",
        "--no-user-config",
        "Read x.txt and tell me what it says.",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    events = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert events, err.decode()
    last = events[-1]
    assert last["type"] == "run_finished", err.decode()
    assert last["status"] == "success", (last, err.decode())
    assert proc.returncode == 0
    assert last["final_text"] == ANSWER
    assert last["tool_calls"] == 1
    types = [e["type"] for e in events]
    assert "tool_completed" in types
    assert last["usage"]["input_tokens"] == 100
    assert last["cost_usd"] is not None and last["cost_usd"] > 0  # priced from the shipped table
    # the second request carried the tool's output back in the wire's own shape
    assert len(tcp.requests) == 2
    assert "hello from x" in tcp.requests[1].body.decode()
    assert "dummy-key-for-tests" not in out.decode()


PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63fccfc0500f0004850180848a8c21"
    "0000000049454e44ae426082"
)


@pytest.mark.parametrize("provider", list(WIRES))
async def test_mentra_run_sends_an_attached_image(
    tcp: TcpHarness, tmp_path: Path, provider: str
) -> None:
    build, suffix, key_env, model = WIRES[provider]
    tcp.queue(Reply(body=build(False), headers={"content-type": "text/event-stream"}))
    (tmp_path / "pixel.png").write_bytes(PIXEL_PNG)
    config = tmp_path / "agent.yaml"
    config.write_text(f'providers:\n  {provider}:\n    base_url: "{tcp.base_url}{suffix}"\n')
    proc = await asyncio.create_subprocess_exec(
        str(MENTRA),
        "run",
        "-c",
        str(config),
        "-m",
        f"{provider}:{model}",
        "--ephemeral",
        "--no-user-config",
        "--image",
        "pixel.png",
        "What colour is this pixel?",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        cwd=tmp_path,
        env={**os.environ, key_env: "dummy-key-for-tests"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    events = [json.loads(line) for line in out.decode().splitlines()]
    assert events[1]["type"] == "user_message" and events[1]["images"] == 1
    body = tcp.requests[0].body.decode()
    assert base64.b64encode(PIXEL_PNG).decode() in body  # the image went inline, in base64
    assert "image/png" in body
