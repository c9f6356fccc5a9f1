"""The `TaskStore` contract, run against every backend: the in-memory one (``--ephemeral``) and
the SQLite one (in the agent store's own database file)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mentra.store.base import AgentRecord
from mentra.store.in_memory import InMemoryStore
from mentra.store.sqlite import SQLiteStore
from mentra.tasks import graph
from mentra.tasks.models import TaskBoardError, TaskCreateArgs, TaskUpdateArgs
from mentra.tasks.store import (
    InMemoryTaskStore,
    SQLiteTaskStore,
    TaskStore,
    export_board,
    import_board,
    parse_board,
    task_store_for,
)


@pytest.fixture(params=["memory", "sqlite"])
def tasks(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TaskStore]:
    if request.param == "memory":
        yield InMemoryTaskStore()
        return
    store = SQLiteStore(tmp_path / "s.sqlite")
    try:
        yield SQLiteTaskStore(store)
    finally:
        store.close()


def _create(subject: str, blocked_by: list[int] | None = None) -> graph.Operation:
    return lambda b: graph.create(b, TaskCreateArgs(subject=subject, blockedBy=blocked_by))


def test_an_unknown_namespace_is_an_empty_board(tasks: TaskStore) -> None:
    assert tasks.load("nobody") == {}


def test_mutate_persists_and_returns_the_result(tasks: TaskStore) -> None:
    first = tasks.mutate("a", _create("one"))
    second = tasks.mutate("a", _create("two", [1]))
    assert (first.task.id, second.task.id) == (1, 2)
    board = tasks.load("a")
    assert board[1].blocks == [2] and board[2].blockedBy == [1]


def test_namespaces_are_separate(tasks: TaskStore) -> None:
    tasks.mutate("a", _create("one"))
    tasks.mutate("b", _create("other"))
    assert [t.subject for t in tasks.load("a").values()] == ["one"]
    assert [t.subject for t in tasks.load("b").values()] == ["other"]
    tasks.delete("a")
    assert tasks.load("a") == {} and len(tasks.load("b")) == 1


def test_a_refused_operation_writes_nothing(tasks: TaskStore) -> None:
    tasks.mutate("a", _create("one"))
    with pytest.raises(TaskBoardError):
        tasks.mutate("a", lambda b: graph.update(b, TaskUpdateArgs(taskId=1, addBlocks=[1])))
    assert tasks.load("a")[1].blocks == []


def test_loaded_boards_are_copies(tasks: TaskStore) -> None:
    tasks.mutate("a", _create("one"))
    board = tasks.load("a")
    board[1].subject = "changed here only"
    board[1].blocks.append(9)
    assert tasks.load("a")[1].subject == "one" and tasks.load("a")[1].blocks == []


def test_replace_makes_the_board_exactly_the_snapshot(tasks: TaskStore) -> None:
    tasks.mutate("a", _create("one"))
    snapshot = list(tasks.load("a").values())
    tasks.mutate("a", _create("two", [1]))
    tasks.mutate("a", lambda b: graph.update(b, TaskUpdateArgs(taskId=1, status="completed")))
    tasks.replace("a", snapshot)
    board = tasks.load("a")
    assert list(board) == [1]
    assert board[1].status == "pending" and board[1].blocks == []
    tasks.replace("a", [])
    assert tasks.load("a") == {}


def test_concurrent_creates_get_distinct_ids(tasks: TaskStore) -> None:
    def work() -> None:
        for _ in range(10):
            tasks.mutate("a", _create("t"))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(tasks.load("a")) == list(range(1, 41))


def test_sqlite_board_lives_in_the_agent_store_file_and_survives_reopening(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite"
    store = SQLiteStore(path)
    task_store_for(store).mutate("a", _create("kept"))
    store.close()
    store = SQLiteStore(path)
    try:
        assert task_store_for(store).load("a")[1].subject == "kept"
    finally:
        store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT agent_id, id FROM tasks").fetchall() == [("a", 1)]
    conn.close()


def test_a_version_1_store_gains_the_tasks_table(tmp_path: Path) -> None:
    from mentra.store._schema import MIGRATIONS

    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[1]:
        conn.execute(statement)
    conn.execute("INSERT INTO schema_migrations VALUES (1, '2026-01-01T00:00:00+00:00')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    try:
        task_store_for(store).mutate("a", _create("after upgrade"))
        assert task_store_for(store).load("a")[1].subject == "after upgrade"
    finally:
        store.close()


def test_deleting_an_agent_deletes_its_board(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite")
    try:
        for agent in ("a", "b"):
            store.create_agent(
                AgentRecord(id=agent, name=agent, model="x:y", workspace="/", config={})
            )
            task_store_for(store).mutate(agent, _create(f"of {agent}"))
        store.delete_agent("a")
        assert task_store_for(store).load("a") == {}
        assert len(task_store_for(store).load("b")) == 1
    finally:
        store.close()


def test_a_memory_store_keeps_one_board_store_for_the_process() -> None:
    store = InMemoryStore()
    task_store_for(store).mutate("a", _create("one"))
    assert task_store_for(store).load("a")[1].subject == "one"
    assert task_store_for(InMemoryStore()).load("a") == {}


def test_export_and_import_round_trip(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite")
    try:
        task_store_for(store).mutate("a", _create("one"))
        task_store_for(store).mutate("a", _create("two", [1]))
        exported = export_board(store, "a")
        assert [t["id"] for t in exported] == [1, 2]
        import_board(store, "b", parse_board({"tasks": exported}))
        assert task_store_for(store).load("b") == task_store_for(store).load("a")
    finally:
        store.close()


def test_a_bad_task_in_an_export_is_named() -> None:
    from mentra.errors import UsageError

    with pytest.raises(UsageError, match=r"tasks\.0\.status"):
        parse_board({"tasks": [{"id": 1, "subject": "x", "status": "done"}]})
    with pytest.raises(UsageError, match="tasks: Input should be a valid list"):
        parse_board({"tasks": 3})
    assert parse_board({}) == []
