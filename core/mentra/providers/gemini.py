"""Google Gemini (``{base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse``).

Each SSE event is a whole ``GenerateContentResponse`` carrying the next parts: text arrives in
pieces, a ``functionCall`` arrives whole (its ``args`` an object). Roles are ``user`` and
``model``. A ``thoughtSignature`` on a part is kept as a signature-only `ReasoningBlock` just
before the block it came with, and put back on that part when the history is replayed (Gemini
requires it across function-calling turns). ``finishReason`` marks the last chunk; a blocked
prompt comes back as ``promptFeedback.blockReason`` with no candidates.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, NoReturn

import httpx

from mentra.errors import TRANSIENT_STATUSES, ProviderError
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
    arr,
    event_shape,
    fail,
    loads,
    obj,
    str_at,
    stream_error,
)
from mentra.providers.base import (
    BlockDelta,
    BlockStart,
    BlockStop,
    MessageStart,
    MessageStop,
    ModelInfo,
    ModelRequest,
    StreamEvent,
    UsageUpdate,
)
from mentra.providers.settings import ProviderSettings

THINKING_BUDGET = {"low": 1024, "medium": 8192, "high": 24576}
_FINISH = {"STOP": "end_turn", "MAX_TOKENS": "max_tokens"}


def _auth(key: str) -> dict[str, str]:
    return {"x-goog-api-key": key}


def _media(block: ImageBlock) -> dict[str, Any]:
    if block.data is not None:
        return {"inlineData": {"mimeType": block.media_type, "data": block.data}}
    return {"fileData": {"mimeType": block.media_type, "fileUri": block.url or ""}}


def _parts(message: Message, provider: str, names: dict[str, str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    pending_signature: str | None = None

    def add(part: dict[str, Any]) -> None:
        nonlocal pending_signature
        if pending_signature is not None:
            part["thoughtSignature"] = pending_signature
            pending_signature = None
        parts.append(part)

    for block in message.content:
        if isinstance(block, TextBlock):
            if block.text:
                add({"text": block.text})
        elif isinstance(block, ToolUseBlock):
            names[block.id] = block.name
            call: dict[str, Any] = {"name": block.name, "args": block.input}
            if not block.id.startswith("gemini_call_"):
                call["id"] = block.id
            add({"functionCall": call})
        elif isinstance(block, ToolResultBlock):
            key = "error" if block.is_error else "output"
            response: dict[str, Any] = {
                "name": names.get(block.tool_use_id, block.tool_use_id),
                "response": {key: block.content},
            }
            if not block.tool_use_id.startswith("gemini_call_"):
                response["id"] = block.tool_use_id
            add({"functionResponse": response})
            for image in block.images:  # the result's images, as parts of the same turn
                add(_media(image))
        elif isinstance(block, ImageBlock):
            add(_media(block))
        elif isinstance(block, ReasoningBlock) and block.provider == provider:
            if block.text:
                part: dict[str, Any] = {"text": block.text, "thought": True}
                if block.signature:
                    part["thoughtSignature"] = block.signature
                parts.append(part)
            elif block.signature:
                pending_signature = block.signature
    return parts


def to_request_body(request: ModelRequest, provider: str = "gemini") -> dict[str, Any]:
    names: dict[str, str] = {}
    contents = []
    for m in request.messages:
        parts = _parts(m, provider, names)
        if parts:
            contents.append({"role": "model" if m.role == "assistant" else "user", "parts": parts})
    body: dict[str, Any] = {"contents": contents}
    if request.system:
        body["systemInstruction"] = {"parts": [{"text": request.system}]}
    o = request.options
    if request.tools:
        body["tools"] = [
            {
                "functionDeclarations": [
                    {
                        "name": t.name,
                        "description": t.description,
                        "parametersJsonSchema": t.input_schema,
                    }
                    for t in request.tools
                ]
            }
        ]
        choice = o.tool_choice
        config: dict[str, Any] | None = None
        if isinstance(choice, dict):
            config = {"mode": "ANY", "allowedFunctionNames": [choice["tool"]]}
        elif choice is not None:
            config = {"mode": {"auto": "AUTO", "required": "ANY", "none": "NONE"}[choice]}
        if config is not None:
            body["toolConfig"] = {"functionCallingConfig": config}
    generation: dict[str, Any] = {}
    if o.temperature is not None:
        generation["temperature"] = o.temperature
    if o.top_p is not None:
        generation["topP"] = o.top_p
    if o.max_output_tokens is not None:
        generation["maxOutputTokens"] = o.max_output_tokens
    if o.reasoning_effort is not None:
        generation["thinkingConfig"] = {
            "thinkingBudget": THINKING_BUDGET[o.reasoning_effort],
            "includeThoughts": True,
        }
    if generation:
        body["generationConfig"] = generation
    return body


def to_usage(u: dict[str, Any]) -> Usage:
    thoughts = u.get("thoughtsTokenCount") or 0
    return Usage(
        input_tokens=u.get("promptTokenCount") or 0,
        output_tokens=(u.get("candidatesTokenCount") or 0) + thoughts,
        cached_input_tokens=u.get("cachedContentTokenCount") or 0,
        reasoning_tokens=thoughts,
    )


class GeminiProvider:
    """The Gemini API's ``streamGenerateContent`` over SSE."""

    def __init__(
        self,
        name: str,
        settings: ProviderSettings,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.name = name
        self._http = Endpoint(provider=name, settings=settings, client=client, auth=_auth)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        name = self.name
        body = to_request_body(request, name)
        model = request.model.removeprefix("models/")
        path = f"/v1beta/models/{model}:streamGenerateContent"
        index = -1
        text_open = False  # the block at ``index`` is an open text block
        thought_open = False
        calls = 0
        started = False
        finish: str | None = None
        async with aclosing(
            self._http.sse(path, body, model=model, params={"alt": "sse"})
        ) as events:
            with event_shape(name):
                async for _event, data in events:
                    chunk = obj(name, loads(name, data), "chunk")
                    if "error" in chunk:
                        _raise_error(name, chunk["error"])
                    if not started:
                        started = True
                        yield MessageStart(
                            str_at(name, chunk, "responseId", None),
                            str_at(name, chunk, "modelVersion", None),
                        )
                    candidates = arr(name, chunk.get("candidates"), "candidates")
                    if not candidates:
                        feedback = obj(name, chunk.get("promptFeedback"), "promptFeedback")
                        blocked = feedback.get("blockReason")
                        if blocked:
                            raise ProviderError(
                                f"{name}: the prompt was blocked ({blocked})", provider=name
                            )
                    for candidate in candidates[:1]:
                        candidate = obj(name, candidate, "candidates[]")
                        content = obj(name, candidate.get("content"), "candidates[].content")
                        for part in arr(name, content.get("parts"), "content.parts"):
                            part = obj(name, part, "parts[]")
                            signature = str_at(name, part, "thoughtSignature", None)
                            part_text = str_at(name, part, "text", None)
                            if part.get("thought"):
                                if not thought_open:
                                    if text_open:
                                        yield BlockStop(index)
                                    index += 1
                                    text_open, thought_open = False, True
                                    yield BlockStart(index, "reasoning")
                                if part_text:
                                    yield BlockDelta(index, "reasoning", part_text)
                                if signature:
                                    yield BlockDelta(index, "signature", signature)
                                continue
                            if thought_open:
                                yield BlockStop(index)
                                thought_open = False
                            if signature:
                                if text_open:
                                    yield BlockStop(index)
                                    text_open = False
                                index += 1
                                yield BlockStart(index, "reasoning")
                                yield BlockDelta(index, "signature", signature)
                                yield BlockStop(index)
                            if "functionCall" in part:
                                if text_open:
                                    yield BlockStop(index)
                                    text_open = False
                                call = obj(name, part["functionCall"], "functionCall")
                                index += 1
                                calls += 1
                                call_id = str_at(name, call, "id", None) or f"gemini_call_{calls}"
                                yield BlockStart(
                                    index,
                                    "tool_use",
                                    tool_id=call_id,
                                    tool_name=str_at(name, call, "name"),
                                )
                                args = obj(name, call.get("args"), "functionCall.args")
                                yield BlockDelta(index, "input_json", json.dumps(args))
                                yield BlockStop(index)
                            elif "text" in part:
                                if not text_open:
                                    index += 1
                                    text_open = True
                                    yield BlockStart(index, "text")
                                if part_text:
                                    yield BlockDelta(index, "text", part_text)
                            elif "inlineData" in part or "executableCode" in part:
                                continue  # not part of the neutral model
                        reason = str_at(name, candidate, "finishReason", None)
                        if reason:
                            finish = reason
                    usage = obj(name, chunk.get("usageMetadata"), "usageMetadata")
                    if usage:
                        yield UsageUpdate(to_usage(usage))
        if finish is None:
            fail(name, "the stream ended before a finishReason")
        if text_open or thought_open:
            yield BlockStop(index)
        stop = _FINISH.get(finish, finish.lower())
        if calls and stop == "end_turn":
            stop = "tool_use"
        yield MessageStop(stop)

    async def list_models(self) -> list[ModelInfo]:
        models: list[ModelInfo] = []
        params = {"pageSize": "1000"}
        while True:
            data = await self._http.get_json("/v1beta/models", params=params)
            for m in data.get("models") or ():
                methods = m.get("supportedGenerationMethods")
                if methods is not None and "generateContent" not in methods:
                    continue  # embedding and other non-chat models
                models.append(
                    ModelInfo(
                        id=str(m.get("name", "")).removeprefix("models/"),
                        provider=self.name,
                        display_name=m.get("displayName"),
                    )
                )
            token = data.get("nextPageToken")
            if not token:
                return models
            params = {"pageSize": "1000", "pageToken": token}

    async def aclose(self) -> None:
        await self._http.aclose()


def _raise_error(provider: str, error: Any) -> NoReturn:
    if not isinstance(error, dict):
        error = {"message": str(error)}
    code = error.get("code")
    status = code if isinstance(code, int) else None
    transient = status is None or status in TRANSIENT_STATUSES or status >= 500
    label = error.get("status") or code or "error"
    message = error.get("message") or label
    err = stream_error(provider, f"error mid-stream: {message} ({label})", transient=transient)
    err.status_code = status
    raise err
