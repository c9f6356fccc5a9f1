"""The token estimate of a request (reference: ceil(chars / 4) of the JSON of its messages plus
the system prompt), with an optional real tokenizer for OpenAI models.

Messages are frozen, so the JSON length of each is computed once and remembered by identity:
the per-round cost is a lookup per message, not a serialization of the whole history.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mentra.messages import Message

_CACHE_LIMIT = 8192
# what one image costs a request, in tokens: the providers count pixels, not base64 (Anthropic
# about w*h/750, at most ~1,600 for an image they do not shrink; OpenAI ~1,100 in high detail)
IMAGE_TOKENS = 1600

Counter = Callable[[str], int]


class TokenEstimator:
    """``estimate(messages, system)``: estimated tokens of a request. One per agent.

    With a ``loader`` (a real tokenizer's counter, made on demand), requests are measured in
    chars / 4 until one reaches ``precise_above``; from then on the tokenizer counts. A short
    run never loads it."""

    __slots__ = ("_count", "_loader", "_precise_above", "_prev", "_prev_sums", "_sizes")

    def __init__(
        self,
        count: Counter | None = None,
        *,
        loader: Callable[[], Counter | None] | None = None,
        precise_above: int = 0,
    ) -> None:
        self._count = count  # a real tokenizer's counter, or None for chars / 4
        self._loader = loader
        self._precise_above = precise_above
        self._sizes: dict[int, tuple[Message, int]] = {}  # id -> (message kept alive, size)
        # the previous request's messages and the running sums of their sizes: the next
        # request shares all but its last few, so only those are looked up
        self._prev: Sequence[Message] = ()
        self._prev_sums: list[int] = [0]

    def _size(self, message: Message) -> int:
        key = id(message)
        hit = self._sizes.get(key)
        if hit is not None and hit[0] is message:
            return hit[1]
        text = message.model_dump_json()
        images = _inline_images(message)
        for data in images:  # base64 is not text to the model: drop it, count the image
            text = text.replace(data, "", 1)
        size = self._count(text) if self._count is not None else len(text)
        if images:
            size += len(images) * (IMAGE_TOKENS if self._count is not None else IMAGE_TOKENS * 4)
        if len(self._sizes) >= _CACHE_LIMIT:
            self._sizes.clear()
        self._sizes[key] = (message, size)
        return size

    def estimate(self, messages: Sequence[Message], system: str | None) -> int:
        if self._loader is not None:
            rough = self._chars_over_four(messages, system)
            if rough < self._precise_above:
                return rough
            self._count, self._loader = self._loader(), None
            self._sizes.clear()  # sizes were characters; from now on they are tokens
            self._prev, self._prev_sums = (), [0]
        if self._count is not None:
            return self._sum(messages) + (self._count(system) if system else 0)
        return self._chars_over_four(messages, system)

    def _sum(self, messages: Sequence[Message]) -> int:
        prev = self._prev
        limit = min(len(prev), len(messages))
        same = 0
        while same < limit and messages[same] is prev[same]:
            same += 1
        sums = self._prev_sums[: same + 1]
        total = sums[-1]
        size = self._size
        for i in range(same, len(messages)):
            total += size(messages[i])
            sums.append(total)
        # a snapshot: the list given may be the agent's history, which grows after this
        self._prev, self._prev_sums = list(messages), sums
        return total

    def _chars_over_four(self, messages: Sequence[Message], system: str | None) -> int:
        sizes = self._sum(messages)
        # the JSON array: brackets and commas between the messages
        chars = sizes + 2 + max(len(messages) - 1, 0) + (len(system) if system else 0)
        return math.ceil(chars / 4)


def _inline_images(message: Message) -> list[str]:
    """The base64 data of the message's inline images, a tool result's included."""
    from mentra.messages import ImageBlock, ToolResultBlock

    found: list[str] = []
    for block in message.content:
        if type(block) is ImageBlock and block.data:
            found.append(block.data)
        elif type(block) is ToolResultBlock:
            found.extend(i.data for i in block.images if i.data)
    return found


def estimator_for(provider_wire: str | None, model: str, *, precise_above: int) -> TokenEstimator:
    """chars / 4; for an OpenAI model, `tiktoken` (where it is installed) once a request gets
    past ``precise_above`` estimated tokens. Never imported by a run that stays short."""
    if provider_wire in ("openai-responses", "openai-chat") and _openai_model(model):
        return TokenEstimator(loader=lambda: _tiktoken_counter(model), precise_above=precise_above)
    return TokenEstimator()


def _openai_model(model: str) -> bool:
    name = model.rsplit("/", 1)[-1].lower()
    return name.startswith(("gpt-", "o1", "o3", "o4", "chatgpt-"))


def _tiktoken_counter(model: str) -> Counter | None:
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        try:
            encoding = tiktoken.encoding_for_model(model)
        except KeyError:
            encoding = tiktoken.get_encoding("o200k_base")
    except Exception:  # its encoding files could not be loaded (no network): chars / 4
        return None

    def count(text: str) -> int:
        return len(encoding.encode(text, disallowed_special=()))

    return count
