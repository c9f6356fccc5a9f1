"""Anthropic Messages (``{base_url}/v1/messages``), wire ``anthropic``.

Thinking blocks come back with a ``signature`` (or as ``redacted_thinking`` with opaque
``data``) and must be replayed unchanged, in place, across tool rounds, or the API rejects the
request; both are kept in `ReasoningBlock` and only replayed to the provider that made them.
Usage arrives in ``message_start`` and grows in ``message_delta``; the neutral ``input_tokens``
is the whole prompt (uncached + cache reads + cache writes). ``overloaded_error`` (HTTP 529)
is transient, before or during the stream.

Prompt caching (on unless ``prompt_cache`` is off): ``cache_control`` breakpoints on the last
tool, on the system prompt, on the newest message and on the previous request's newest message
(at most 4). They are placed from the request alone, never from state, so each request's cached
prefix is the start of the next one in a growing tool loop, and a rewritten (compacted) history
simply gets its breakpoints where it now ends. The previous request's breakpoint gives a cache
hit however many blocks the last round added (the API looks back only about 20 blocks).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import replace
from datetime import datetime
from typing import Any, NoReturn

import httpx

from mentra.messages import (
    ImageBlock,
    Message,
    ReasoningBlock,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from mentra.providers._http import (
    Endpoint,
    event_shape,
    fail,
    int_at,
    loads,
    obj,
    str_at,
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
)
from mentra.providers.settings import ProviderSettings

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 8192
EPHEMERAL: dict[str, str] = {"type": "ephemeral"}
_UNMARKABLE = frozenset({"thinking", "redacted_thinking"})  # the API refuses cache_control there
THINKING_BUDGET = {"low": 2048, "medium": 8192, "high": 24576}
_TRANSIENT_ERRORS = frozenset(
    {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}
)
_DELTA_KIND = {
    "text_delta": ("text", "text"),
    "input_json_delta": ("input_json", "partial_json"),
    "thinking_delta": ("reasoning", "thinking"),
    "signature_delta": ("signature", "signature"),
}


def _auth(key: str) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": API_VERSION}


def _image(block: ImageBlock) -> dict[str, Any]:
    source: dict[str, Any]
    if block.data is not None:
        source = {"type": "base64", "media_type": block.media_type, "data": block.data}
    else:
        source = {"type": "url", "url": block.url or ""}
    return {"type": "image", "source": source}


def _tool_result_content(block: ToolResultBlock) -> str | list[dict[str, Any]]:
    """The text, or text and image blocks: a tool_result's content takes both."""
    if not block.images:
        return block.content
    text = [{"type": "text", "text": block.content}] if block.content else []
    return [*text, *(_image(image) for image in block.images)]


