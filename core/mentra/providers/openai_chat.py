"""OpenAI Chat Completions (``{base_url}/chat/completions``), wire ``openai-chat``.

The de-facto protocol of OpenRouter, Ollama, LM Studio, vLLM, llama.cpp's server and LiteLLM.
Tool calls stream as ``delta.tool_calls[]`` fragments keyed by ``index`` (id and name in the
first fragment, arguments spread over the rest); usage arrives in a final chunk with empty
``choices`` when ``stream_options.include_usage`` is set; ``data: [DONE]`` ends the stream.
Reasoning text some servers stream (``reasoning_content`` / ``reasoning``) is surfaced but not
replayed: the wire has no field to send it back in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, NoReturn

import httpx

from mentra.errors import TRANSIENT_STATUSES
from mentra.messages import (
    ImageBlock,
    Message,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from mentra.providers._http import (
    Endpoint,
    arr,
    event_shape,
    fail,
    integer,
    loads,
    obj,
    opt_str,
    stream_error,
)
from mentra.providers.base import (
    BlockDelta,
    BlockStart,
    BlockStop,
    BodyEncoder,
    MessageStart,
    MessageStop,
    ModelInfo,
    ModelRequest,
    StreamEvent,
    UsageUpdate,
    dumps_plain,
)
from mentra.providers.settings import ProviderSettings

_FINISH = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}
_TEXT = 0  # block index of the text; reasoning is 1; tool call i is 2 + i
_REASONING = 1


def image_url(block: ImageBlock) -> str:
    if block.data is not None:
        return f"data:{block.media_type};base64,{block.data}"
    return block.url or ""


def tool_choice(choice: str | dict[str, str] | None) -> Any:
    if isinstance(choice, dict):
        return {"type": "function", "function": {"name": choice["tool"]}}
    return choice


def to_messages(request: ModelRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = system_items(request)
    for message in request.messages:
        out.extend(message_items(message))
    return out


def system_items(request: ModelRequest) -> list[dict[str, Any]]:
    return [{"role": "system", "content": request.system}] if request.system else []


def message_items(message: Message) -> list[dict[str, Any]]:
    """One message's wire messages (a user message of tool results becomes several)."""
    if message.role == "assistant":
        return [_assistant(message)]
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in message.content:
        if isinstance(block, ToolResultBlock):
            content = f"Error: {block.content}" if block.is_error else block.content
            out.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": content})
            if block.images:  # tool messages take text only: the images follow, as user content
                intro = f"Images from the result of tool call {block.tool_use_id}:"
                parts.append({"type": "text", "text": intro})
                parts.extend(
                    {"type": "image_url", "image_url": {"url": image_url(i)}} for i in block.images
                )
        elif isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            parts.append({"type": "image_url", "image_url": {"url": image_url(block)}})
    if parts:
        if all(p["type"] == "text" for p in parts):
            text = "\n\n".join(p["text"] for p in parts)
            out.append({"role": "user", "content": text})
        else:
            out.append({"role": "user", "content": parts})
    return out


def _assistant(message: Message) -> dict[str, Any]:
    text = "".join(b.text for b in message.content if isinstance(b, TextBlock))
    calls = [
        {
            "id": b.id,
            "type": "function",
            "function": {
                "name": b.name,
                "arguments": b.raw_input if b.raw_input is not None else dumps_plain(b.input),
            },
        }
        for b in message.content
        if isinstance(b, ToolUseBlock)
    ]
    # content is always a string, empty when the reply was only tool calls: strict servers
    # (llama.cpp's llama_cpp.server, some vLLM builds) reject ``"content": null`` with HTTP 500
    item: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        item["tool_calls"] = calls
    return item


def to_request_body(request: ModelRequest, *, official: bool = False) -> dict[str, Any]:
    """The request body. ``official`` is the OpenAI API itself (``max_completion_tokens``)."""
    body: dict[str, Any] = {
        "model": request.model,
        "messages": to_messages(request),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.input_schema,
                },
            }
            for t in request.tools
        ]
    o = request.options
    if o.tool_choice is not None and request.tools:
        body["tool_choice"] = tool_choice(o.tool_choice)
    if o.temperature is not None:
        body["temperature"] = o.temperature
    if o.top_p is not None:
        body["top_p"] = o.top_p
    if o.max_output_tokens is not None:
        body["max_completion_tokens" if official else "max_tokens"] = o.max_output_tokens
    if o.reasoning_effort is not None:
        body["reasoning_effort"] = o.reasoning_effort
    return body


def to_usage(u: dict[str, Any]) -> Usage:
    prompt = u.get("prompt_tokens_details") or {}
    completion = u.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=u.get("prompt_tokens") or 0,
        output_tokens=u.get("completion_tokens") or 0,
        cached_input_tokens=prompt.get("cached_tokens") or 0,
        reasoning_tokens=completion.get("reasoning_tokens") or 0,
    )


