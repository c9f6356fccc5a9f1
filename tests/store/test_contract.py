"""The shipped contract suite (`mentra.store.testing`) run against every backend we have, and
against `AsyncStore` wrapping each of them; plus what only the async facade promises."""

from __future__ import annotations

import asyncio
import inspect
import threading
from pathlib import Path
from typing import Any

import pytest

from mentra.errors import StoreError
from mentra.store.async_store import AsyncStore
from mentra.store.base import Store
from mentra.store.in_memory import InMemoryStore
from mentra.store.sqlite import SQLiteStore
from mentra.store.testing import StoreContract, make_agent


class TestSQLiteStore(StoreContract):
    def make_store(self, tmp_path: Path) -> Store:
        return SQLiteStore(tmp_path / "store.sqlite")


class TestInMemoryStore(StoreContract):
    def make_store(self, tmp_path: Path) -> Store:
        return InMemoryStore()


class Blocking:
    """An `AsyncStore` driven from synchronous test code, one event loop per call."""

    def __init__(self, factory: Any) -> None:
        self.async_store: AsyncStore = asyncio.run(AsyncStore.open(factory))

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.async_store, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return asyncio.run(method(*args, **kwargs))

        return call


class TestAsyncSQLiteStore(StoreContract):
    def make_store(self, tmp_path: Path) -> Store:
        return Blocking(lambda: SQLiteStore(tmp_path / "store.sqlite"))  # type: ignore[return-value]


class TestAsyncInMemoryStore(StoreContract):
    def make_store(self, tmp_path: Path) -> Store:
        return Blocking(InMemoryStore)  # type: ignore[return-value]


def _protocol_methods() -> list[str]:
    return [n for n in dir(Store) if not n.startswith("_") and callable(getattr(Store, n))]


@pytest.mark.parametrize("name", _protocol_methods())
def test_async_store_has_every_store_method_with_its_signature(name: str) -> None:
    method = getattr(AsyncStore, name)
    assert inspect.iscoroutinefunction(method), name
    assert inspect.signature(method) == inspect.signature(getattr(Store, name)), name


async def test_every_call_runs_on_one_worker_thread_off_the_loop(tmp_path: Path) -> None:
    seen: list[int] = []

    class Recording(SQLiteStore):
        def __init__(self, path: Path) -> None:
            seen.append(threading.get_ident())
            super().__init__(path)

        def get_agent(self, agent_id: str) -> Any:
            seen.append(threading.get_ident())
            return super().get_agent(agent_id)

        def close(self) -> None:
            seen.append(threading.get_ident())
            super().close()

    store = await AsyncStore.open(lambda: Recording(tmp_path / "s.sqlite"))
    await store.create_agent(make_agent("a1"))
    found = await asyncio.gather(*(store.get_agent("a1") for _ in range(20)))
    assert all(a is not None and a.id == "a1" for a in found)
    assert isinstance(store.sync, Recording)
    await store.aclose()
    await store.aclose()
    assert len(seen) == 22
    assert len(set(seen)) == 1 and seen[0] != threading.get_ident()


async def test_errors_come_through_unchanged_and_a_failed_open_leaves_no_thread(
    tmp_path: Path,
) -> None:
    async with AsyncStore(InMemoryStore()) as store:
        await store.create_agent(make_agent("a1"))
        with pytest.raises(StoreError, match="already exists"):
            await store.create_agent(make_agent("a1"))
    before = threading.active_count()
    with pytest.raises(StoreError, match="is a directory"):
        from mentra.store.location import open_store

        await AsyncStore.open(lambda: open_store(tmp_path))
    await asyncio.sleep(0)
    assert threading.active_count() <= before


def test_in_memory_files_dir_is_private_and_removed_on_close() -> None:
    store = InMemoryStore()
    first = store.files_dir("a1")
    first.mkdir(parents=True)
    (first / "out.log").write_text("x")
    other = InMemoryStore()
    assert other.files_dir("a1") != first
    other.close()
    store.close()
    assert not first.exists() and not first.parent.exists()


def test_sqlite_files_dir_is_beside_the_store_file(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "db" / "store.sqlite") as store:
        assert store.files_dir("01ab") == tmp_path / "db" / "agents" / "01ab"
        with pytest.raises(StoreError, match="cannot name a directory"):
            store.files_dir("../x")


def test_the_runtime_locates_agent_files_through_its_store(tmp_path: Path) -> None:
    """Not from a path of its own: a store whose label is no file still says where."""
    from mentra.runtime import Runtime

    store = InMemoryStore()
    runtime = Runtime(workspace=tmp_path, store=store, store_label="postgresql://db/x")
    assert runtime.data_dir("a1") == store.files_dir("a1")
    runtime.close()
    sqlite = SQLiteStore(tmp_path / "s" / "store.sqlite")
    runtime = Runtime(workspace=tmp_path, store=sqlite, store_label="label, not a path")
    assert runtime.data_dir("a1") == tmp_path / "s" / "agents" / "a1"
    runtime.close()
