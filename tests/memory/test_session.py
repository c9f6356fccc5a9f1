"""The session's pieces without a process: summaries, recall budget and time limit, the tools'
inputs and lanes, and the request-only recall block."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from mentra import memory
from mentra.config import AgentConfig
from mentra.memory.base import MemoryHit, Scope
from mentra.memory.config import MemoryConfig
from mentra.memory.inmemory import InMemoryMemoryStore
from mentra.memory.session import MemorySession
from mentra.memory.sqlite import SQLiteMemoryStore
from mentra.memory.tools import MemoryForgetTool, MemoryPinTool, MemorySearchTool
from mentra.messages import Message, TextBlock
from mentra.permissions.policy import RuntimePolicy
from mentra.tools.base import ToolContext, ToolInputError


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def emit(self, cls: type, **fields: Any) -> None:
        self.seen.append((cls.__name__, fields))


def session(store: Any = None, **cfg: Any) -> MemorySession:
    return MemorySession(
        store or InMemoryMemoryStore(), MemoryConfig(**cfg), agent_id="a1", workspace="/ws"
    )


def test_add_summary_is_a_searchable_redacted_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOME_API_KEY", "key-abcdefgh-1234")
    s = session(SQLiteMemoryStore(tmp_path / "s.db"))
    events = Events()
    s.bind(events)
    record = s.add_summary("We migrated the cache; key-abcdefgh-1234 was used", revision=7)
    assert record.id == "summary:a1:7" and record.kind == "summary"
    assert "key-abcdefgh-1234" not in record.content and "***" in record.content
    (hit,) = s.search("cache migrated")
    assert hit.record.id == "summary:a1:7" and "summary" in hit.why_retrieved
    assert events.seen == [
        (
            "MemoryUpdated",
            {
                "key": "summary:a1:7",
                "action": "ingested",
                "record_id": "summary:a1:7",
                "kind": "summary",
            },
        )
    ]
    s.store.close()


async def test_recall_gives_up_after_250_ms() -> None:
    class Slow(InMemoryMemoryStore):
        def search(self, query: str, scope: Scope, *, limit: int = 5) -> list[MemoryHit]:
            time.sleep(1.0)
            return super().search(query, scope, limit=limit)

    s = session(Slow())
    s.pin("slow fact")
    started = time.monotonic()
    assert await s.recall("slow fact?") is None
    assert time.monotonic() - started < 0.6


async def test_recall_off_or_empty() -> None:
    s = session(auto_recall=False)
    s.pin("a fact about caching")
    assert await s.recall("caching") is None
    s = session()
    assert await s.recall("caching") is None  # nothing stored
    s.pin("a fact about caching")
    text = await s.recall("caching")
    assert text is not None and "a fact about caching" in text


def test_with_recall_leaves_the_history_alone() -> None:
    history = [Message.user_text("hello"), Message.user_text("prompt")]
    out = memory.with_recall(history, 1, "RECALLED")
    assert [b.text for b in out[1].content if isinstance(b, TextBlock)] == ["prompt", "RECALLED"]
    assert [b.text for b in history[1].content if isinstance(b, TextBlock)] == ["prompt"]
    assert memory.with_recall(history, None, "x") is history
    assert memory.with_recall(history, 1, None) is history


def test_tools_for_the_config() -> None:
    every = {"memory_search", "memory_pin", "memory_forget"}
    assert set(memory.tools_for(AgentConfig().memory)) == every
    assert set(memory.tools_for(None)) == every
    no_write = AgentConfig.model_validate({"memory": {"write_tools": False}})
    assert set(memory.tools_for(no_write.memory)) == {"memory_search"}
    off = AgentConfig.model_validate({"memory": {"enabled": False}})
    assert memory.tools_for(off.memory) == {}


def test_tool_inputs_and_lanes() -> None:
    search = MemorySearchTool()
    assert not search.mutates and MemoryPinTool().mutates and MemoryForgetTool().mutates
    with pytest.raises(ToolInputError, match="limit"):
        search.parse_input({"query": "x", "limit": 11})
    with pytest.raises(ToolInputError):
        MemoryPinTool().parse_input({"content": ""})
    assert search.input_schema["properties"]["limit"]["maximum"] == 10


async def test_forget_tool_only_in_its_scope(tmp_path: Path) -> None:
    store = InMemoryMemoryStore()
    mine = session(store)
    other = MemorySession(store, MemoryConfig(), agent_id="a2", workspace="/ws")
    theirs = other.pin("a fact of agent two")
    ctx = ToolContext(policy=RuntimePolicy(working_dir=tmp_path), services={"memory": mine})
    tool = MemoryForgetTool()
    result = await tool.run(tool.parse_input({"record_id": theirs.id}), ctx)
    assert result.is_error and store.get(theirs.id) is not None
    own = mine.pin("a fact of agent one")
    result = await tool.run(tool.parse_input({"record_id": own.id}), ctx)
    assert not result.is_error and store.get(own.id) is None
    search = MemorySearchTool()
    found = await search.run(search.parse_input({"query": "fact"}), ctx)
    assert json.loads(found.content) == []  # agent scope: a2's fact is not a1's


def test_memory_block_in_config_refuses_unknown_keys() -> None:
    with pytest.raises(ValueError, match="extra"):
        AgentConfig.model_validate({"memory": {"scop": "agent"}})
    with pytest.raises(ValueError):
        AgentConfig.model_validate({"memory": {"scope": "team"}})


def test_fallback_notice_once(tmp_path: Path) -> None:
    s = MemorySession(
        SQLiteMemoryStore(tmp_path / "s.db", full_text=False),
        MemoryConfig(),
        agent_id="a1",
        workspace="/ws",
        fallback_notice=memory.FALLBACK_NOTICE,
    )
    events = Events()
    s.bind(events)
    s.bind(events)
    assert [name for name, _ in events.seen] == ["Notice"]
    s.store.close()


async def test_recall_runs_off_the_event_loop() -> None:
    # the search runs in a thread: the loop keeps serving other tasks meanwhile
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    class Slowish(InMemoryMemoryStore):
        def search(self, query: str, scope: Scope, *, limit: int = 5) -> list[MemoryHit]:
            time.sleep(0.1)
            return super().search(query, scope, limit=limit)

    s = session(Slowish())
    s.pin("a fact")
    task = asyncio.create_task(ticker())
    assert await s.recall("fact") is not None
    task.cancel()
    assert ticks >= 3
