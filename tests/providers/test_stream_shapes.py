"""#13.2: JSON of the wrong shape inside a stream is a broken stream (a transient
`ProviderError` naming the field, retried like any other), never an internal error."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mentra.errors import ProviderError
from providers.harness import Harness, Reply, collect, request_for

ROOT = {"openai-chat": "/v1", "openai-responses": "/v1", "anthropic": "", "gemini": ""}


def sse(*events: Any, named: bool = False) -> bytes:
    out = []
    for e in events:
        head = f"event: {e.get('type')}\n" if named and isinstance(e, dict) else ""
        out.append(f"{head}data: {json.dumps(e)}\n\n")
    return "".join(out).encode()


def chat(**chunk: Any) -> bytes:
    return sse({"id": "c1", "model": "m", **chunk}) + b"data: [DONE]\n\n"


def choice(**fields: Any) -> dict[str, Any]:
    return {"id": "c1", "choices": [{"index": 0, **fields}]}


RESP_CREATED = {"type": "response.created", "response": {"id": "r1", "model": "m"}}
ANTH_START = {"type": "message_start", "message": {"id": "msg_1", "model": "m"}}
ANTH_BLOCK = {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}

CASES: dict[str, tuple[str, bytes, str]] = {
    # name: (wire, body, what the message must name)
    "chat choices is a string": ("openai-chat", chat(choices="nope"), "choices"),
    "chat delta is a list": ("openai-chat", chat(**choice(delta=["x"])), "delta"),
    "chat content is a number": ("openai-chat", chat(**choice(delta={"content": 5})), "content"),
    "chat tool_calls is a string": (
        "openai-chat",
        chat(**choice(delta={"tool_calls": "x"})),
        "tool_calls",
    ),
    "chat tool call index is a string": (
        "openai-chat",
        chat(**choice(delta={"tool_calls": [{"index": "0", "function": {"name": "f"}}]})),
        "index",
    ),
    "chat chunk is an array": ("openai-chat", sse([1, 2]), "chunk"),
    "chat usage is a string": (
        "openai-chat",
        sse({"choices": [], "usage": "lots"}) + b"data: [DONE]\n\n",
        "usage",
    ),
    "responses item is a number": (
        "openai-responses",
        sse(
            RESP_CREATED,
            {"type": "response.output_item.added", "output_index": 0, "item": 7},
            named=True,
        ),
        "item",
    ),
    "responses output_index is a string": (
        "openai-responses",
        sse(
            RESP_CREATED,
            {"type": "response.output_text.delta", "output_index": "0", "delta": "hi"},
            named=True,
        ),
        "output_index",
    ),
    "responses delta is an object": (
        "openai-responses",
        sse(
            RESP_CREATED,
            {"type": "response.output_text.delta", "output_index": 0, "delta": {"t": 1}},
            named=True,
        ),
        "delta",
    ),
    "responses delta is missing": (
        "openai-responses",
        sse(RESP_CREATED, {"type": "response.output_text.delta", "output_index": 0}, named=True),
        "delta",
    ),
    "anthropic content_block_delta with a list delta": (
        "anthropic",
        sse(
            ANTH_START,
            ANTH_BLOCK,
            {"type": "content_block_delta", "index": 0, "delta": ["text_delta", "hi"]},
            named=True,
        ),
        "delta",
    ),
    "anthropic text_delta text is a number": (
        "anthropic",
        sse(
            ANTH_START,
            ANTH_BLOCK,
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": 1}},
            named=True,
        ),
        "text",
    ),
    "anthropic index is a string": (
        "anthropic",
        sse(ANTH_START, {**ANTH_BLOCK, "index": "0"}, named=True),
        "index",
    ),
    "gemini candidates is a string": ("gemini", sse({"candidates": "many"}), "candidates"),
    "gemini candidate is a number": ("gemini", sse({"candidates": [3]}), "candidates"),
    "gemini parts is an object": (
        "gemini",
        sse({"candidates": [{"content": {"parts": {"text": "hi"}}}]}),
        "parts",
    ),
    "gemini text is a list": (
        "gemini",
        sse({"candidates": [{"content": {"parts": [{"text": ["hi"]}]}}]}),
        "text",
    ),
    "gemini function call args is a string": (
        "gemini",
        sse(
            {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": "x"}}]}}]}
        ),
        "args",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_wrong_shape_is_a_transient_provider_error(harness: Harness, case: str) -> None:
    wire, body, field = CASES[case]
    harness.queue(Reply(body=body))
    with pytest.raises(ProviderError) as info:
        await collect(harness.provider(wire, root=ROOT[wire]), request_for())
    err = info.value
    assert err.transient, err.message
    assert "malformed stream event" in err.message
    assert field in err.message, err.message
    assert err.provider == wire
