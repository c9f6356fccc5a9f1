"""Prompt caching end to end: real `mentra` processes in a tool loop against a fake server on
127.0.0.1, the request bodies it receives compared one with the next.

Anthropic: 1-4 ``cache_control`` breakpoints, the last on the newest message, and each
request's cached prefix is the start of the next request (with a breakpoint where the previous
one ended, so the hit does not depend on the API's 20-block look-back). OpenAI Responses: the
same ``prompt_cache_key`` on every request of an agent (a hash, never the id), across a resume,
and a prefix that is byte-for-byte the previous request. ``model_options.prompt_cache: false``
removes both. Cached and cache-write tokens reach ``run_finished.usage`` and ``cost_usd`` on
every wire, priced from the shipped table.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from mentra.messages import Message, ToolResultBlock, ToolUseBlock
from mentra.providers.anthropic import cache_breakpoints, mark_last_block
from providers.harness import Reply, TcpHarness
from providers.typed_check import check

MENTRA = Path(sys.executable).parent / "mentra"
SSE = {"content-type": "text/event-stream"}
RECORDED = Path(__file__).parent.parent / "fixtures" / "sse" / "anthropic" / "recorded"
ROUNDS = 3  # tool rounds before the answer
ANSWER = "All three files read."


def _sse(events: list[dict[str, Any]], *, named: bool = False, done: bool = False) -> bytes:
    out = [
        (f"event: {e['type']}\n" if named else "") + f"data: {json.dumps(e)}\n\n" for e in events
    ]
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def _args(k: int) -> dict[str, Any]:
    return {"operations": [{"op": "read", "path": f"part{k}.txt"}]}


# -- one reply per wire: round k < ROUNDS reads part{k}.txt, then the answer; usage with cache ----

CACHE = {"uncached": 10, "read": 3000, "write": 500, "output": 9}


def anthropic_reply(k: int, cache: dict[str, int] = CACHE) -> bytes:
    start = {
        "type": "message_start",
        "message": {
            "id": f"msg_{k}",
            "model": "claude-sonnet-4-5",
            "usage": {
                "input_tokens": cache["uncached"],
                "cache_read_input_tokens": cache["read"],
                "cache_creation_input_tokens": cache["write"],
                "output_tokens": 1,
            },
        },
    }
    if k < ROUNDS:
        block = {"type": "tool_use", "id": f"toolu_{k}", "name": "files", "input": {}}
        delta = {"type": "input_json_delta", "partial_json": json.dumps(_args(k))}
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
                "usage": {"output_tokens": cache["output"]},
            },
            {"type": "message_stop"},
        ],
        named=True,
    )


def responses_reply(k: int) -> bytes:
    usage = {
        "input_tokens": CACHE["uncached"] + CACHE["read"],  # the whole prompt, cached included
        "input_tokens_details": {"cached_tokens": CACHE["read"]},
        "output_tokens": CACHE["output"],
    }
    created = {"type": "response.created", "response": {"id": f"r{k}", "model": "gpt-5-mini"}}
    done = {"type": "response.completed", "response": {"id": f"r{k}", "usage": usage}}
    if k < ROUNDS:
        item = {"type": "function_call", "id": f"fc{k}", "call_id": f"call_{k}", "name": "files"}
        events = [
            {"type": "response.output_item.added", "output_index": 0, "item": item},
            {
                "type": "response.function_call_arguments.delta",
                "output_index": 0,
                "delta": json.dumps(_args(k)),
            },
            {"type": "response.output_item.done", "output_index": 0, "item": item},
        ]
    else:
        msg = {"type": "message", "id": f"m{k}", "role": "assistant"}
        events = [
            {"type": "response.output_item.added", "output_index": 0, "item": msg},
            {"type": "response.output_text.delta", "output_index": 0, "delta": ANSWER},
            {"type": "response.output_item.done", "output_index": 0, "item": msg},
        ]
    return _sse([created, *events, done], named=True)


def chat_reply(k: int) -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {"id": f"c{k}", "object": "chat.completion.chunk", "model": "m", "choices": [choice]}

    usage = {
        "id": f"c{k}",
        "choices": [],
        "usage": {
            "prompt_tokens": CACHE["uncached"] + CACHE["read"],
            "completion_tokens": CACHE["output"],
            "prompt_tokens_details": {"cached_tokens": CACHE["read"]},
        },
    }
    if k < ROUNDS:
        call = {"index": 0, "id": f"call_{k}", "type": "function", "function": {"name": "files"}}
        args = {"index": 0, "function": {"arguments": json.dumps(_args(k))}}
        chunks = [
            chunk({"role": "assistant", "tool_calls": [call]}),
            chunk({"tool_calls": [args]}),
            chunk({}, "tool_calls"),
        ]
    else:
        chunks = [chunk({"content": ANSWER}), chunk({}, "stop")]
    return _sse([*chunks, usage], done=True)


def gemini_reply(k: int) -> bytes:
    part = {"functionCall": {"name": "files", "args": _args(k)}} if k < ROUNDS else {"text": ANSWER}
    usage = {  # promptTokenCount is the whole prompt, cachedContentTokenCount included
        "promptTokenCount": CACHE["uncached"] + CACHE["read"],
        "cachedContentTokenCount": CACHE["read"],
        "candidatesTokenCount": CACHE["output"],
    }
    candidate = {"content": {"role": "model", "parts": [part]}, "finishReason": "STOP"}
    return _sse([{"candidates": [candidate], "usageMetadata": usage}])


WIRES = {
    # provider: (reply builder, base_url suffix, key variable, model, USD per Mtok: in, cached,
    # cache write, out — the vendors' published rates, as the shipped table must hold them)
    "anthropic": (
        anthropic_reply,
        "",
        "ANTHROPIC_API_KEY",
        "claude-sonnet-4-5",
        (3.0, 0.30, 3.75, 15.0),
    ),
    "openai": (responses_reply, "/v1", "OPENAI_API_KEY", "gpt-5-mini", (0.25, 0.025, 0, 2.0)),
    "openrouter": (
        chat_reply,
        "/api/v1",
        "OPENROUTER_API_KEY",
        "openai/gpt-4o-mini",
        (0.15, 0.075, 0, 0.6),
    ),
    "gemini": (gemini_reply, "", "GEMINI_API_KEY", "gemini-2.5-flash", (0.30, 0.03, 0, 2.5)),
}


async def run_mentra(
    tcp: TcpHarness,
    tmp_path: Path,
    provider: str,
    *args: str,
    extra_config: str = "",
    replies: list[bytes] | None = None,
    command: tuple[str, ...] = ("run",),
) -> list[dict[str, Any]]:
    """One `mentra` process (``run`` unless told) against ``tcp``; its JSONL events."""
    build, suffix, key_env, model, _ = WIRES[provider]
    tcp.queue(*(Reply(body=b, headers=SSE) for b in (replies or [build(k) for k in range(4)])))
    for k in range(ROUNDS):
        (tmp_path / f"part{k}.txt").write_text(f"part {k}: " + "log line\n" * 40)
    config = tmp_path / "agent.yaml"
    config.write_text(
        f'providers:\n  {provider}:\n    base_url: "{tcp.base_url}{suffix}"\n'
        "    timeouts: {connect: 5s, idle: 10s}\n" + extra_config
    )
    env = {**os.environ, key_env: "dummy-key-for-tests"}
    proc = await asyncio.create_subprocess_exec(
        str(MENTRA),
        *command,
        "-c",
        str(config),
        "-m",
        f"{provider}:{model}",
        "-C",
        str(tmp_path),
        "--no-user-config",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=90)
    events = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert events and events[-1]["type"] == "run_finished", err.decode()
    assert events[-1]["status"] == "success", (events[-1], err.decode())
    assert proc.returncode == 0
    return events


PROMPT = "Read part0.txt, part1.txt and part2.txt."


# -- Anthropic: breakpoints ------------------------------------------------------------------


def flat_blocks(body: dict[str, Any]) -> tuple[list[str], list[int]]:
    """The request as the cache sees it: tools, system blocks, then every message's blocks,
    in order, each without its ``cache_control``; and the indexes that carried one."""
    blocks: list[tuple[str, dict[str, Any]]] = [("tool", t) for t in body.get("tools", [])]
    system = body.get("system")
    if isinstance(system, str):
        blocks.append(("system", {"type": "text", "text": system}))
    elif system:
        blocks.extend(("system", b) for b in system)
    for i, message in enumerate(body["messages"]):
        content = message["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        blocks.extend((f"{i}:{message['role']}", b) for b in content)
    flat, marks = [], []
    for n, (where, block) in enumerate(blocks):
        if "cache_control" in block:
            assert block["cache_control"] == {"type": "ephemeral"}
            marks.append(n)
        stripped = {k: v for k, v in block.items() if k != "cache_control"}
        flat.append(where + json.dumps(stripped, sort_keys=True))
    return flat, marks


async def test_anthropic_breakpoints_make_each_cached_prefix_the_start_of_the_next(
    tcp: TcpHarness, tmp_path: Path
) -> None:
    from anthropic.types.message_create_params import MessageCreateParamsStreaming

    await run_mentra(tcp, tmp_path, "anthropic", "--ephemeral", "--system", "Be terse.", PROMPT)
    bodies = [r.json() for r in tcp.requests]
    assert len(bodies) == ROUNDS + 1
    previous: tuple[list[str], list[int]] | None = None
    for body in bodies:
        check(body, MessageCreateParamsStreaming)  # the official SDK's request type accepts it
        flat, marks = flat_blocks(body)
        assert 1 <= len(marks) <= 4, marks
        assert marks[-1] == len(flat) - 1  # the last breakpoint is on the newest message's end
        assert body["tools"][-1].get("cache_control")  # tools and system: the stable head
        assert body["system"][-1].get("cache_control")
        if previous is not None:
            prev_flat, prev_marks = previous
            end = prev_marks[-1] + 1
            assert flat[:end] == prev_flat[:end]  # the cached prefix is the start of this one
            assert prev_marks[-1] in marks  # and a breakpoint sits where the last one ended
        previous = flat, marks
    assert len(bodies[-1]["messages"]) == 2 * ROUNDS + 1


async def test_prompt_cache_false_removes_breakpoints_and_cache_key(
    tcp: TcpHarness, tmp_path: Path
) -> None:
    off = "model_options:\n  prompt_cache: false\n"
    await run_mentra(
        tcp, tmp_path, "anthropic", "--ephemeral", "--system", "Be terse.", PROMPT, extra_config=off
    )
    assert len(tcp.requests) == ROUNDS + 1
    for request in tcp.requests:
        assert b"cache_control" not in request.body
        assert isinstance(request.json()["system"], str)
    tcp.requests.clear()
    replies = [responses_reply(k) for k in range(4)]
    await run_mentra(
        tcp, tmp_path, "openai", "--ephemeral", PROMPT, extra_config=off, replies=replies
    )
    assert len(tcp.requests) == ROUNDS + 1
    assert all(b"prompt_cache_key" not in r.body for r in tcp.requests)


def test_breakpoints_follow_the_request_not_state() -> None:
    """Placed from the messages given: after a compaction rewrote the history they sit on its
    new end and on the turn before it; a one-message history gets one."""
    user = Message.user_text
    reply = Message(role="assistant", content=[ToolUseBlock(id="t1", name="files")])
    results = Message(role="user", content=[ToolResultBlock(tool_use_id="t1", content="x")])
    assert cache_breakpoints([]) == ()
    assert cache_breakpoints([user("hi")]) == (0,)
    loop = [user("hi"), reply, results, reply, results]
    assert cache_breakpoints(loop) == (2, 4)
    compacted = [user("[Compaction summary]\nGoal: g"), reply, results]
    assert cache_breakpoints(compacted) == (0, 2)
    items = [{"role": "user", "content": [{"type": "text", "text": "a"}]}]
    marked = mark_last_block(items)
    assert marked[0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in items[0]["content"][0]  # the encoder's copy is untouched
    thinking = [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "t"},
                {"type": "thinking", "thinking": "x", "signature": "s"},
            ],
        }
    ]
    assert "cache_control" in mark_last_block(thinking)[0]["content"][0]  # never on thinking
    assert mark_last_block([]) == []


# -- OpenAI Responses: prompt_cache_key and a stable prefix -----------------------------------


def _input_end(raw: bytes, body: dict[str, Any]) -> int:
    """The offset just before the closing bracket of the ``input`` array in ``raw``."""
    items = json.dumps(body["input"], ensure_ascii=False, separators=(",", ":")).encode()
    start = raw.index(b'"input":') + len(b'"input":')
    assert raw[start : start + len(items)] == items
    return start + len(items) - 1


async def test_responses_key_is_stable_per_agent_and_the_prefix_byte_stable(
    tcp: TcpHarness, tmp_path: Path
) -> None:
    store = tmp_path / "s.db"
    events = await run_mentra(tcp, tmp_path, "openai", "--store", str(store), PROMPT)
    agent_id = events[0]["agent_id"]
    bodies = [r.json() for r in tcp.requests]
    assert len(bodies) == ROUNDS + 1
    key = "mentra-" + hashlib.sha256(agent_id.encode()).hexdigest()[:32]
    assert {b["prompt_cache_key"] for b in bodies} == {key}
    from openai.types.responses.response_create_params import ResponseCreateParamsStreaming

    for body in bodies:
        check(body, ResponseCreateParamsStreaming)  # the official SDK's request type
    assert all(agent_id.encode() not in r.body for r in tcp.requests)
    sent = [(r.body, b) for r, b in zip(tcp.requests, bodies, strict=True)]
    for (prev_raw, prev), (raw, body) in itertools.pairwise(sent):
        assert {k: v for k, v in body.items() if k != "input"} == {
            k: v for k, v in prev.items() if k != "input"
        }  # instructions, tools (in order), options: the same every round
        assert body["input"][: len(prev["input"])] == prev["input"]
        end = _input_end(prev_raw, prev)
        assert raw[:end] == prev_raw[:end]  # byte for byte up to the previous input's end

    # the same agent resumed in a new process keeps its key; another agent gets another one
    tcp.requests.clear()
    await run_mentra(
        tcp,
        tmp_path,
        "openai",
        "--store",
        str(store),
        agent_id,
        "again",
        replies=[responses_reply(ROUNDS)],
        command=("resume",),
    )
    assert tcp.requests[0].json()["prompt_cache_key"] == key
    tcp.requests.clear()
    await run_mentra(
        tcp, tmp_path, "openai", "--ephemeral", "hi", replies=[responses_reply(ROUNDS)]
    )
    other = tcp.requests[0].json()["prompt_cache_key"]
    assert other.startswith("mentra-") and other != key


# -- usage and cost on every wire -------------------------------------------------------------


@pytest.mark.parametrize("provider", list(WIRES))
async def test_cached_and_cache_write_tokens_reach_run_finished(
    tcp: TcpHarness, tmp_path: Path, provider: str
) -> None:
    events = await run_mentra(tcp, tmp_path, provider, "--ephemeral", PROMPT)
    usage, cost = events[-1]["usage"], events[-1]["cost_usd"]
    requests = ROUNDS + 1
    writes = CACHE["write"] if provider == "anthropic" else 0  # only Anthropic bills writes
    assert usage["cached_input_tokens"] == requests * CACHE["read"]
    assert usage["cache_write_tokens"] == requests * writes
    assert usage["input_tokens"] == requests * (CACHE["uncached"] + CACHE["read"] + writes)
    assert usage["output_tokens"] == requests * CACHE["output"]
    price_in, price_cached, price_write, price_out = WIRES[provider][4]
    per_request = (
        CACHE["uncached"] * price_in
        + CACHE["read"] * price_cached
        + writes * price_write
        + CACHE["output"] * price_out
    ) / 1e6
    assert cost == pytest.approx(requests * per_request, rel=1e-6)
    uncached_cost = requests * (
        (CACHE["uncached"] + CACHE["read"] + writes) * price_in + CACHE["output"] * price_out
    )
    assert cost < uncached_cost / 1e6  # the cache rates are what was charged


def _recorded_with_cache(name: str, read: int, write: int) -> bytes:
    """A recorded Anthropic stream (PROVENANCE.md) with its zero cache counts set wherever it
    reports them: the recordings are of uncached prompts; field names and places are the API's."""
    body = (RECORDED / name).read_text()
    assert '"cache_read_input_tokens":0' in body
    body = body.replace('"cache_read_input_tokens":0', f'"cache_read_input_tokens":{read}')
    body = body.replace('"cache_creation_input_tokens":0', f'"cache_creation_input_tokens":{write}')
    return body.encode()