class OpenAIChatProvider:
    """Chat Completions over SSE."""

    def __init__(
        self,
        name: str,
        settings: ProviderSettings,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.name = name
        self._http = Endpoint(provider=name, settings=settings, client=client)
        self._official = "api.openai.com" in self._http.base_url
        self._encoder = BodyEncoder(message_items)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        # to_request_body(request), with each message's items encoded once per history
        shell = to_request_body(replace(request, messages=[], system=None), official=self._official)
        body = self._encoder.encode(shell, "messages", request.messages, head=system_items(request))
        name = self.name
        started = False
        open_blocks: set[int] = set()
        tools: dict[int, int] = {}  # wire tool-call index -> our block index
        finish: str | None = None
        done = False
        sse = self._http.sse("/chat/completions", body, model=request.model)
        async with aclosing(sse) as events:
            with event_shape(name):
                async for _event, data in events:
                    if data == "[DONE]":
                        # read on to the end of the body (nothing should follow): a response
                        # left half-read cannot go back to the pool, and the next round would
                        # reconnect
                        done = True
                        continue
                    if done:
                        continue
                    chunk = obj(name, loads(name, data), "chunk")
                    if "error" in chunk:
                        _raise_stream_error(name, chunk["error"])
                    if not started:
                        started = True
                        yield MessageStart(
                            opt_str(name, chunk.get("id"), "id"),
                            opt_str(name, chunk.get("model"), "model"),
                        )
                    for choice in arr(name, chunk.get("choices"), "choices"):
                        choice = obj(name, choice, "choices[]")
                        if choice.get("index", 0) != 0:
                            continue  # n > 1 is never requested; ignore extra choices
                        delta = obj(name, choice.get("delta"), "choices[].delta")
                        text = opt_str(name, delta.get("content"), "delta.content")
                        if text:
                            if _TEXT not in open_blocks:
                                open_blocks.add(_TEXT)
                                yield BlockStart(_TEXT, "text")
                            yield BlockDelta(_TEXT, "text", text)
                        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                        if reasoning and isinstance(reasoning, str):
                            if _REASONING not in open_blocks:
                                open_blocks.add(_REASONING)
                                yield BlockStart(_REASONING, "reasoning")
                            yield BlockDelta(_REASONING, "reasoning", reasoning)
                        for call in arr(name, delta.get("tool_calls"), "delta.tool_calls"):
                            call = obj(name, call, "delta.tool_calls[]")
                            wire_index = integer(
                                name, call.get("index", len(tools)), "tool_calls[].index"
                            )
                            fn = obj(name, call.get("function"), "tool_calls[].function")
                            call_id = opt_str(name, call.get("id"), "tool_calls[].id")
                            fn_name = opt_str(name, fn.get("name"), "function.name")
                            block = tools.get(wire_index)
                            if block is None:
                                block = tools[wire_index] = 2 + len(tools)
                                open_blocks.add(block)
                                yield BlockStart(
                                    block, "tool_use", tool_id=call_id, tool_name=fn_name
                                )
                            elif call_id or fn_name:
                                yield BlockStart(
                                    block, "tool_use", tool_id=call_id, tool_name=fn_name
                                )
                            arguments = opt_str(name, fn.get("arguments"), "function.arguments")
                            if arguments:
                                yield BlockDelta(block, "input_json", arguments)
                        reason = opt_str(name, choice.get("finish_reason"), "finish_reason")
                        if reason:
                            finish = reason
                    usage = obj(name, chunk.get("usage"), "usage")
                    if usage:
                        yield UsageUpdate(to_usage(usage))
        if not done and finish is None:
            fail(name, "the stream ended before the reply was complete")
        for index in sorted(open_blocks):
            yield BlockStop(index)
        stop = _FINISH.get(finish or "stop", finish)
        if tools and stop == "end_turn":
            stop = "tool_use"  # some servers say "stop" after tool calls
        yield MessageStop(stop)

    async def list_models(self) -> list[ModelInfo]:
        data = await self._http.get_json("/models")
        return [_model_info(m, self.name) for m in (data.get("data") or []) if m.get("id")]

    async def aclose(self) -> None:
        await self._http.aclose()


def _model_info(m: dict[str, Any], provider: str) -> ModelInfo:
    created = m.get("created")
    return ModelInfo(
        id=m["id"],
        provider=provider,
        created=datetime.fromtimestamp(created, UTC) if isinstance(created, int | float) else None,
        display_name=m.get("name"),
    )


def _raise_stream_error(provider: str, error: Any) -> NoReturn:
    if isinstance(error, dict):
        message = str(error.get("message") or error)
        code = error.get("code")
    else:
        message, code = str(error), None
    status = code if isinstance(code, int) else None
    transient = status is None or status in TRANSIENT_STATUSES or status >= 500
    err = stream_error(provider, f"error mid-stream: {message}", transient=transient)
    err.status_code = status
    raise err