def _content(message: Message, provider: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for block in message.content:
        if isinstance(block, TextBlock):
            if block.text:
                out.append({"type": "text", "text": block.text})
        elif isinstance(block, ToolUseBlock):
            out.append(
                {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
            )
        elif isinstance(block, ToolResultBlock):
            result: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": block.tool_use_id,
                "content": _tool_result_content(block),
            }
            if block.is_error:
                result["is_error"] = True
            out.append(result)
        elif isinstance(block, ImageBlock):
            out.append(_image(block))
        elif isinstance(block, ReasoningBlock) and block.provider == provider:
            if block.redacted and block.encrypted:
                out.append({"type": "redacted_thinking", "data": block.encrypted})
            elif block.signature:
                out.append(
                    {"type": "thinking", "thinking": block.text, "signature": block.signature}
                )
    return out


def message_items(message: Message, provider: str) -> list[dict[str, Any]]:
    content = _content(message, provider)
    return [{"role": message.role, "content": content}] if content else []


def cache_breakpoints(messages: list[Message]) -> tuple[int, ...]:
    """The indexes of the messages whose last block gets a breakpoint: the newest message and
    the one that was newest in the request before (the user turn before the last reply)."""
    last = len(messages) - 1
    if last < 0:
        return ()
    for i in range(last - 1, 0, -1):
        if messages[i].role == "assistant":
            return (i - 1, last)
    return (last,)


def mark_last_block(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``items`` (one message's) with a breakpoint on the last block that may carry one;
    copies, never touches the items it is given."""
    for i in range(len(items) - 1, -1, -1):
        content = items[i]["content"]
        for j in range(len(content) - 1, -1, -1):
            if content[j].get("type") not in _UNMARKABLE:
                marked = list(content)
                marked[j] = {**content[j], "cache_control": EPHEMERAL}
                return [*items[:i], {**items[i], "content": marked}, *items[i + 1 :]]
    return items


def to_request_body(request: ModelRequest, provider: str = "anthropic") -> dict[str, Any]:
    o = request.options
    marked = cache_breakpoints(request.messages) if o.prompt_cache else ()
    messages = [
        item
        for i, m in enumerate(request.messages)
        for item in (
            mark_last_block(message_items(m, provider))
            if i in marked
            else message_items(m, provider)
        )
    ]
    budget = THINKING_BUDGET.get(o.reasoning_effort or "")
    max_tokens = o.max_output_tokens or DEFAULT_MAX_TOKENS
    if budget is not None and max_tokens <= budget:
        if o.max_output_tokens is None:
            max_tokens = budget + DEFAULT_MAX_TOKENS
        else:
            budget = max(1024, max_tokens // 2)
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": max_tokens,
        "messages": messages,
        "stream": True,
    }
    if request.system:
        body["system"] = (
            [{"type": "text", "text": request.system, "cache_control": EPHEMERAL}]
            if o.prompt_cache
            else request.system
        )
    if request.tools:
        tools: list[dict[str, Any]] = [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in request.tools
        ]
        if o.prompt_cache:
            tools[-1] = {**tools[-1], "cache_control": EPHEMERAL}
        body["tools"] = tools
        choice = o.tool_choice
        if isinstance(choice, dict):
            body["tool_choice"] = {"type": "tool", "name": choice["tool"]}
        elif choice in ("auto", "none"):
            body["tool_choice"] = {"type": choice}
        elif choice == "required":
            body["tool_choice"] = {"type": "any"}
    if budget is not None:
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    else:  # sampling knobs are not accepted together with extended thinking
        if o.temperature is not None:
            body["temperature"] = o.temperature
        if o.top_p is not None:
            body["top_p"] = o.top_p
    return body


class _Usage:
    __slots__ = ("cache_read", "cache_write", "input", "output")

    def __init__(self) -> None:
        self.input = self.output = self.cache_read = self.cache_write = 0

    def update(self, u: dict[str, Any]) -> Usage:
        self.input = u.get("input_tokens") or self.input
        self.output = u.get("output_tokens") or self.output
        self.cache_read = u.get("cache_read_input_tokens") or self.cache_read
        self.cache_write = u.get("cache_creation_input_tokens") or self.cache_write
        return Usage(
            input_tokens=self.input + self.cache_read + self.cache_write,
            output_tokens=self.output,
            cached_input_tokens=self.cache_read,
            cache_write_tokens=self.cache_write,
        )


class AnthropicProvider:
    """The Messages API over SSE."""

    def __init__(
        self,
        name: str,
        settings: ProviderSettings,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.name = name
        self._http = Endpoint(provider=name, settings=settings, client=client, auth=_auth)
        self._encoder = BodyEncoder(lambda m: message_items(m, name), mark_last_block)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        name = self.name
        # to_request_body(request, name), with each message's items encoded once per history
        shell = to_request_body(replace(request, messages=[]), name)
        marked = cache_breakpoints(request.messages) if request.options.prompt_cache else ()
        body = self._encoder.encode(shell, "messages", request.messages, marked=marked)
        usage = _Usage()
        stop: str | None = None
        async with aclosing(self._http.sse("/v1/messages", body, model=request.model)) as events:
            with event_shape(name):
                async for _event, data in events:
                    ev = obj(name, loads(name, data), "event")
                    kind = ev.get("type")
                    if kind == "content_block_delta":
                        delta = obj(name, ev.get("delta"), "content_block_delta.delta")
                        mapped = _DELTA_KIND.get(str(delta.get("type")))
                        if mapped is not None:
                            text = str_at(name, delta, mapped[1], None)
                            if text:
                                yield BlockDelta(int_at(name, ev, "index"), mapped[0], text)  # type: ignore[arg-type]
                    elif kind == "content_block_start":
                        index = int_at(name, ev, "index")
                        block = obj(name, ev.get("content_block"), "content_block")
                        btype = block.get("type")
                        if btype == "text":
                            yield BlockStart(index, "text")
                            text = str_at(name, block, "text", None)
                            if text:
                                yield BlockDelta(index, "text", text)
                        elif btype == "tool_use":
                            yield BlockStart(
                                index,
                                "tool_use",
                                tool_id=str_at(name, block, "id"),
                                tool_name=str_at(name, block, "name"),
                            )
                            tool_input = obj(name, block.get("input"), "content_block.input")
                            if tool_input:
                                yield BlockDelta(index, "input_json", json.dumps(tool_input))
                        elif btype == "thinking":
                            yield BlockStart(index, "reasoning")
                            thinking = str_at(name, block, "thinking", None)
                            if thinking:
                                yield BlockDelta(index, "reasoning", thinking)
                            signature = str_at(name, block, "signature", None)
                            if signature:
                                yield BlockDelta(index, "signature", signature)
                        elif btype == "redacted_thinking":
                            yield BlockStart(index, "reasoning", redacted=True)
                            yield BlockDelta(index, "encrypted", str_at(name, block, "data", ""))
                    elif kind == "content_block_stop":
                        yield BlockStop(int_at(name, ev, "index"))
                    elif kind == "message_start":
                        message = obj(name, ev.get("message"), "message")
                        yield MessageStart(
                            str_at(name, message, "id", None), str_at(name, message, "model", None)
                        )
                        start_usage = obj(name, message.get("usage"), "message.usage")
                        if start_usage:
                            yield UsageUpdate(usage.update(start_usage))
                    elif kind == "message_delta":
                        delta = obj(name, ev.get("delta"), "message_delta.delta")
                        stop = str_at(name, delta, "stop_reason", None) or stop
                        delta_usage = obj(name, ev.get("usage"), "message_delta.usage")
                        if delta_usage:
                            yield UsageUpdate(usage.update(delta_usage))
                    elif kind == "message_stop":
                        yield MessageStop(stop)
                        return
                    elif kind == "error":
                        _raise_error(name, obj(name, ev.get("error"), "error"))
        fail(name, "the stream ended before message_stop")

    async def list_models(self) -> list[ModelInfo]:
        models: list[ModelInfo] = []
        params = {"limit": "1000"}
        while True:
            data = await self._http.get_json("/v1/models", params=params)
            for m in data.get("data") or ():
                created = m.get("created_at")
                models.append(
                    ModelInfo(
                        id=m["id"],
                        provider=self.name,
                        created=_parse_time(created) if isinstance(created, str) else None,
                        display_name=m.get("display_name"),
                    )
                )
            if not data.get("has_more") or not data.get("last_id"):
                return models
            params = {"limit": "1000", "after_id": data["last_id"]}

    async def aclose(self) -> None:
        await self._http.aclose()


def _parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _raise_error(provider: str, error: dict[str, Any]) -> NoReturn:
    kind = error.get("type") or "error"
    message = error.get("message") or kind
    err = stream_error(
        provider, f"error mid-stream: {message} ({kind})", transient=kind in _TRANSIENT_ERRORS
    )
    if kind == "overloaded_error":
        err.status_code = 529
    raise err
