"""The `Provider` protocol and the neutral stream every wire adapter produces.

An adapter turns a `ModelRequest` into its wire request and its wire stream into
`StreamEvent`s; `ReplyBuilder` folds those into one assistant `Message`. Stream events are
slotted dataclasses, not pydantic models: they are made once per delta on the hot path.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from mentra.messages import (
    ContentBlock,
    Message,
    ReasoningBlock,
    TextBlock,
    ToolUseBlock,
    Usage,
)

ToolChoice = str | dict[str, str]  # "auto" | "required" | "none" | {"tool": NAME}


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """What a model is told about one tool."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(slots=True)
class ModelOptions:
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    tool_choice: ToolChoice | None = None
    reasoning_effort: Literal["low", "medium", "high"] | None = None
    # provider-side prompt caching (Anthropic breakpoints, OpenAI prompt_cache_key); off with
    # ``model_options.prompt_cache: false``
    prompt_cache: bool = True


@dataclass(slots=True)
class ModelRequest:
    model: str
    messages: list[Message]
    system: str | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    options: ModelOptions = field(default_factory=ModelOptions)
    # a stable, opaque per-agent value (`prompt_cache_key`) that lets a provider route the
    # rounds of one conversation to the same prompt cache; None: the provider's default
    cache_key: str | None = None
    # context compaction (mentra.context): a summary request is "compaction"; folded_turns
    # counts the assistant turns a compaction replaced by its summary (the scripted provider
    # counts them to find its place in a script). The wires send neither.
    purpose: Literal["turn", "compaction"] = "turn"
    folded_turns: int = 0


@functools.lru_cache(maxsize=64)
def prompt_cache_key(agent_id: str) -> str:
    """The cache key of an agent's requests: a hash, so a chosen ``--agent-id`` (which may
    name a customer or a ticket) never leaves the machine in clear."""
    import hashlib  # only a run that makes a request needs it

    return "mentra-" + hashlib.sha256(agent_id.encode()).hexdigest()[:32]


BlockKind = Literal["text", "tool_use", "reasoning"]
DeltaKind = Literal["text", "input_json", "reasoning", "signature", "encrypted"]


@dataclass(slots=True)
class MessageStart:
    id: str | None = None
    model: str | None = None


@dataclass(slots=True)
class BlockStart:
    """A content block opens at ``index`` (indexes are the adapter's, unique per reply)."""

    index: int
    kind: BlockKind
    tool_id: str | None = None
    tool_name: str | None = None
    item_id: str | None = None
    redacted: bool = False


@dataclass(slots=True)
class BlockDelta:
    index: int
    kind: DeltaKind
    text: str


@dataclass(slots=True)
class BlockStop:
    index: int


@dataclass(slots=True)
class UsageUpdate:
    """Usage as the provider reports it; later updates replace earlier ones field by field
    when non-zero (providers report cumulative figures)."""

    usage: Usage


@dataclass(slots=True)
class MessageStop:
    stop_reason: str | None = None


StreamEvent = MessageStart | BlockStart | BlockDelta | BlockStop | UsageUpdate | MessageStop


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    provider: str
    created: datetime | None = None
    display_name: str | None = None


@runtime_checkable
class Provider(Protocol):
    """A model endpoint. ``stream`` raises `ProviderError` (with ``transient`` set for faults
    worth retrying); the agent loop owns retries, so adapters never retry on their own."""

    name: str

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]: ...

    async def list_models(self) -> list[ModelInfo]: ...

    async def aclose(self) -> None: ...


def parse_tool_input(raw: str) -> tuple[dict[str, Any], str | None]:
    """Parse streamed tool arguments. Returns ``(input, None)`` or ``({}, raw)`` when the text
    is not a JSON object, so the loop can tell the model what was wrong."""
    if not raw.strip():
        return {}, None
    try:
        value = json.loads(raw)
    except ValueError:
        return {}, raw
    if not isinstance(value, dict):
        return {}, raw
    return value, None


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
dumps_compact = _COMPACT.encode
"""``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``: how request bodies are sent."""


