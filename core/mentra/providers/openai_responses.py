"""OpenAI Responses (``{base_url}/responses``), wire ``openai-responses``.

Requests are stateless (``store: false``): the whole history is sent as input items each time,
and reasoning items come back with ``encrypted_content`` (requested through ``include``) so they
can be replayed across tool rounds. The stream is typed events: ``response.created``, then per
output item ``response.output_item.added`` / deltas / ``response.output_item.done``, then one
terminal ``response.completed``, ``response.incomplete`` or ``response.failed``; ``error``
events may arrive at any point.

Caching is automatic on this wire for a prefix that is byte-for-byte the same as an earlier
request's; ``prompt_cache_key`` (the request's `cache_key`, a hash of the agent id) routes an
agent's rounds to the same cache. Nothing before the input items (instructions, tools in their
given order) depends on the round, and the items of a growing history are encoded once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import replace
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
    dumps_plain,
)
from mentra.providers.openai_chat import _model_info, image_url
from mentra.providers.settings import ProviderSettings

_REASONING_MODELS = ("o1", "o3", "o4", "gpt-5", "codex")
_TRANSIENT_CODES = frozenset(
    {"server_error", "rate_limit_exceeded", "overloaded", "internal_error", "service_unavailable"}
)
_INCOMPLETE = {"max_output_tokens": "max_tokens", "content_filter": "refusal"}


def to_input(request: ModelRequest, provider: str) -> list[dict[str, Any]]:
    return [item for m in request.messages for item in message_items(m, provider)]


def message_items(message: Message, provider: str) -> list[dict[str, Any]]:
    """One message's input items (a message can become several: text, calls, results)."""
    items: list[dict[str, Any]] = []
    if message.role == "assistant":
        text: list[str] = []
        for block in message.content:
            if isinstance(block, TextBlock):
                text.append(block.text)
            elif isinstance(block, ToolUseBlock):
                if text:
                    items.append({"role": "assistant", "content": "".join(text)})
                    text = []
                arguments = block.raw_input
                if arguments is None:
                    arguments = dumps_plain(block.input)
                items.append(
                    {
                        "type": "function_call",
                        "call_id": block.id,
                        "name": block.name,
                        "arguments": arguments,
                    }
                )
            elif isinstance(block, ReasoningBlock):
                item = _reasoning_item(block, provider)
                if item is not None:
                    items.append(item)
        if text:
            items.append({"role": "assistant", "content": "".join(text)})
        return items
    parts: list[dict[str, Any]] = []
    for block in message.content:
        if isinstance(block, ToolResultBlock):
            output: str | list[dict[str, Any]]
            output = f"Error: {block.content}" if block.is_error else block.content
            if block.images:  # the output may be a list of input_text and input_image parts
                output = [
                    {"type": "input_text", "text": output},
                    *(
                        {"type": "input_image", "image_url": image_url(i), "detail": "auto"}
                        for i in block.images
                    ),
                ]
            items.append(
                {"type": "function_call_output", "call_id": block.tool_use_id, "output": output}
            )
        elif isinstance(block, TextBlock):
            parts.append({"type": "input_text", "text": block.text})
        elif isinstance(block, ImageBlock):
            parts.append({"type": "input_image", "image_url": image_url(block), "detail": "auto"})
    if parts:
        items.append({"role": "user", "content": parts})
    return items


def _reasoning_item(block: ReasoningBlock, provider: str) -> dict[str, Any] | None:
    """Reasoning is replayed only to the provider that made it, and only with its encrypted
    content (with ``store: false`` an id alone refers to nothing)."""
    if block.provider != provider or not block.encrypted:
        return None
    item: dict[str, Any] = {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": block.text}] if block.text else [],
        "encrypted_content": block.encrypted,
    }
    if block.item_id:
        item["id"] = block.item_id
    return item


def to_request_body(request: ModelRequest, provider: str = "openai") -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "input": to_input(request, provider),
        "stream": True,
        "store": False,
    }
    if request.system:
        body["instructions"] = request.system
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "name": t.name,
                "description": t.description,
                "parameters": t.input_schema,
                "strict": False,
            }
            for t in request.tools
        ]
    o = request.options
    if o.tool_choice is not None and request.tools:
        choice = o.tool_choice
        body["tool_choice"] = (
            {"type": "function", "name": choice["tool"]} if isinstance(choice, dict) else choice
        )
    if o.temperature is not None:
        body["temperature"] = o.temperature
    if o.top_p is not None:
        body["top_p"] = o.top_p
    if o.max_output_tokens is not None:
        body["max_output_tokens"] = o.max_output_tokens
    if o.reasoning_effort is not None:
        body["reasoning"] = {"effort": o.reasoning_effort, "summary": "auto"}
    if o.reasoning_effort is not None or request.model.startswith(_REASONING_MODELS):
        body["include"] = ["reasoning.encrypted_content"]
    if o.prompt_cache and request.cache_key:
        body["prompt_cache_key"] = request.cache_key
    return body


def to_usage(u: dict[str, Any]) -> Usage:
    inp = u.get("input_tokens_details") or {}
    out = u.get("output_tokens_details") or {}
    return Usage(
        input_tokens=u.get("input_tokens") or 0,
        output_tokens=u.get("output_tokens") or 0,
        cached_input_tokens=inp.get("cached_tokens") or 0,
        reasoning_tokens=out.get("reasoning_tokens") or 0,
    )


