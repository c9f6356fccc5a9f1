"""A fake LLM provider server for the benchmarks: stdlib asyncio, 127.0.0.1 only.

It speaks the streaming wire formats of four APIs, each as documented by its vendor:

    POST /v1/chat/completions                           OpenAI Chat Completions (SSE)
    POST /v1/responses                                  OpenAI Responses (SSE, typed events)
    POST /v1/messages                                   Anthropic Messages (SSE, typed events)
    POST /v1beta/models/{model}:streamGenerateContent   Gemini (``?alt=sse``)
    GET  /v1/models, /v1beta/models                     a model list
    GET  /bench/stats, POST /bench/reset                the server's own cost (CPU, bytes)

Every reply is scripted by the request: while the conversation holds fewer than ``N * P`` tool
results the reply is a turn of ``P`` tool calls, otherwise a text answer of ``M`` deltas.
``N``, ``M`` and ``P`` come from the model name (``bench-n3-m20000-p8``; any part optional,
defaults n0 m8 p1) or the headers ``x-bench-n``, ``x-bench-m``, ``x-bench-p`` (headers win).
The tool called is the first declared tool whose name starts with ``bench``, else the first
declared tool; its arguments are ``{"i": K}`` (K counts calls across the conversation).

Text answers are built once per (wire, model, M) and cached, and responses carry a
Content-Length, so the server's cost per request is mostly a ``json.loads`` of the request and
one socket write. ``GET /bench/stats`` reports the process CPU time spent since the last
``POST /bench/reset`` so a harness can print what the server itself cost.

Run: ``python benchmarks/fake_server.py [--port 0]``; it prints ``PORT <n>`` on stdout once
listening, then serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import sys
import time
from typing import Any

_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_PART_RE = re.compile(r"(?:^|[-_])([nmp])(\d+)")
_DELTA_TEXT = "tok "


def _cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Stats:
    __slots__ = ("bytes_sent", "connections", "cpu0", "deltas", "first_ts", "requests", "since")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.connections = 0
        self.deltas = 0
        self.bytes_sent = 0
        self.first_ts: float | None = None  # wall clock (time.time) the first request arrived
        self.cpu0 = _cpu_seconds()
        self.since = time.monotonic()

    def snapshot(self) -> dict[str, Any]:
        cpu = _cpu_seconds() - self.cpu0
        return {
            "requests": self.requests,
            "connections": self.connections,
            "deltas": self.deltas,
            "bytes_sent": self.bytes_sent,
            "cpu_s": cpu,
            "wall_s": time.monotonic() - self.since,
            "first_request_ts": self.first_ts,
            "cpu_ms_per_request": (cpu * 1000 / self.requests) if self.requests else None,
            "cpu_us_per_delta": (cpu * 1e6 / self.deltas) if self.deltas else None,
        }


STATS = Stats()


# --------------------------------------------------------------------------- the script ----


class Plan:
    """What one request gets: a tool-call turn (round index ``k``) or the text answer."""

    __slots__ = ("m", "n", "p", "results", "tool")

    def __init__(self, n: int, m: int, p: int, results: int, tool: str) -> None:
        self.n, self.m, self.p, self.results, self.tool = n, m, p, results, tool

    @property
    def tool_turn(self) -> bool:
        return self.results < self.n * self.p

    def calls(self) -> list[tuple[str, str]]:
        """(call id, arguments JSON) of each parallel call of this turn."""
        base = self.results
        return [(f"call_{base + j}", '{"i":' + str(base + j) + "}") for j in range(self.p)]


def _params(model: str, headers: dict[str, str]) -> tuple[int, int, int]:
    found = {k: int(v) for k, v in _PART_RE.findall(model.rsplit("/", 1)[-1])}
    n = int(headers.get("x-bench-n", found.get("n", 0)))
    m = int(headers.get("x-bench-m", found.get("m", 8)))
    p = max(1, int(headers.get("x-bench-p", found.get("p", 1))))
    return n, m, p


def _pick_tool(names: list[str]) -> str:
    for name in names:
        if name.startswith("bench"):
            return name
    return names[0] if names else "bench_tool"


def _plan(model: str, headers: dict[str, str], results: int, tools: list[str]) -> Plan:
    n, m, p = _params(model, headers)
    return Plan(n, m, p, results, _pick_tool(tools))


# ------------------------------------------------------------------ wire: chat completions ----


def _chat_count(body: dict[str, Any]) -> tuple[int, list[str]]:
    results = sum(1 for msg in body.get("messages", ()) if msg.get("role") == "tool")
    tools = [t.get("function", {}).get("name", "") for t in body.get("tools") or ()]
    return results, tools


def _chat_chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    return (
        b"data: "
        + _DUMPS(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        ).encode()
        + b"\n\n"
    )


def _chat_usage(model: str, out_tokens: int) -> bytes:
    usage = {"prompt_tokens": 10, "completion_tokens": out_tokens, "total_tokens": 10 + out_tokens}
    return (
        b"data: "
        + _DUMPS(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": model,
                "choices": [],
                "usage": usage,
            }
        ).encode()
        + b"\n\n"
    )


def chat_stream(model: str, plan: Plan) -> tuple[bytes, int]:
    if plan.tool_turn:
        parts = [_chat_chunk(model, {"role": "assistant", "content": None})]
        for j, (cid, args) in enumerate(plan.calls()):
            head = {
                "index": j,
                "id": cid,
                "type": "function",
                "function": {"name": plan.tool, "arguments": ""},
            }
            parts.append(_chat_chunk(model, {"tool_calls": [head]}))
            parts.append(
                _chat_chunk(model, {"tool_calls": [{"index": j, "function": {"arguments": args}}]})
            )
        parts.append(_chat_chunk(model, {}, "tool_calls"))
        parts.append(_chat_usage(model, 5 * plan.p))
        parts.append(b"data: [DONE]\n\n")
        return b"".join(parts), 0
    parts = [_chat_chunk(model, {"role": "assistant", "content": ""})]
    delta = _chat_chunk(model, {"content": _DELTA_TEXT})
    parts.extend(delta for _ in range(plan.m))
    parts.append(_chat_chunk(model, {}, "stop"))
    parts.append(_chat_usage(model, plan.m))
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts), plan.m


def chat_json(model: str, plan: Plan) -> tuple[bytes, int]:
    message: dict[str, Any] = {"role": "assistant", "content": None}
    finish = "tool_calls"
    if plan.tool_turn:
        message["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": plan.tool, "arguments": args}}
            for cid, args in plan.calls()
        ]
    else:
        message["content"] = _DELTA_TEXT * plan.m
        finish = "stop"
    return _DUMPS(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1700000000,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": plan.m, "total_tokens": 10},
        }
    ).encode(), 0


# ------------------------------------------------------------------------ wire: responses ----


def _responses_count(body: dict[str, Any]) -> tuple[int, list[str]]:
    items = body.get("input")
    results = 0
    if isinstance(items, list):
        results = sum(1 for it in items if it.get("type") == "function_call_output")
    tools = [t.get("name", "") for t in body.get("tools") or () if t.get("type") == "function"]
    return results, tools


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + _DUMPS(data).encode() + b"\n\n"


def _response_obj(model: str, status: str, output: list[Any], usage: Any) -> dict[str, Any]:
    return {
        "id": "resp_bench",
        "object": "response",
        "created_at": 1700000000,
        "status": status,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "temperature": 1.0,
        "top_p": 1.0,
        "text": {"format": {"type": "text"}},
        "truncation": "disabled",
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "usage": usage,
    }


def _responses_usage(out_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": out_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 10 + out_tokens,
    }


def responses_stream(model: str, plan: Plan) -> tuple[bytes, int]:
    seq = 0

    def ev(kind: str, data: dict[str, Any]) -> bytes:
        nonlocal seq
        data = {"type": kind, "sequence_number": seq, **data}
        seq += 1
        return _sse(kind, data)

    parts = [
        ev("response.created", {"response": _response_obj(model, "in_progress", [], None)}),
        ev("response.in_progress", {"response": _response_obj(model, "in_progress", [], None)}),
    ]
    output: list[dict[str, Any]] = []
    if plan.tool_turn:
        for j, (cid, args) in enumerate(plan.calls()):
            item_id = f"fc_{cid}"
            item = {
                "type": "function_call",
                "id": item_id,
                "call_id": cid,
                "name": plan.tool,
                "arguments": "",
                "status": "in_progress",
            }
            parts.append(ev("response.output_item.added", {"output_index": j, "item": item}))
            parts.append(
                ev(
                    "response.function_call_arguments.delta",
                    {"item_id": item_id, "output_index": j, "delta": args},
                )
            )
            parts.append(
                ev(
                    "response.function_call_arguments.done",
                    {"item_id": item_id, "output_index": j, "arguments": args},
                )
            )
            done = {**item, "arguments": args, "status": "completed"}
            parts.append(ev("response.output_item.done", {"output_index": j, "item": done}))
            output.append(done)
        usage = _responses_usage(5 * plan.p)
        deltas = 0
    else:
        item_id = "msg_bench"
        item = {
            "type": "message",
            "id": item_id,
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        loc = {"item_id": item_id, "output_index": 0, "content_index": 0}
        parts.append(ev("response.output_item.added", {"output_index": 0, "item": item}))
        empty = {"type": "output_text", "text": "", "annotations": []}
        parts.append(ev("response.content_part.added", {**loc, "part": empty}))
        for _ in range(plan.m):
            parts.append(
                ev("response.output_text.delta", {**loc, "delta": _DELTA_TEXT, "logprobs": []})
            )
        text = _DELTA_TEXT * plan.m
        parts.append(ev("response.output_text.done", {**loc, "text": text, "logprobs": []}))
        part = {"type": "output_text", "text": text, "annotations": []}
        parts.append(ev("response.content_part.done", {**loc, "part": part}))
        done = {**item, "status": "completed", "content": [part]}
        parts.append(ev("response.output_item.done", {"output_index": 0, "item": done}))
        output.append(done)
        usage = _responses_usage(plan.m)
        deltas = plan.m
    final = _response_obj(model, "completed", output, usage)
    parts.append(ev("response.completed", {"response": final}))
    return b"".join(parts), deltas


def responses_json(model: str, plan: Plan) -> tuple[bytes, int]:
    if plan.tool_turn:
        output: list[Any] = [
            {
                "type": "function_call",
                "id": f"fc_{cid}",
                "call_id": cid,
                "name": plan.tool,
                "arguments": args,
                "status": "completed",
            }
            for cid, args in plan.calls()
        ]
    else:
        part = {"type": "output_text", "text": _DELTA_TEXT * plan.m, "annotations": []}
        output = [
            {
                "type": "message",
                "id": "msg_bench",
                "status": "completed",
                "role": "assistant",
                "content": [part],
            }
        ]
    obj = _response_obj(model, "completed", output, _responses_usage(plan.m))
    return _DUMPS(obj).encode(), 0


# ------------------------------------------------------------------------ wire: anthropic ----


def _anthropic_count(body: dict[str, Any]) -> tuple[int, list[str]]:
    results = 0
    for msg in body.get("messages", ()):
        content = msg.get("content")
        if msg.get("role") == "user" and isinstance(content, list):
            results += sum(1 for b in content if b.get("type") == "tool_result")
    tools = [t.get("name", "") for t in body.get("tools") or ()]
    return results, tools


def anthropic_stream(model: str, plan: Plan) -> tuple[bytes, int]:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 1},
        },
    }
    parts = [_sse("message_start", start)]
    if plan.tool_turn:
        for j, (cid, args) in enumerate(plan.calls()):
            block = {"type": "tool_use", "id": "toolu_" + cid, "name": plan.tool, "input": {}}
            parts.append(
                _sse(
                    "content_block_start",
                    {"type": "content_block_start", "index": j, "content_block": block},
                )
            )
            delta = {"type": "input_json_delta", "partial_json": args}
            parts.append(
                _sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": j, "delta": delta},
                )
            )
            parts.append(_sse("content_block_stop", {"type": "content_block_stop", "index": j}))
        stop, out_tokens, deltas = "tool_use", 5 * plan.p, 0
    else:
        block = {"type": "text", "text": ""}
        parts.append(
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": block},
            )
        )
        one = _sse(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": _DELTA_TEXT},
            },
        )
        parts.extend(one for _ in range(plan.m))
        parts.append(_sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
        stop, out_tokens, deltas = "end_turn", plan.m, plan.m
    parts.append(
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": out_tokens},
            },
        )
    )
    parts.append(_sse("message_stop", {"type": "message_stop"}))
    return b"".join(parts), deltas


# --------------------------------------------------------------------------- wire: gemini ----


def _gemini_count(body: dict[str, Any]) -> tuple[int, list[str]]:
    results = 0
    for content in body.get("contents", ()):
        results += sum(1 for p in content.get("parts", ()) if "functionResponse" in p)
    tools: list[str] = []
    for t in body.get("tools") or ():
        tools.extend(f.get("name", "") for f in t.get("functionDeclarations") or ())
    return results, tools


def _gemini_chunk(model: str, parts: list[Any], finish: str | None, out: int | None) -> bytes:
    cand: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    data: dict[str, Any] = {"candidates": [cand], "modelVersion": model}
    if out is not None:
        data["usageMetadata"] = {
            "promptTokenCount": 10,
            "candidatesTokenCount": out,
            "totalTokenCount": 10 + out,
        }
    return b"data: " + _DUMPS(data).encode() + b"\r\n\r\n"


def gemini_stream(model: str, plan: Plan) -> tuple[bytes, int]:
    if plan.tool_turn:
        calls = [
            {"functionCall": {"name": plan.tool, "args": json.loads(args)}}
            for _cid, args in plan.calls()
        ]
        return _gemini_chunk(model, calls, "STOP", 5 * plan.p), 0
    one = _gemini_chunk(model, [{"text": _DELTA_TEXT}], None, None)
    body = [one] * max(plan.m - 1, 0)
    body.append(_gemini_chunk(model, [{"text": _DELTA_TEXT if plan.m else ""}], "STOP", plan.m))
    return b"".join(body), plan.m


# ------------------------------------------------------------------------------ the server ----

_TEXT_CACHE: dict[tuple[str, str, int], tuple[bytes, int]] = {}
_WIRES = {
    "chat": (_chat_count, chat_stream, chat_json),
    "responses": (_responses_count, responses_stream, responses_json),
    "anthropic": (_anthropic_count, anthropic_stream, None),
    "gemini": (_gemini_count, gemini_stream, None),
}


def _route(path: str) -> tuple[str | None, str | None, bool]:
    """(wire, model from the path, streaming forced by the path)."""
    if path.endswith("/chat/completions"):
        return "chat", None, False
    if path.endswith("/responses"):
        return "responses", None, False
    if path.endswith("/messages"):
        return "anthropic", None, False
    if ":streamGenerateContent" in path or ":generateContent" in path:
        model = path.split("/models/", 1)[-1].split(":", 1)[0]
        return "gemini", model, True
    return None, None, False


def _models_body(path: str, headers: dict[str, str]) -> bytes:
    ids = ["bench-n0-m8", "bench-n1-m8", "bench-n0-m20000", "bench-n1-m8-p8"]
    if path.startswith("/v1beta"):
        models = [{"name": f"models/{i}", "displayName": i} for i in ids]
        return _DUMPS({"models": models}).encode()
    if "anthropic-version" in headers:
        data = [
            {"type": "model", "id": i, "display_name": i, "created_at": "2025-01-01T00:00:00Z"}
            for i in ids
        ]
        return _DUMPS(
            {"data": data, "has_more": False, "first_id": ids[0], "last_id": ids[-1]}
        ).encode()
    data = [{"id": i, "object": "model", "created": 1700000000, "owned_by": "bench"} for i in ids]
    return _DUMPS({"object": "list", "data": data}).encode()


def handle(
    method: str, target: str, headers: dict[str, str], raw: bytes, arrived: float | None = None
) -> tuple[int, str, bytes]:
    """One request's reply. ``arrived`` is when its head was read: a client sends the head only
    once its body is built, so that is when the request started, whatever its size."""
    path, _, _query = target.partition("?")
    if method == "GET" and path.rstrip("/") in ("/v1/models", "/v1beta/models", "/models"):
        return 200, "application/json", _models_body(path, headers)
    if path == "/bench/stats":
        return 200, "application/json", _DUMPS(STATS.snapshot()).encode()
    if path == "/bench/reset":
        STATS.reset()
        return 200, "application/json", b"{}"
    if method != "POST":
        return 404, "application/json", b'{"error":{"message":"not found"}}'
    wire, path_model, _ = _route(path)
    if wire is None:
        return 404, "application/json", b'{"error":{"message":"unknown endpoint"}}'
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        return 400, "application/json", b'{"error":{"message":"invalid JSON"}}'
    model = path_model or str(body.get("model", "bench"))
    count, stream_fn, json_fn = _WIRES[wire]
    results, tools = count(body)
    plan = _plan(model, headers, results, tools)
    streaming = wire == "gemini" and "streamGenerateContent" in path
    streaming = streaming or bool(body.get("stream"))
    STATS.requests += 1
    if STATS.first_ts is None:
        STATS.first_ts = arrived if arrived is not None else time.time()
    if not streaming and json_fn is not None:
        payload, _ = json_fn(model, plan)
        return 200, "application/json", payload
    if plan.tool_turn:
        payload, deltas = stream_fn(model, plan)
    else:
        key = (wire, model, plan.m)
        cached = _TEXT_CACHE.get(key)
        if cached is None:
            cached = _TEXT_CACHE[key] = stream_fn(model, plan)
        payload, deltas = cached
    STATS.deltas += deltas
    return 200, "text/event-stream", payload


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size = int((await reader.readline()).split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            return bytes(out)
        out += await reader.readexactly(size)
        await reader.readline()


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    STATS.connections += 1
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            arrived = time.time()
            lines = head.decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if line:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
            if headers.get("transfer-encoding", "").lower() == "chunked":
                raw = await _read_chunked(reader)
            else:
                length = int(headers.get("content-length", "0") or 0)
                raw = await reader.readexactly(length) if length else b""
            if headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            try:
                status, ctype, payload = handle(method, target, headers, raw, arrived)
            except Exception as exc:  # a bug here must not hang the client
                status, ctype = 500, "application/json"
                payload = _DUMPS({"error": {"message": f"fake server: {exc!r}"}}).encode()
            close = headers.get("connection", "").lower() == "close"
            writer.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n"
                b"cache-control: no-cache\r\nconnection: %s\r\n\r\n"
                % (
                    status,
                    _REASONS.get(status, "OK").encode(),
                    ctype.encode(),
                    len(payload),
                    b"close" if close else b"keep-alive",
                )
            )
            writer.write(payload)
            STATS.bytes_sent += len(payload)
            await writer.drain()
            if close:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def main_async(port: int) -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", port, backlog=256)
    actual = server.sockets[0].getsockname()[1]
    print(f"PORT {actual}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=0, help="0 = an ephemeral port")
    args = parser.parse_args(argv)
    try:
        asyncio.run(main_async(args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