def _prebuilt_encoder(*, compact: bool) -> Callable[[Any], str]:
    """CPython's C encoder, built once: ``json.dumps`` rebuilds it on every call, a cost paid
    per message when a long history is encoded. ``compact``: `dumps_compact`; otherwise the
    output of a plain ``json.dumps(value)``."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return dumps_compact if compact else json.dumps
    enc = make(
        None,
        _COMPACT.default,
        json.encoder.encode_basestring if compact else json.encoder.encode_basestring_ascii,
        None,
        ":" if compact else ": ",
        "," if compact else ", ",
        False,
        False,
        True,
    )
    return lambda value: "".join(enc(value, 0))


_encode_compact = _prebuilt_encoder(compact=True)
dumps_plain = _prebuilt_encoder(compact=False)
"""``json.dumps(value)``, byte for byte (tool arguments re-sent as the model's own text)."""


def _encode_items(items: list[Any]) -> str:
    """``dumps_compact(items)`` without its brackets."""
    return _encode_compact(items)[1:-1]


class BodyEncoder:
    """Encodes request bodies whose history array is re-sent every round.

    The items of the previous request's messages are kept encoded, as one string. A round only
    appends to the history, so when the next request's messages start with the same (frozen)
    message objects, only the new ones are converted and encoded; otherwise (a new history, a
    rewritten one) everything is, in one call of the C encoder. The bytes are exactly
    ``dumps_compact(body)`` of the body with the items in place.

    ``marked`` messages (Anthropic's cache breakpoints: the newest messages) have their items
    passed through ``mark`` on the way out; what is kept for reuse is only the unmarked part
    before the first of them, so a mark never outlives the request it was made for.
    """

    __slots__ = ("_convert", "_encoded", "_mark", "_messages")

    def __init__(
        self,
        convert: Callable[[Message], list[dict[str, Any]]],
        mark: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
    ) -> None:
        self._convert = convert
        self._mark = mark
        self._messages: list[Message] = []
        self._encoded = ""  # the items of ``_messages``, comma-separated, no brackets

    def encode(
        self,
        body: dict[str, Any],
        key: str,
        messages: Sequence[Message],
        head: Sequence[dict[str, Any]] = (),
        marked: Sequence[int] = (),
    ) -> bytes:
        """``body`` with ``body[key]`` = ``head`` + the items of every message, as JSON bytes;
        the items of the messages at the indexes ``marked`` go through ``mark``."""
        kept = min(marked, default=len(messages)) if self._mark is not None else len(messages)
        known = self._messages
        reused = len(known)
        if reused > kept or not all(map(operator.is_, known, messages)):
            reused = 0
        convert = self._convert
        added = _encode_items([item for m in messages[reused:kept] for item in convert(m)])
        encoded = self._encoded if reused else ""
        if added:
            encoded = f"{encoded},{added}" if encoded else added
        self._messages = list(messages[:kept])
        self._encoded = encoded
        parts = [dumps_compact(item) for item in head]
        if encoded:
            parts.append(encoded)
        if kept < len(messages):
            mark = self._mark
            assert mark is not None
            tail: list[dict[str, Any]] = []
            for i in range(kept, len(messages)):
                items = convert(messages[i])
                tail.extend(mark(items) if i in marked else items)
            if tail:
                parts.append(_encode_items(tail))
        array = "[" + ",".join(parts) + "]"
        return (
            "{"
            + ",".join(
                dumps_compact(k) + ":" + (array if k == key else dumps_compact(v))
                for k, v in body.items()
            )
            + "}"
        ).encode()


@dataclass(slots=True)
class _OpenBlock:
    kind: BlockKind
    parts: list[str] = field(default_factory=list)
    tool_id: str | None = None
    tool_name: str | None = None
    item_id: str | None = None
    signature: list[str] = field(default_factory=list)
    encrypted: list[str] = field(default_factory=list)
    redacted: bool = False


class ReplyBuilder:
    """Folds a stream of `StreamEvent`s into one assistant `Message`, usage and stop reason.

    Blocks are emitted in the order they opened, whatever order they close in, so parallel
    tool calls interleaved on the wire keep their call order.
    """

    __slots__ = ("_blocks", "_order", "message_id", "model", "provider", "stop_reason", "usage")

    def __init__(self, provider: str | None = None) -> None:
        self._blocks: dict[int, _OpenBlock] = {}
        self._order: list[int] = []
        self.usage = Usage()
        self.stop_reason: str | None = None
        self.message_id: str | None = None
        self.model: str | None = None
        self.provider = provider

    def feed(self, event: StreamEvent) -> None:
        if type(event) is BlockDelta:
            block = self._blocks.get(event.index)
            if block is None:
                block = self._open(BlockStart(event.index, _kind_for(event.kind)))
            if event.kind == "signature":
                block.signature.append(event.text)
            elif event.kind == "encrypted":
                block.encrypted.append(event.text)
            else:
                block.parts.append(event.text)
        elif type(event) is BlockStart:
            if event.index not in self._blocks:
                self._open(event)
            else:
                b = self._blocks[event.index]
                b.tool_id = b.tool_id or event.tool_id
                b.tool_name = b.tool_name or event.tool_name
        elif type(event) is UsageUpdate:
            _merge_usage(self.usage, event.usage)
        elif type(event) is MessageStop:
            if event.stop_reason is not None:
                self.stop_reason = event.stop_reason
        elif type(event) is MessageStart:
            self.message_id = event.id or self.message_id
            self.model = event.model or self.model

    def _open(self, start: BlockStart) -> _OpenBlock:
        block = _OpenBlock(
            kind=start.kind,
            tool_id=start.tool_id,
            tool_name=start.tool_name,
            item_id=start.item_id,
            redacted=start.redacted,
        )
        self._blocks[start.index] = block
        self._order.append(start.index)
        return block

    @property
    def has_content(self) -> bool:
        return bool(self._order)

    def message(self) -> Message:
        content: list[ContentBlock] = []
        for index in self._order:
            b = self._blocks[index]
            text = "".join(b.parts)
            if b.kind == "text":
                if text:
                    content.append(TextBlock(text=text))
            elif b.kind == "tool_use":
                tool_input, raw = parse_tool_input(text)
                content.append(
                    ToolUseBlock(
                        id=b.tool_id or f"call_{index}",
                        name=b.tool_name or "",
                        input=tool_input,
                        raw_input=raw,
                    )
                )
            else:
                signature = "".join(b.signature) or None
                encrypted = "".join(b.encrypted) or None
                if text or signature or encrypted or b.redacted:
                    content.append(
                        ReasoningBlock(
                            text=text,
                            signature=signature,
                            encrypted=encrypted,
                            redacted=b.redacted,
                            provider=self.provider,
                            item_id=b.item_id,
                        )
                    )
        return Message(role="assistant", content=content)


def _kind_for(delta: DeltaKind) -> BlockKind:
    if delta == "input_json":
        return "tool_use"
    if delta == "text":
        return "text"
    return "reasoning"


def _merge_usage(into: Usage, update: Usage) -> None:
    for name in (
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
    ):
        value = getattr(update, name)
        if value:
            setattr(into, name, value)
