"""Micro-compaction (reference layer 1): in the request only, every tool result but the newest
``keep`` whose content is longer than 100 characters is sent as ``[Previous: used <tool>]``.
The stored transcript keeps every result whole.

`MicroCompactor` is the per-agent, per-round form: the history only grows at its end, so the
messages the previous request shared with this one are not looked at again (a tool round
costs the same whatever the length of the conversation).
"""

from __future__ import annotations

from collections.abc import Sequence

from mentra.messages import ContentBlock, Message, ToolResultBlock, ToolUseBlock

LONG_RESULT = 100  # characters; shorter results cost less than the placeholder's meaning


def placeholder(tool: str) -> str:
    return f"[Previous: used {tool}]"


def micro_compact(messages: list[Message], keep: int) -> list[Message]:
    """``messages`` with the older long tool results abbreviated; ``keep`` 0 changes nothing.
    Returns the same list when nothing is abbreviated (the common short conversation)."""
    return MicroCompactor(keep)(messages)


class MicroCompactor:
    __slots__ = ("_boundary", "_first_change", "_in", "_out", "keep")

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._in: list[Message] = []  # the previous request's messages
        self._out: list[Message] = []  # and what they became
        self._boundary = 0  # the previous request's first message holding a kept result
        self._first_change = 0  # the index of its first abbreviated message

    def __call__(self, messages: list[Message]) -> list[Message]:
        keep = self.keep
        if keep <= 0:
            return messages
        boundary, kept_in_boundary = _boundary(messages, keep)
        if boundary < 0:  # at most `keep` results in all
            return messages
        prev = self._in
        limit = min(len(prev), boundary, self._boundary)
        same = 0
        while same < limit and messages[same] is prev[same]:
            same += 1
        out = self._out[:same]
        first = self._first_change if self._first_change < same else len(messages)
        for i in range(same, boundary + 1):
            message = _abbreviated(messages, i, kept_in_boundary if i == boundary else None)
            if message is not messages[i] and first > i:
                first = i
            out.append(message)
        out.extend(messages[boundary + 1 :])
        # snapshots: the list given may be the agent's history, which grows after this
        self._in, self._out = list(messages), list(out)
        self._boundary, self._first_change = boundary, first
        return out if first < len(messages) else messages


def _boundary(messages: Sequence[Message], keep: int) -> tuple[int, int]:
    """The index of the message holding the oldest of the newest ``keep`` results, and how
    many of its results (its last ones) are kept; (-1, 0) when there are no more than that."""
    seen = 0
    for i in range(len(messages) - 1, -1, -1):
        message = messages[i]
        if message.role != "user":
            continue
        n = sum(1 for b in message.content if type(b) is ToolResultBlock)
        if seen + n > keep:
            return i, keep - seen
        seen += n
    return -1, 0


def _abbreviated(messages: Sequence[Message], i: int, kept: int | None) -> Message:
    """Message ``i`` with its long results abbreviated, but its last ``kept`` (None: none)."""
    message = messages[i]
    if message.role != "user":
        return message
    results = [j for j, b in enumerate(message.content) if type(b) is ToolResultBlock]
    old = results if not kept else results[:-kept]
    long = [j for j in old if len(message.content[j].content) > LONG_RESULT]  # type: ignore[union-attr]
    if not long:
        return message
    names = _tool_names(messages, i)
    content: list[ContentBlock] = list(message.content)
    for j in long:
        block = content[j]
        assert isinstance(block, ToolResultBlock)
        content[j] = block.model_copy(
            update={"content": placeholder(names.get(block.tool_use_id, "a tool"))}
        )
    return Message(role="user", content=content)


def _tool_names(messages: Sequence[Message], i: int) -> dict[str, str]:
    """Call id -> tool name: from the reply just before message ``i`` (where its calls are),
    else from the whole conversation."""

    def names(ms: Sequence[Message]) -> dict[str, str]:
        return {
            b.id: b.name
            for m in ms
            if m.role == "assistant"
            for b in m.content
            if isinstance(b, ToolUseBlock)
        }

    near = names(messages[max(i - 1, 0) : i])
    wanted = {b.tool_use_id for b in messages[i].content if isinstance(b, ToolResultBlock)}
    return near if wanted <= near.keys() else names(messages)
