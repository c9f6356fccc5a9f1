"""The neutral model of a conversation, shared by every provider and the store.

A message is a role plus content blocks. Providers map these both ways; the store keeps them as
JSON. Blocks are frozen pydantic models joined in one discriminated union.
"""

from __future__ import annotations

import gc
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    model_serializer,
)


class _Block(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class TextBlock(_Block):
    type: Literal["text"] = "text"
    text: str


class ImageBlock(_Block):
    """An image, inline (base64 ``data``) or by ``url``."""

    type: Literal["image"] = "image"
    media_type: str = "image/png"
    data: str | None = None
    url: str | None = None


class ToolUseBlock(_Block):
    """A tool call. ``raw_input`` keeps the model's text when it was not valid JSON."""

    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)
    raw_input: str | None = None


class ToolResultBlock(_Block):
    """A tool's answer: text, and images where the tool gave some (an MCP server's image
    content). Each wire sends the images as its API takes them (see the providers)."""

    type: Literal["tool_result"] = "tool_result"
    tool_use_id: str
    content: str
    is_error: bool = False
    images: tuple[ImageBlock, ...] = ()

    @model_serializer(mode="wrap")
    def _omit_no_images(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Stored transcripts stay as they were for the results without images."""
        data: dict[str, Any] = handler(self)
        if not self.images:
            data.pop("images", None)
        return data


class ReasoningBlock(_Block):
    """Model reasoning. ``signature`` (Anthropic) and ``encrypted`` (OpenAI) are replayed as-is.

    ``provider`` names the wire that produced it: opaque fields are only replayed to that wire.
    ``item_id`` keeps a provider's own id of the reasoning item where it has one.
    """

    type: Literal["reasoning"] = "reasoning"
    text: str = ""
    signature: str | None = None
    encrypted: str | None = None
    redacted: bool = False
    provider: str | None = None
    item_id: str | None = None


ContentBlock = Annotated[
    TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock | ReasoningBlock,
    Field(discriminator="type"),
]


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Literal["user", "assistant"]
    content: list[ContentBlock]

    @property
    def text(self) -> str:
        """The concatenated text blocks: what a person reads as the message."""
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))

    @property
    def tool_uses(self) -> list[ToolUseBlock]:
        return [b for b in self.content if isinstance(b, ToolUseBlock)]

    @classmethod
    def user_text(cls, text: str) -> Message:
        return cls(role="user", content=[TextBlock(text=text)])


@cache
def messages_adapter() -> TypeAdapter[list[Message]]:
    """Parses a JSON array of messages in one call (built on first use, not at import)."""
    return TypeAdapter(list[Message])


def parse_messages_json(text: str | bytes) -> list[Message]:
    """A JSON array of messages, parsed in one call with the cyclic collector paused: a parse
    only creates live, acyclic objects, and for a long transcript the collector would otherwise
    re-scan them dozens of times (half the parse time). Raises ``ValidationError``."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return messages_adapter().validate_json(text)
    finally:
        if paused:
            gc.enable()


class Usage(BaseModel):
    """Token usage, normalised across providers. ``input_tokens`` excludes nothing: it is the
    whole prompt, of which ``cached_input_tokens`` were read from cache."""

    model_config = ConfigDict(extra="forbid")

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, other: Usage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cached_input_tokens += other.cached_input_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.reasoning_tokens += other.reasoning_tokens
