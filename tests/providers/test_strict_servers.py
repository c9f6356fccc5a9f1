"""#13.1: request bodies strict servers accept, on every wire, and provider errors that are one
line of text with the whole body kept for the `error` event."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mentra.errors import ProviderError
from mentra.messages import Message, TextBlock, ToolResultBlock, ToolUseBlock
from mentra.providers import anthropic, gemini, openai_chat, openai_responses
from mentra.providers.base import ModelRequest, ToolSpec
from providers.harness import SECRET, Harness, Reply, collect
from providers.strict_wire import validate
from providers.test_request_shapes import SCHEMA, conversation

ROOT = {"openai-chat": "/v1", "openai-responses": "/v1", "anthropic": "", "gemini": ""}
WIRES = list(ROOT)
OK = {
    "openai-chat": "usage_only_final_chunk.sse",
    "openai-responses": "empty_deltas.sse",
    "anthropic": "basic_ping.sse",
    "gemini": "text.sse",
}


def tool_round(provider: str) -> ModelRequest:
    """The history after a tool round whose reply was tool calls only, no text (#13.1)."""
    return ModelRequest(
        model="model-x",
        messages=[
            Message.user_text("Read x.txt"),
            Message(
                role="assistant",
                content=[ToolUseBlock(id="call_1", name="read", input={"path": "x.txt"})],
            ),
            Message(
                role="user",
                content=[ToolResultBlock(tool_use_id="call_1", content="hello")],
            ),
            Message(role="assistant", content=[TextBlock(text="It says hello.")]),
            Message.user_text("And again?"),
        ],
        tools=[ToolSpec("read", "Read a file", SCHEMA)],
    )


def body_for(wire: str, request: ModelRequest) -> dict[str, Any]:
    if wire == "openai-chat":
        return openai_chat.to_request_body(request)
    if wire == "openai-responses":
        return openai_responses.to_request_body(request, wire)
    if wire == "anthropic":
        return anthropic.to_request_body(request, wire)
    return gemini.to_request_body(request, wire)


def test_chat_assistant_tool_calls_carry_string_content() -> None:
    body = openai_chat.to_request_body(tool_round("openai-chat"))
    assistant = body["messages"][1]
    assert assistant["tool_calls"] and assistant["content"] == ""


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("history", ["tool_round", "conversation"])
def test_bodies_pass_the_strict_validator(wire: str, history: str) -> None:
    request = tool_round(wire) if history == "tool_round" else conversation(wire)
    validate(wire, body_for(wire, request))


@pytest.mark.parametrize("wire", WIRES)
async def test_sent_bytes_pass_the_strict_validator(harness: Harness, wire: str) -> None:
    harness.queue(Reply.sse(wire, OK[wire]))
    await collect(harness.provider(wire, root=ROOT[wire]), tool_round(wire))
    (sent,) = harness.requests
    validate(wire, sent.json())


def test_the_validator_refuses_null_content() -> None:
    body = openai_chat.to_request_body(tool_round("openai-chat"))
    body["messages"][1]["content"] = None
    with pytest.raises(ValueError, match="content"):
        validate("openai-chat", body)


LLAMA_500 = {
    "error": {
        "message": "7 validation errors:\n  {'type': 'string_type', 'loc': ('body', 'messages', 1, "
        "'typed-dict', 'content'), 'msg': 'Input should be a valid string', 'input': None}\n"
        + "  {'type': 'literal_error', 'loc': ('body', 'messages', 1, 'role')}\n" * 6
        + f"  key was {SECRET}",
        "type": "internal_server_error",
    }
}


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("status", [400, 500])
async def test_provider_error_is_one_line_with_the_body_as_detail(
    harness: Harness, wire: str, status: int
) -> None:
    harness.queue(*[Reply.json(LLAMA_500, status)])
    with pytest.raises(ProviderError) as info:
        await collect(harness.provider(wire, root=ROOT[wire]), tool_round(wire))
    err = info.value
    assert "\n" not in err.message
    assert len(err.message) < 420
    assert "7 validation errors:" in err.message
    assert err.detail is not None
    assert "string_type" in err.message  # the first error, on the same line
    assert json.loads(err.detail) == json.loads(json.dumps(LLAMA_500).replace(SECRET, "***"))
    assert SECRET not in err.message + err.detail


async def test_long_plain_text_body_is_cut_in_the_message(harness: Harness) -> None:
    text = "x" * 2000 + "\nsecond line"
    harness.queue(Reply(body=text.encode(), status=502, headers={"content-type": "text/plain"}))
    with pytest.raises(ProviderError) as info:
        await collect(harness.provider("openai-chat", root="/v1"), tool_round("openai-chat"))
    assert len(info.value.message) < 400 and "second line" not in info.value.message
    assert "\n" not in info.value.message
    assert info.value.detail == text
