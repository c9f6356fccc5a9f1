"""What `AsyncStore` adds per call: the hop to its worker thread and back.

    .venv/bin/python benchmarks/async_store_cost.py

Times a read (`get_lease`) and a round's write (`commit_round`) called directly and through
`AsyncStore`, for the in-memory and the SQLite store; prints microseconds per call.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mentra.store.async_store import AsyncStore
from mentra.store.base import Store
from mentra.store.in_memory import InMemoryStore
from mentra.store.sqlite import SQLiteStore
from mentra.store.testing import assistant, make_agent, make_run

READS, WRITES, SAMPLES = 2000, 200, 5


def _prepare(store: Store) -> None:
    store.create_agent(make_agent("a1"))
    store.begin_run(make_run(agent_id="a1"))


def direct(store: Store) -> tuple[float, float]:
    _prepare(store)
    run = make_run(agent_id="a1")
    t0 = time.perf_counter()
    for _ in range(READS):
        store.get_lease("a1")
    t1 = time.perf_counter()
    for _ in range(WRITES):
        store.commit_round("a1", "r1", [assistant("x")], run)
    t2 = time.perf_counter()
    store.close()
    return (t1 - t0) / READS * 1e6, (t2 - t1) / WRITES * 1e6


async def wrapped(store: Store) -> tuple[float, float]:
    _prepare(store)
    s = AsyncStore(store)
    run = make_run(agent_id="a1")
    t0 = time.perf_counter()
    for _ in range(READS):
        await s.get_lease("a1")
    t1 = time.perf_counter()
    for _ in range(WRITES):
        await s.commit_round("a1", "r1", [assistant("x")], run)
    t2 = time.perf_counter()
    await s.aclose()
    return (t1 - t0) / READS * 1e6, (t2 - t1) / WRITES * 1e6


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(10**6))
        backends: dict[str, Callable[[], Store]] = {
            "in-memory": InMemoryStore,
            "sqlite": lambda: SQLiteStore(Path(tmp) / f"s{next(counter)}.sqlite"),
        }
        for label, make in backends.items():
            d = [direct(make()) for _ in range(SAMPLES)]
            a = [asyncio.run(wrapped(make())) for _ in range(SAMPLES)]
            for i, what in enumerate(("get_lease", "commit_round")):
                dm = statistics.median(x[i] for x in d)
                am = statistics.median(x[i] for x in a)
                print(
                    f"{label:9} {what:12} direct {dm:7.1f} µs  async {am:7.1f} µs  (+{am - dm:.1f})"
                )


if __name__ == "__main__":
    main()