class OpenAIResponsesProvider:
    """The Responses API over SSE."""

    def __init__(
        self,
        name: str,
        settings: ProviderSettings,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.name = name
        self._http = Endpoint(provider=name, settings=settings, client=client)
        self._encoder = BodyEncoder(lambda m: message_items(m, name))

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        name = self.name
        # to_request_body(request, name), with each message's items encoded once per history
        shell = to_request_body(replace(request, messages=[]), name)
        body = self._encoder.encode(shell, "input", request.messages)
        kinds: dict[int, str] = {}  # output_index -> item type
        with_args: set[int] = set()  # function calls whose arguments arrived as deltas
        summaries: dict[int, int] = {}  # reasoning output_index -> summary parts seen
        final_stop: str | None = None
        async with aclosing(self._http.sse("/responses", body, model=request.model)) as events:
            with event_shape(name):
                async for _event, data in events:
                    if final_stop is not None:
                        continue
                    ev = obj(name, loads(name, data), "event")
                    kind = ev.get("type")
                    if kind == "response.output_text.delta" or kind == "response.refusal.delta":
                        yield BlockDelta(
                            int_at(name, ev, "output_index"), "text", str_at(name, ev, "delta")
                        )
                    elif kind == "response.function_call_arguments.delta":
                        index = int_at(name, ev, "output_index")
                        with_args.add(index)
                        yield BlockDelta(index, "input_json", str_at(name, ev, "delta"))
                    elif kind in (
                        "response.reasoning_summary_text.delta",
                        "response.reasoning_text.delta",
                    ):
                        yield BlockDelta(
                            int_at(name, ev, "output_index"), "reasoning", str_at(name, ev, "delta")
                        )
                    elif kind == "response.reasoning_summary_part.added":
                        index = int_at(name, ev, "output_index")
                        seen = summaries.get(index, 0)
                        summaries[index] = seen + 1
                        if seen:
                            yield BlockDelta(index, "reasoning", "\n\n")
                    elif kind == "response.output_item.added":
                        index, item = (
                            int_at(name, ev, "output_index"),
                            obj(name, ev.get("item"), "item"),
                        )
                        item_type = kinds[index] = str(item.get("type", ""))
                        if item_type == "message":
                            yield BlockStart(index, "text", item_id=str_at(name, item, "id", None))
                        elif item_type == "function_call":
                            yield BlockStart(
                                index,
                                "tool_use",
                                tool_id=str_at(name, item, "call_id", None),
                                tool_name=str_at(name, item, "name", None),
                                item_id=str_at(name, item, "id", None),
                            )
                        elif item_type == "reasoning":
                            yield BlockStart(
                                index, "reasoning", item_id=str_at(name, item, "id", None)
                            )
                    elif kind == "response.output_item.done":
                        index, item = (
                            int_at(name, ev, "output_index"),
                            obj(name, ev.get("item"), "item"),
                        )
                        item_type = kinds.setdefault(index, str(item.get("type", "")))
                        if item_type == "function_call":
                            if index not in with_args and item.get("arguments"):
                                yield BlockStart(
                                    index,
                                    "tool_use",
                                    tool_id=str_at(name, item, "call_id", None),
                                    tool_name=str_at(name, item, "name"),
                                )
                                yield BlockDelta(
                                    index, "input_json", str_at(name, item, "arguments")
                                )
                        elif item_type == "reasoning" and item.get("encrypted_content"):
                            yield BlockStart(
                                index, "reasoning", item_id=str_at(name, item, "id", None)
                            )
                            yield BlockDelta(
                                index, "encrypted", str_at(name, item, "encrypted_content")
                            )
                        if item_type in ("message", "function_call", "reasoning"):
                            yield BlockStop(index)
                    elif kind == "response.created":
                        response = obj(name, ev.get("response"), "response")
                        yield MessageStart(
                            str_at(name, response, "id", None),
                            str_at(name, response, "model", None),
                        )
                    elif kind == "response.completed" or kind == "response.incomplete":
                        response = obj(name, ev.get("response"), "response")
                        usage = obj(name, response.get("usage"), "response.usage")
                        if usage:
                            yield UsageUpdate(to_usage(usage))
                        if kind == "response.incomplete":
                            details = obj(
                                name, response.get("incomplete_details"), "incomplete_details"
                            )
                            reason = str_at(name, details, "reason", None)
                            stop = _INCOMPLETE.get(reason or "", reason or "incomplete")
                        elif "function_call" in kinds.values():
                            stop = "tool_use"
                        else:
                            stop = "end_turn"
                        final_stop = stop  # yielded once the body is read to its end (pooling)
                    elif kind == "response.failed":
                        response = obj(name, ev.get("response"), "response")
                        _raise_failure(name, obj(name, response.get("error"), "response.error"))
                    elif kind == "error":
                        error = ev.get("error")
                        _raise_failure(name, error if isinstance(error, dict) else ev)
        if final_stop is not None:
            yield MessageStop(final_stop)
            return
        fail(name, "the stream ended before the reply was complete")

    async def list_models(self) -> list[ModelInfo]:
        data = await self._http.get_json("/models")
        return [_model_info(m, self.name) for m in (data.get("data") or []) if m.get("id")]

    async def aclose(self) -> None:
        await self._http.aclose()


def _raise_failure(provider: str, error: dict[str, Any]) -> NoReturn:
    code = error.get("code")
    message = error.get("message") or "unknown error"
    transient = code is None or code in _TRANSIENT_CODES
    label = f" ({code})" if code else ""
    raise stream_error(provider, f"error mid-stream: {message}{label}", transient=transient)
