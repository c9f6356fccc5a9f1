"""Strict request validators: what picky servers accept, not what the official SDKs' types allow.

The Chat Completions models mirror the required fields and types of the pydantic request models
of llama.cpp's Python server (`llama_cpp.server`, whose `ChatCompletionRequestAssistantMessage`
rejects ``"content": null`` with HTTP 500 and seven validation errors), vLLM's `protocol.py` and
Ollama's OpenAI layer: every message's ``content`` is a string (or, for a user, a list of typed
parts), tool calls carry ``id``, ``type: function`` and string ``arguments``. llama-cpp-python
itself is not installed: it compiles llama.cpp and needs model weights.

The other wires get the rules their servers enforce beyond the SDK types: Anthropic refuses
empty text blocks and a tool result outside a user turn; Gemini wants exactly one data field
per part; the Responses API wants string ``arguments``/``output`` and no null content.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, TypeAdapter


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class _Open(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


# -- Chat Completions ---------------------------------------------------------------------------


class ChatFunctionCall(_Strict):
    name: StrictStr = Field(min_length=1)
    arguments: StrictStr


class ChatToolCall(_Strict):
    id: StrictStr = Field(min_length=1)
    type: Literal["function"]
    function: ChatFunctionCall


class ChatTextPart(_Strict):
    type: Literal["text"]
    text: StrictStr


class ChatImageUrl(_Strict):
    url: StrictStr = Field(min_length=1)


class ChatImagePart(_Strict):
    type: Literal["image_url"]
    image_url: ChatImageUrl


ChatPart = Annotated[ChatTextPart | ChatImagePart, Field(discriminator="type")]


class ChatSystem(_Strict):
    role: Literal["system"]
    content: StrictStr


class ChatUser(_Strict):
    role: Literal["user"]
    content: StrictStr | list[ChatPart]


class ChatAssistant(_Strict):
    role: Literal["assistant"]
    content: StrictStr  # not Optional: null is what llama.cpp's server refuses
    tool_calls: list[ChatToolCall] | None = Field(None, min_length=1)


class ChatTool(_Strict):
    role: Literal["tool"]
    tool_call_id: StrictStr = Field(min_length=1)
    content: StrictStr


ChatMessage = Annotated[
    ChatSystem | ChatUser | ChatAssistant | ChatTool, Field(discriminator="role")
]


class ChatFunctionSpec(_Strict):
    name: StrictStr
    description: StrictStr
    parameters: dict[str, Any]


class ChatToolSpec(_Strict):
    type: Literal["function"]
    function: ChatFunctionSpec


class ChatRequest(_Open):
    model: StrictStr
    messages: list[ChatMessage] = Field(min_length=1)
    stream: StrictBool
    tools: list[ChatToolSpec] | None = None


# -- Anthropic Messages --------------------------------------------------------------------------


class AnthropicText(_Open):
    type: Literal["text"]
    text: StrictStr = Field(min_length=1)  # "text content blocks must be non-empty"


class AnthropicToolUse(_Open):
    type: Literal["tool_use"]
    id: StrictStr
    name: StrictStr
    input: dict[str, Any]


class AnthropicToolResult(_Open):
    type: Literal["tool_result"]
    tool_use_id: StrictStr
    content: StrictStr | list[AnthropicText]


class AnthropicOther(_Open):
    type: Literal["image", "thinking", "redacted_thinking", "document"]


AnthropicBlock = Annotated[
    AnthropicText | AnthropicToolUse | AnthropicToolResult | AnthropicOther,
    Field(discriminator="type"),
]


class AnthropicMessage(_Strict):
    role: Literal["user", "assistant"]
    content: StrictStr | list[AnthropicBlock] = Field(min_length=1)


class AnthropicRequest(_Open):
    model: StrictStr
    max_tokens: int
    messages: list[AnthropicMessage] = Field(min_length=1)


# -- Gemini ---------------------------------------------------------------------------------------

_GEMINI_DATA = ("text", "inlineData", "fileData", "functionCall", "functionResponse")


class GeminiPart(_Open):
    text: StrictStr | None = None
    thought: StrictBool | None = None
    thoughtSignature: StrictStr | None = None


class GeminiContent(_Strict):
    role: Literal["user", "model"]
    parts: list[GeminiPart] = Field(min_length=1)


class GeminiRequest(_Open):
    contents: list[GeminiContent] = Field(min_length=1)


# -- OpenAI Responses -----------------------------------------------------------------------------


class ResponsesFunctionCall(_Open):
    type: Literal["function_call"]
    call_id: StrictStr
    name: StrictStr
    arguments: StrictStr


class ResponsesFunctionOutput(_Open):
    type: Literal["function_call_output"]
    call_id: StrictStr
    output: StrictStr


class ResponsesMessage(_Open):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: StrictStr | list[dict[str, Any]]


class ResponsesReasoning(_Open):
    type: Literal["reasoning"]
    summary: list[dict[str, Any]]


def _responses_item(item: Any) -> BaseModel:
    kind = item.get("type", "message") if isinstance(item, dict) else None
    model: type[BaseModel] = {
        "function_call": ResponsesFunctionCall,
        "function_call_output": ResponsesFunctionOutput,
        "message": ResponsesMessage,
        "reasoning": ResponsesReasoning,
    }[str(kind)]
    return model.model_validate(item)


def _no_nulls(value: Any, where: str = "body") -> None:
    """Strict servers treat an explicit null as a wrong type: none anywhere in a body."""
    if value is None:
        raise AssertionError(f"null at {where}")
    if isinstance(value, dict):
        for k, v in value.items():
            _no_nulls(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_nulls(v, f"{where}[{i}]")


def validate(wire: str, body: dict[str, Any]) -> None:
    """Raise if ``body`` would be refused by a strict server of ``wire``."""
    if wire == "openai-chat":
        ChatRequest.model_validate(body)
    elif wire == "anthropic":
        AnthropicRequest.model_validate(body)
    elif wire == "gemini":
        request = GeminiRequest.model_validate(body)
        for content in request.contents:
            for part in content.parts:
                given = [k for k in _GEMINI_DATA if (part.model_extra or {}).get(k) is not None]
                given += ["text"] if part.text is not None else []
                if len(given) != 1 and not (part.thoughtSignature and not given):
                    raise AssertionError(f"a Gemini part needs exactly one data field: {given}")
    elif wire == "openai-responses":
        TypeAdapter(list[Any]).validate_python(body["input"])
        for item in body["input"]:
            _responses_item(item)
    else:
        raise AssertionError(wire)
    _no_nulls(body)
