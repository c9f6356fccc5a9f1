"""Micro-compaction (reference layer 1): in the request only, every tool result but the newest
``keep`` whose content is longer than 100 characters is sent as ``[Previous: used <tool>]``.
The stored transcript keeps every result whole.
"""

from __future__ import annotations

from mentra.messages import ContentBlock, Message, ToolResultBlock, ToolUseBlock

LONG_RESULT = 100  # characters; shorter results cost less than the placeholder's meaning


def placeholder(tool: str) -> str:
    return f"[Previous: used {tool}]"


_Cache = dict[tuple[int, frozenset[int]], tuple[Message, Message]]


def micro_compact(messages: list[Message], keep: int, cache: _Cache | None = None) -> list[Message]:
    """``messages`` with the older long tool results abbreviated; ``keep`` 0 changes nothing.
    Returns the same list when nothing is abbreviated (the common short conversation).
    ``cache`` (one per agent) keeps each abbreviated message, so the next request reuses the
    same object (and the estimator its size) instead of building it again."""
    if keep <= 0:
        return messages
    positions: list[tuple[int, int]] = []  # (message index, block index) of every result
    for i, message in enumerate(messages):
        if message.role != "user":
            continue
        for j, block in enumerate(message.content):
            if isinstance(block, ToolResultBlock):
                positions.append((i, j))
    older = positions[:-keep]
    targets: dict[int, set[int]] = {}
    for i, j in older:
        block = messages[i].content[j]
        assert isinstance(block, ToolResultBlock)
        if len(block.content) > LONG_RESULT:
            targets.setdefault(i, set()).add(j)
    if not targets:
        return messages
    names = _tool_names(messages)
    out = list(messages)
    for i, blocks in targets.items():
        key = (id(messages[i]), frozenset(blocks))
        if cache is not None and (hit := cache.get(key)) is not None and hit[0] is messages[i]:
            out[i] = hit[1]
            continue
        content: list[ContentBlock] = []
        for j, block in enumerate(messages[i].content):
            if j in blocks and isinstance(block, ToolResultBlock):
                name = names.get(block.tool_use_id, "a tool")
                block = block.model_copy(update={"content": placeholder(name)})
            content.append(block)
        out[i] = Message(role="user", content=content)
        if cache is not None:
            if len(cache) >= 4096:
                cache.clear()
            cache[key] = (messages[i], out[i])
    return out


def _tool_names(messages: list[Message]) -> dict[str, str]:
    return {
        b.id: b.name
        for m in messages
        if m.role == "assistant"
        for b in m.content
        if isinstance(b, ToolUseBlock)
    }
