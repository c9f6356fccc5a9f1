"""Where a session's store calls run: SQLite's on one worker thread, off the event loop (so a
slow write does not stall streaming or the lease heartbeat); the in-memory store's inline."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import mentra
from mentra.store.async_store import AsyncStore
from mentra.store.in_memory import InMemoryStore
from mentra.store.sqlite import SQLiteStore
from mentra.store.testing import assistant, make_agent, make_run

RUN_CALLS = (
    "acquire_lease",
    "interrupt_stale_runs",
    "begin_run",
    "commit_round",
    "commit_tool_result",
    "finish_run",
    "release_lease",
)
TOOL_ROUND = (
    "turns:\n"
    "  - text: Looking.\n"
    "    tool_calls: [{name: files, input: {operations: [{op: list, path: .}]}}]\n"
    "  - text: done\n"
)


def _recording(base: type[Any], seen: list[tuple[str, int]], delay: float = 0.0) -> Any:
    """``base`` with every run-path call noted (name, thread); ``commit_round`` slowed."""

    def wrap(name: str) -> Any:
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append((name, threading.get_ident()))
            if name == "commit_round" and delay:
                time.sleep(delay)  # a busy SQLite file, a PostgreSQL round trip
            return getattr(base, name)(self, *args, **kwargs)

        return method

    return type(f"Recording{base.__name__}", (base,), {n: wrap(n) for n in RUN_CALLS})


async def _run(runtime: mentra.Runtime, script: Path) -> tuple[list[Any], int]:
    """The session's events, and how often the event loop ticked while it ran."""
    ticks = 0
    running = True

    async def ticker() -> None:
        nonlocal ticks
        while running:
            await asyncio.sleep(0.01)
            ticks += 1

    tick_task = asyncio.ensure_future(ticker())
    session = runtime.create_session("a", f"scripted:{script}")
    events = [event async for event in session.run("hi")]
    running = False
    await tick_task
    return events, ticks


def test_sqlite_run_calls_go_to_one_worker_thread_and_leave_the_loop_free(
    tmp_path: Path,
) -> None:
    seen: list[tuple[str, int]] = []
    store = _recording(SQLiteStore, seen, delay=0.2)(tmp_path / "s.sqlite")
    runtime = mentra.Runtime.builder(tmp_path).store(store, "s.sqlite").build()
    script = tmp_path / "script.yaml"
    script.write_text(TOOL_ROUND)
    started = time.monotonic()
    events, ticks = asyncio.run(_run(runtime, script))
    elapsed = time.monotonic() - started
    runtime.close()
    assert events[-1].type == "run_finished" and events[-1].status == "success"
    assert {name for name, _ in seen} == set(RUN_CALLS)
    threads = {thread for _, thread in seen}
    assert len(threads) == 1 and threading.get_ident() not in threads
    # three commits of 0.2 s each: a loop blocked by them would not tick in that time
    assert elapsed >= 0.6 and ticks >= 30, (elapsed, ticks)


def test_in_memory_run_calls_stay_on_the_event_loop(tmp_path: Path) -> None:
    seen: list[tuple[str, int]] = []
    store = _recording(InMemoryStore, seen)()
    runtime = mentra.Runtime.builder(tmp_path).store(store).build()
    script = tmp_path / "script.yaml"
    script.write_text(TOOL_ROUND)
    events, _ = asyncio.run(_run(runtime, script))
    runtime.close()
    assert events[-1].status == "success"
    assert {name for name, _ in seen} == set(RUN_CALLS)
    assert {thread for _, thread in seen} == {threading.get_ident()}


def test_ephemeral_runtime_records_its_run_in_memory(tmp_path: Path) -> None:
    """No store given (``--ephemeral``): the session still records the run, in memory."""
    runtime = mentra.Runtime.builder(tmp_path).build()
    script = tmp_path / "script.yaml"
    script.write_text(TOOL_ROUND)
    events, _ = asyncio.run(_run(runtime, script))
    assert events[0].store is None  # session_started: nothing on disk
    agent_id = events[0].agent_id
    runs = runtime.store.list_runs(agent_id)
    assert [(r.status, r.rounds, r.tool_calls) for r in runs] == [("success", 2, 1)]
    items = runtime.store.load_transcript(agent_id)
    assert [i.message.role for i in items] == ["user", "assistant", "user", "assistant"]
    runtime.close()


async def test_a_cancelled_await_waits_for_its_call_and_drops_no_queued_call(
    tmp_path: Path,
) -> None:
    """A cancel cannot leave a write half made from the caller's side, nor drop one queued."""
    seen: list[tuple[str, int]] = []
    store = AsyncStore(_recording(SQLiteStore, seen, delay=0.3)(tmp_path / "s.sqlite"))
    await store.create_agent(make_agent("a1"))
    await store.begin_run(make_run(agent_id="a1"))
    slow = asyncio.ensure_future(
        store.commit_round("a1", "r1", [assistant("one")], make_run(agent_id="a1"))
    )
    queued = asyncio.ensure_future(
        store.commit_round("a1", "r1", [assistant("two")], make_run(agent_id="a1"))
    )
    await asyncio.sleep(0.05)  # the first is on the worker, the second waits for it
    slow.cancel()
    queued.cancel()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert time.monotonic() - started >= 0.2  # it waited for the call to finish
    with pytest.raises(asyncio.CancelledError):
        await queued
    texts = [i.message.text for i in await store.load_transcript("a1")]
    assert texts == ["one", "two"]
    await store.aclose()


async def test_call_runs_several_calls_in_one_hop(tmp_path: Path) -> None:
    store = AsyncStore(SQLiteStore(tmp_path / "s.sqlite"))
    threads: list[int] = []

    def both(sync: Any) -> str:
        threads.append(threading.get_ident())
        sync.create_agent(make_agent("a1"))
        found = sync.get_agent("a1")
        return str(found.id)

    assert await store.call(both) == "a1"
    assert threads and threads[0] != threading.get_ident()
    await store.aclose()
