"""Long-term memory: facts, episodes and summaries that later runs can search (issue #16).

The runtime calls into this package at a few single points (each marked ``# memory:``):
`tools_for` (the tool set), `session_for` (one agent's `MemorySession`), `with_recall` (the
first request's context) and the session's ``ingest_episode`` after a successful run. Nothing
heavy is imported here: the config model imports this package at start-up.
"""

from __future__ import annotations

import sys
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mentra.memory.base import MemoryRecord, MemoryStore
    from mentra.memory.config import MemoryConfig
    from mentra.memory.session import MemorySession
    from mentra.messages import Message
    from mentra.store.base import Store
    from mentra.tools.base import Tool

FALLBACK_NOTICE = (
    "this Python's SQLite has no FTS5: memory searches scan records instead of using the "
    "full-text index (slower, ranked by word counts)"
)

_SQLITE: dict[Path, MemoryStore] = {}
_OTHERS: weakref.WeakKeyDictionary[Any, MemoryStore] = weakref.WeakKeyDictionary()


def tools_for(config: MemoryConfig | None) -> dict[str, Tool]:
    """The memory tools of a config's ``memory:`` block: none when ``enabled`` is false, only
    `memory_search` when ``write_tools`` is false."""
    if config is not None and not config.enabled:
        return {}
    from mentra.memory.tools import MemoryForgetTool, MemoryPinTool, MemorySearchTool

    tools: list[Tool] = [MemorySearchTool()]
    if config is None or config.write_tools:
        tools += [MemoryPinTool(), MemoryForgetTool()]
    return {t.name: t for t in tools}


def store_for(store: Store, *, owner: object = None) -> MemoryStore:
    """The memory of a store: in the same SQLite file for an `SQLiteStore`; in process (one per
    store object) for any other, such as the in-memory store of an ``--ephemeral`` runtime.
    ``owner`` is no longer needed: every runtime has a store."""
    sqlite_store = sys.modules.get("mentra.store.sqlite")  # not imported: not an SQLiteStore
    if sqlite_store is not None and isinstance(store, sqlite_store.SQLiteStore):
        path = store.path.resolve()
        read_only = bool(getattr(store, "read_only", False))
        # a read-only store's view is its own (kept with the store object), not shared
        found = _OTHERS.get(store) if read_only else _SQLITE.get(path)
        if found is None:
            from mentra.memory.sqlite import SQLiteMemoryStore

            found = SQLiteMemoryStore(path, read_only=read_only)
            if read_only:
                _OTHERS[store] = found
            else:
                _SQLITE[path] = found
        return found
    found = _OTHERS.get(store)
    if found is None:
        from mentra.memory.inmemory import InMemoryMemoryStore

        found = _OTHERS[store] = InMemoryMemoryStore()
    return found


def close_store(store: Store | None) -> None:
    """Close the memory connection of an `SQLiteStore` (when the store itself closes)."""
    path = getattr(store, "path", None)
    if isinstance(path, Path):
        found = _OTHERS.pop(store) if store in _OTHERS else _SQLITE.pop(path.resolve(), None)
        if found is not None:
            found.close()


def session_for(
    config: MemoryConfig, *, store: Store, owner: object, agent_id: str, workspace: str
) -> MemorySession | None:
    """One agent's memory for a run; None when ``memory.enabled`` is false."""
    if not config.enabled:
        return None
    from mentra.memory.session import MemorySession

    memory = store_for(store, owner=owner)
    # the notice is for an SQLite file without FTS5; the in-memory backend always scans
    on_sqlite = hasattr(memory, "path")
    notice = FALLBACK_NOTICE if on_sqlite and not memory.full_text else None
    return MemorySession(
        memory, config, agent_id=agent_id, workspace=workspace, fallback_notice=notice
    )


def with_recall(history: list[Message], index: int | None, text: str | None) -> list[Message]:
    """The request's messages with the recalled text appended, as a text block, to the run's
    user message at ``index``; the stored history is not changed."""
    if text is None or index is None or not 0 <= index < len(history):
        return history
    from mentra.messages import Message, TextBlock

    target = history[index]
    patched = Message(role=target.role, content=[*target.content, TextBlock(text=text)])
    return [*history[:index], patched, *history[index + 1 :]]


# -- the agent's memory in export / import / delete-agent ---------------------------------------


def export_memory(store: Store, agent_id: str) -> list[dict[str, Any]]:
    return [r.to_json() for r in store_for(store).export_agent(agent_id)]


def parse_memory(records: object) -> list[MemoryRecord]:
    """The ``memory`` list of an export document; `UsageError` names what is wrong."""
    from mentra.errors import UsageError
    from mentra.memory.base import MemoryRecord

    if records is None:
        return []
    if not isinstance(records, list):
        raise UsageError("invalid agent export at memory: not a list")
    try:
        return [MemoryRecord.from_json(r) for r in records]
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise UsageError(f"invalid agent export at memory: {exc!r}") from None


def import_memory(
    store: Store, agent_id: str, records: list[MemoryRecord], *, workspace: str
) -> None:
    """Replace the agent's memory by ``records`` (from `parse_memory`)."""
    store_for(store).import_agent(agent_id, records, workspace=workspace)


def delete_agent_memory(store: Store, agent_id: str) -> int:
    return store_for(store).delete_agent(agent_id)


__all__ = [
    "FALLBACK_NOTICE",
    "close_store",
    "delete_agent_memory",
    "export_memory",
    "import_memory",
    "parse_memory",
    "session_for",
    "store_for",
    "tools_for",
    "with_recall",
]
