"""The `TaskStore` concern: boards keyed by namespace (the top-level agent's id).

A parent and its subagents share one namespace, so they see one board. The SQLite backend
keeps its table in the agent store's own database file and transactions (the table comes from
a migration step of ``mentra.store._schema``); the in-memory backend serves ``--ephemeral``.
Every backend must pass ``tests/tasks/test_store_contract.py``.
"""

from __future__ import annotations

import json
import sys
import threading
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from mentra.tasks.graph import Board, copy_board
from mentra.tasks.models import TaskItem

if TYPE_CHECKING:
    from mentra.store.base import Store
    from mentra.store.sqlite import SQLiteStore

T = TypeVar("T")


class TaskStore(Protocol):
    def load(self, namespace: str) -> Board:
        """The board of ``namespace`` (empty when it has none), as a fresh copy."""
        ...

    def mutate(self, namespace: str, change: Callable[[Board], tuple[Board, T]]) -> T:
        """Apply ``change`` to the board in one transaction: it gets the current board and
        returns the new one with a result; if it raises, nothing is written."""
        ...

    def replace(self, namespace: str, tasks: list[TaskItem]) -> None:
        """Make the board exactly ``tasks`` (restore a snapshot, import)."""
        ...

    def delete(self, namespace: str) -> None: ...


class InMemoryTaskStore:
    """Boards that live as long as the process (``--ephemeral``)."""

    def __init__(self) -> None:
        self._boards: dict[str, Board] = {}
        self._lock = threading.Lock()

    def load(self, namespace: str) -> Board:
        with self._lock:
            return copy_board(self._boards.get(namespace, {}))

    def mutate(self, namespace: str, change: Callable[[Board], tuple[Board, T]]) -> T:
        with self._lock:
            board, result = change(copy_board(self._boards.get(namespace, {})))
            self._boards[namespace] = copy_board(board)
            return result

    def replace(self, namespace: str, tasks: list[TaskItem]) -> None:
        with self._lock:
            self._boards[namespace] = {t.id: t.model_copy(deep=True) for t in tasks}

    def delete(self, namespace: str) -> None:
        with self._lock:
            self._boards.pop(namespace, None)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class SQLiteTaskStore:
    """The ``tasks`` table of an `SQLiteStore`'s database, written in that store's own
    transactions (one connection, one lock), so a board change is atomic with nothing torn."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    @staticmethod
    def _rows(conn: Any, namespace: str) -> Board:
        rows = conn.execute(
            "SELECT task FROM tasks WHERE agent_id = ? ORDER BY id", (namespace,)
        ).fetchall()
        items = [TaskItem.model_validate_json(r[0]) for r in rows]
        return {t.id: t for t in items}

    def load(self, namespace: str) -> Board:
        with self._store._read() as conn:
            return self._rows(conn, namespace)

    def mutate(self, namespace: str, change: Callable[[Board], tuple[Board, T]]) -> T:
        with self._store._write() as conn:
            before = self._rows(conn, namespace)
            board, result = change(copy_board(before))
            self._write_diff(conn, namespace, before, board)
            return result

    def replace(self, namespace: str, tasks: list[TaskItem]) -> None:
        with self._store._write() as conn:
            before = self._rows(conn, namespace)
            self._write_diff(conn, namespace, before, {t.id: t for t in tasks})

    def delete(self, namespace: str) -> None:
        with self._store._write() as conn:
            conn.execute("DELETE FROM tasks WHERE agent_id = ?", (namespace,))

    @staticmethod
    def _write_diff(conn: Any, namespace: str, before: Board, after: Board) -> None:
        gone = [(namespace, i) for i in before if i not in after]
        conn.executemany("DELETE FROM tasks WHERE agent_id = ? AND id = ?", gone)
        now = _now()
        rows = [
            (namespace, i, json.dumps(t.model_dump(mode="json")), now)
            for i, t in after.items()
            if before.get(i) != t
        ]
        conn.executemany(
            "INSERT INTO tasks (agent_id, id, task, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (agent_id, id) DO UPDATE SET task = excluded.task, "
            "updated_at = excluded.updated_at",
            rows,
        )


_MEMORY_BOARDS: weakref.WeakKeyDictionary[Any, InMemoryTaskStore] = weakref.WeakKeyDictionary()


def task_store_for(store: Store) -> TaskStore:
    """The board store beside an agent store: its SQLite file, else process memory (one
    in-memory board store per agent store, so every run of that process shares it)."""
    sqlite_store = sys.modules.get("mentra.store.sqlite")  # not imported: not an SQLiteStore
    if sqlite_store is not None and isinstance(store, sqlite_store.SQLiteStore):
        return SQLiteTaskStore(store)
    found = _MEMORY_BOARDS.get(store)
    if found is None:
        found = _MEMORY_BOARDS[store] = InMemoryTaskStore()
    return found


def export_board(store: Store, namespace: str) -> list[dict[str, Any]]:
    """The board of ``namespace`` as an export's ``tasks`` list, in id order."""
    board = task_store_for(store).load(namespace)
    return [board[i].model_dump(mode="json") for i in sorted(board)]


def parse_board(data: object) -> list[TaskItem]:
    """The ``tasks`` list of an export document; `UsageError` names a bad item."""
    from pydantic import ValidationError

    from mentra.errors import UsageError

    raw = data.get("tasks", []) if isinstance(data, dict) else []
    if not isinstance(raw, list):
        raise UsageError("invalid agent export at tasks: Input should be a valid list")
    items: list[TaskItem] = []
    for i, item in enumerate(raw):
        try:
            items.append(TaskItem.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in (i, *first["loc"]))
            raise UsageError(f"invalid agent export at tasks.{where}: {first['msg']}") from None
    return items


def import_board(store: Store, namespace: str, tasks: list[TaskItem]) -> None:
    """Make the board of ``namespace`` what an export carried (``mentra import``)."""
    task_store_for(store).replace(namespace, tasks)
