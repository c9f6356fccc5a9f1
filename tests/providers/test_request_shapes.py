"""Request bodies built by each adapter, checked against the official SDKs' typed request params
(dev-only oracles) and the documented mapping of the neutral model."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mentra.messages import (
    ImageBlock,
    Message,
    ReasoningBlock,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from mentra.providers import anthropic, gemini, openai_chat, openai_responses
from mentra.providers.base import ModelOptions, ModelRequest, ToolSpec
from providers.harness import Harness, Reply, collect
from providers.typed_check import check

PNG = "iVBORw0KGgo="
SCHEMA = {
    "type": "object",
    "properties": {"path": {"type": "string"}},
    "required": ["path"],
    "additionalProperties": False,
}


def conversation(provider: str, **options: Any) -> ModelRequest:
    return ModelRequest(
        model="model-x",
        system="You are terse.",
        messages=[
            Message(
                role="user",
                content=[
                    TextBlock(text="What is in x.txt and this picture?"),
                    ImageBlock(media_type="image/png", data=PNG),
                    ImageBlock(media_type="image/jpeg", url="https://example.test/a.jpg"),
                ],
            ),
            Message(
                role="assistant",
                content=[
                    ReasoningBlock(
                        text="Need the file.",
                        signature="c2lnQUFB/+8=",
                        encrypted="ZW5jQkJC",
                        provider=provider,
                        item_id="rs_1",
                    ),
                    ReasoningBlock(text="foreign thoughts", signature="zzz", provider="elsewhere"),
                    TextBlock(text="Reading it."),
                    ToolUseBlock(id="call_1", name="read", input={"path": "x.txt"}),
                    ToolUseBlock(id="call_2", name="read", input={"path": "missing.txt"}),
                ],
            ),
            Message(
                role="user",
                content=[
                    ToolResultBlock(tool_use_id="call_1", content="hello"),
                    ToolResultBlock(tool_use_id="call_2", content="no such file", is_error=True),
                ],
            ),
        ],
        tools=[ToolSpec("read", "Read a file", SCHEMA)],
        options=ModelOptions(**options),
    )


FULL = {"temperature": 0.2, "top_p": 0.9, "max_output_tokens": 1000, "tool_choice": "auto"}


def test_openai_chat_body() -> None:
    from openai.types.chat.completion_create_params import CompletionCreateParamsStreaming

    body = openai_chat.to_request_body(conversation("p", **FULL, reasoning_effort="low"))
    check(json.loads(json.dumps(body)), CompletionCreateParamsStreaming)
    msgs = body["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "tool"]
    assert msgs[1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{PNG}"},
    }
    assert msgs[2]["content"] == "Reading it."
    assert [c["id"] for c in msgs[2]["tool_calls"]] == ["call_1", "call_2"]
    assert json.loads(msgs[2]["tool_calls"][0]["function"]["arguments"]) == {"path": "x.txt"}
    assert msgs[4] == {"role": "tool", "tool_call_id": "call_2", "content": "Error: no such file"}
    assert body["tools"][0]["function"]["parameters"] == SCHEMA
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 1000
    assert body["reasoning_effort"] == "low"
    assert body["temperature"] == 0.2
    assert body["top_p"] == 0.9
    official = openai_chat.to_request_body(conversation("p", max_output_tokens=5), official=True)
    assert official["max_completion_tokens"] == 5
    assert "max_tokens" not in official


def test_openai_chat_tool_choice() -> None:
    named = openai_chat.to_request_body(conversation("p", tool_choice={"tool": "read"}))
    assert named["tool_choice"] == {"type": "function", "function": {"name": "read"}}
    assert openai_chat.to_request_body(conversation("p", tool_choice="required"))[
        "tool_choice"
    ] == ("required")


def test_openai_responses_body() -> None:
    from openai.types.responses.response_create_params import ResponseCreateParamsStreaming

    body = openai_responses.to_request_body(
        conversation("openai", **FULL, reasoning_effort="high"), "openai"
    )
    check(json.loads(json.dumps(body)), ResponseCreateParamsStreaming)
    items = body["input"]
    kinds = [i.get("type", i.get("role")) for i in items]
    assert kinds == [
        "user",
        "reasoning",
        "assistant",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
    ]
    assert items[0]["content"][1] == {
        "type": "input_image",
        "image_url": f"data:image/png;base64,{PNG}",
        "detail": "auto",
    }
    assert items[1] == {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "Need the file."}],
        "encrypted_content": "ZW5jQkJC",
    }
    assert items[6] == {
        "type": "function_call_output",
        "call_id": "call_2",
        "output": "Error: no such file",
    }
    assert body["instructions"] == "You are terse."
    assert body["store"] is False
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}
    assert body["max_output_tokens"] == 1000
    assert body["tools"][0] == {
        "type": "function",
        "name": "read",
        "description": "Read a file",
        "parameters": SCHEMA,
        "strict": False,
    }
    named = openai_responses.to_request_body(conversation("openai", tool_choice={"tool": "read"}))
    assert named["tool_choice"] == {"type": "function", "name": "read"}
    # reasoning made elsewhere is never replayed
    other = openai_responses.to_request_body(conversation("anthropic"), "openai")
    assert all(i.get("type") != "reasoning" for i in other["input"])


def test_anthropic_body() -> None:
    from anthropic.types.message_create_params import MessageCreateParamsStreaming

    body = anthropic.to_request_body(conversation("anthropic", **FULL), "anthropic")
    # the newest SDK's typed params no longer list the sampling knobs (the API documents them)
    sampling = {k: body[k] for k in ("temperature", "top_p")}
    check(
        {k: v for k, v in json.loads(json.dumps(body)).items() if k not in sampling},
        MessageCreateParamsStreaming,
    )
    assert sampling == {"temperature": 0.2, "top_p": 0.9}
    user, assistant, results = body["messages"]
    assert user["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
    }
    assert user["content"][2]["source"] == {"type": "url", "url": "https://example.test/a.jpg"}
    # the thinking block is replayed unchanged, first, with its signature; foreign ones dropped
    assert assistant["content"][0] == {
        "type": "thinking",
        "thinking": "Need the file.",
        "signature": "c2lnQUFB/+8=",
    }
    assert [b["type"] for b in assistant["content"]] == ["thinking", "text", "tool_use", "tool_use"]
    assert results["content"][1] == {
        "type": "tool_result",
        "tool_use_id": "call_2",
        "content": "no such file",
        "is_error": True,
        "cache_control": {"type": "ephemeral"},  # prompt caching: the newest message's last block
    }
    assert "is_error" not in results["content"][0]
    assert user["content"][-1]["cache_control"] == {"type": "ephemeral"}  # the turn before
    assert body["system"] == [
        {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}
    ]
    assert body["max_tokens"] == 1000
    assert body["tool_choice"] == {"type": "auto"}
    assert body["tools"][0]["input_schema"] == SCHEMA
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    plain = anthropic.to_request_body(conversation("anthropic", prompt_cache=False))
    assert plain["system"] == "You are terse."
    assert "cache_control" not in json.dumps(plain)
    assert body["temperature"] == 0.2


def test_anthropic_thinking_and_tool_choice() -> None:
    body = anthropic.to_request_body(
        conversation(
            "anthropic", reasoning_effort="medium", temperature=0.3, tool_choice="required"
        )
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert body["max_tokens"] > 8192
    assert "temperature" not in body  # not accepted with extended thinking
    assert body["tool_choice"] == {"type": "any"}
    named = anthropic.to_request_body(conversation("anthropic", tool_choice={"tool": "read"}))
    assert named["tool_choice"] == {"type": "tool", "name": "read"}
    redacted = ModelRequest(
        model="m",
        messages=[
            Message.user_text("hi"),
            Message(
                role="assistant",
                content=[
                    ReasoningBlock(redacted=True, encrypted="opaque==", provider="anthropic"),
                    TextBlock(text="ok"),
                ],
            ),
        ],
    )
    assert anthropic.to_request_body(redacted)["messages"][1]["content"][0] == {
        "type": "redacted_thinking",
        "data": "opaque==",
    }


def test_gemini_body() -> None:
    from google.genai import types

    body = gemini.to_request_body(conversation("gemini", **FULL, reasoning_effort="low"), "gemini")
    for content in body["contents"]:
        types.Content.model_validate(content)
    types.Content.model_validate(body["systemInstruction"])
    for tool in body["tools"]:
        types.Tool.model_validate(tool)
    types.ToolConfig.model_validate(body["toolConfig"])
    types.GenerationConfig.model_validate(body["generationConfig"])
    assert set(body) == {
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "generationConfig",
    }
    user, model, results = body["contents"]
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert user["parts"][1] == {"inlineData": {"mimeType": "image/png", "data": PNG}}
    assert model["parts"][0] == {
        "text": "Need the file.",
        "thought": True,
        "thoughtSignature": "c2lnQUFB/+8=",
    }
    assert model["parts"][2] == {
        "functionCall": {"name": "read", "args": {"path": "x.txt"}, "id": "call_1"}
    }
    assert results["parts"][1] == {
        "functionResponse": {
            "name": "read",
            "response": {"error": "no such file"},
            "id": "call_2",
        }
    }
    assert body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"] == SCHEMA
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert body["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "maxOutputTokens": 1000,
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
    }


def test_gemini_signature_rides_on_the_next_part() -> None:
    request = ModelRequest(
        model="m",
        messages=[
            Message.user_text("go"),
            Message(
                role="assistant",
                content=[
                    ReasoningBlock(signature="SIG==", provider="gemini"),
                    ToolUseBlock(id="gemini_call_1", name="read", input={"path": "a"}),
                ],
            ),
            Message(
                role="user", content=[ToolResultBlock(tool_use_id="gemini_call_1", content="A")]
            ),
        ],
        options=ModelOptions(tool_choice={"tool": "read"}),
        tools=[ToolSpec("read", "", SCHEMA)],
    )
    body = gemini.to_request_body(request, "gemini")
    assert body["contents"][1]["parts"] == [
        {"functionCall": {"name": "read", "args": {"path": "a"}}, "thoughtSignature": "SIG=="}
    ]
    assert body["contents"][2]["parts"] == [
        {"functionResponse": {"name": "read", "response": {"output": "A"}}}
    ]
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["read"]}
    }


WIRE_PATHS = {
    "openai-responses": ("/v1", "/v1/responses", "responses_text.sse"),
    "openai-chat": ("/v1", "/v1/chat/completions", None),
    "anthropic": ("", "/v1/messages", None),
    "gemini": ("", "/v1beta/models/model-x:streamGenerateContent", None),
}
OK_FIXTURE = {
    "openai-responses": ("openai-responses", "text.sse"),
    "openai-chat": ("openai-chat", "comments_ping.sse"),
    "anthropic": ("anthropic", "basic_ping.sse"),
    "gemini": ("gemini", "text.sse"),
}
AUTH = {
    "openai-responses": ("authorization", "Bearer "),
    "openai-chat": ("authorization", "Bearer "),
    "anthropic": ("x-api-key", ""),
    "gemini": ("x-goog-api-key", ""),
}


@pytest.mark.parametrize("wire", list(WIRE_PATHS))
async def test_what_goes_over_the_wire(harness: Harness, wire: str) -> None:
    from providers.harness import SECRET

    root, path, _ = WIRE_PATHS[wire]
    harness.queue(Reply.sse(*OK_FIXTURE[wire]))
    provider = harness.provider(wire, root=root, headers={"x-team": "qa"})
    await collect(provider, conversation(wire))
    (sent,) = harness.requests
    assert sent.method == "POST"
    assert sent.path == path
    header, prefix = AUTH[wire]
    assert sent.headers[header] == prefix + SECRET
    assert sent.headers["x-team"] == "qa"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["user-agent" if wire != "x" else ""].startswith(("mentra/", "python-httpx"))
    if wire == "anthropic":
        assert sent.headers["anthropic-version"] == "2023-06-01"
    if wire == "gemini":
        assert sent.query == {"alt": "sse"}
    body = sent.json()
    assert body.get("stream", True) is True
    assert body.get("model", "model-x") == "model-x"


async def test_local_endpoints_send_no_key(harness: Harness) -> None:
    harness.queue(Reply.sse("openai-chat", "comments_ping.sse"))
    provider = harness.provider("openai-chat", root="/v1", api_key_env=None)
    await collect(provider, conversation("x"))
    assert "authorization" not in harness.requests[0].headers


@pytest.mark.parametrize("wire", ["openai-responses", "openai-chat", "anthropic"])
async def test_sent_bytes_are_the_request_body_round_after_round(
    harness: Harness, wire: str
) -> None:
    """The adapters encode each message once and reuse it while the history grows: the bytes
    sent must stay exactly the JSON of ``to_request_body`` for the whole, growing history."""
    root, _, _ = WIRE_PATHS[wire]
    provider = harness.provider(wire, root=root)
    request = conversation(wire, **FULL)
    history = list(request.messages)
    build = {
        "openai-responses": lambda r: openai_responses.to_request_body(r, wire),
        "openai-chat": lambda r: openai_chat.to_request_body(r),
        "anthropic": lambda r: anthropic.to_request_body(r, wire),
    }[wire]
    for i in range(3):
        request.messages = list(history)
        harness.queue(Reply.sse(*OK_FIXTURE[wire]))
        await collect(provider, request)
        sent = harness.requests[-1].body
        expected = json.dumps(build(request), ensure_ascii=False, separators=(",", ":"))
        assert sent == expected.encode()
        history.append(Message(role="assistant", content=[TextBlock(text=f"round {i} ✓")]))
        history.append(Message.user_text(f"and {i}"))
    history.pop(0)  # a history that is not a continuation is encoded afresh
    request.messages = history
    harness.queue(Reply.sse(*OK_FIXTURE[wire]))
    await collect(provider, request)
    assert json.loads(harness.requests[-1].body) == build(request)