async def test_recorded_anthropic_streams_map_cache_counts(tcp: TcpHarness, tmp_path: Path) -> None:
    """Recorded streams as recorded (``tool_use_response``: 377 uncached input tokens;
    ``basic_response``: no cache fields at all), then with cache counts set: the neutral input
    is uncached + read + written, and the counts survive a ``message_delta`` that repeats them."""
    from mentra.providers.base import ModelRequest, ReplyBuilder

    cases = [
        ("tool_use_response.sse", 0, 0),
        ("basic_response.sse", 0, 0),
        ("tool_use_response.sse", 12_000, 700),
        ("stream-a-refusal.sse", 4_096, 1_024),
    ]
    for name, read, write in cases:
        raw = _recorded_with_cache(name, read, write) if read else (RECORDED / name).read_bytes()
        start = json.loads(raw.split(b"data: ", 1)[1].split(b"\n", 1)[0])["message"]["usage"]
        tcp.queue(Reply(body=raw, headers=SSE))
        provider = tcp.provider("anthropic")
        reply = ReplyBuilder("anthropic")
        request = ModelRequest(model="m", messages=[Message.user_text("x")])
        try:
            async for event in provider.stream(request):
                reply.feed(event)
        finally:
            await provider.aclose()
        u = reply.usage
        assert (u.cached_input_tokens, u.cache_write_tokens) == (read, write), name
        assert u.input_tokens == start["input_tokens"] + read + write
        assert u.output_tokens > 1
    assert (
        json.loads(
            (RECORDED / "tool_use_response.sse")
            .read_bytes()
            .split(b"data: ", 1)[1]
            .split(b"\n", 1)[0]
        )["message"]["usage"]["input_tokens"]
        == 377
    )
