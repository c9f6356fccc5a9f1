"""`MemoryStore` on the store's own SQLite file: FTS5 with ``bm25``, or a plain scan.

The table ``memory_records`` comes from the store's schema migration 2, so an agent's memory
lives in the same file as its transcript and moves with ``export``/``import``. The FTS5 index
(``memory_fts``, external content, kept in step by triggers) is derived data, created here where
the SQLite build has FTS5; where it has not, searches scan the scope's records instead.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mentra.errors import StoreError
from mentra.memory.base import (
    MemoryHit,
    MemoryKind,
    MemoryRecord,
    Scope,
    best_hits,
    candidate_count,
    fts_query,
    query_tokens,
    scan_bm25,
    utcnow,
)
from mentra.store._connection import connect, describe_error, write_transaction

_FTS = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS memory_fts USING fts5("
    "content, content='memory_records', content_rowid='n')",
    "CREATE TRIGGER IF NOT EXISTS memory_fts_ai AFTER INSERT ON memory_records BEGIN "
    "INSERT INTO memory_fts (rowid, content) VALUES (new.n, new.content); END",
    "CREATE TRIGGER IF NOT EXISTS memory_fts_ad AFTER DELETE ON memory_records BEGIN "
    "INSERT INTO memory_fts (memory_fts, rowid, content) VALUES ('delete', old.n, old.content); "
    "END",
    "CREATE TRIGGER IF NOT EXISTS memory_fts_au AFTER UPDATE ON memory_records BEGIN "
    "INSERT INTO memory_fts (memory_fts, rowid, content) VALUES ('delete', old.n, old.content); "
    "INSERT INTO memory_fts (rowid, content) VALUES (new.n, new.content); END",
)
# The index's per-term row counts, per connection (a temp table: nothing is written to the file)
_TERMS = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.memory_fts_terms "
    "USING fts5vocab(main, memory_fts, row)"
)
_COLUMNS = "id, kind, content, workspace, agent_id, source, pinned, created_at"
_R_COLUMNS = ", ".join("r." + c for c in _COLUMNS.split(", "))
_BUSY_TIMEOUT_S = 5.0
_PAGE_CACHE_KIB = 16 * 1024  # a search reads the doclists of its terms: keep them in memory


def has_fts5() -> bool:
    """Whether this Python's SQLite was built with FTS5 (``MENTRA_MEMORY_FTS=0`` says no)."""
    if os.environ.get("MENTRA_MEMORY_FTS", "").strip() == "0":
        return False
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE VIRTUAL TABLE t USING fts5(x)")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _record(row: sqlite3.Row) -> MemoryRecord:
    return MemoryRecord(
        id=row["id"],
        kind=row["kind"],
        content=row["content"],
        workspace=row["workspace"],
        agent_id=row["agent_id"],
        source=row["source"],
        pinned=bool(row["pinned"]),
        created_at=datetime.fromisoformat(row["created_at"]),
    )


def _where(scope: Scope) -> tuple[str, list[Any]]:
    if scope.agent_id is None:
        return "r.workspace = ?", [scope.workspace]
    return "r.workspace = ? AND r.agent_id = ?", [scope.workspace, scope.agent_id]


class SQLiteMemoryStore:
    """Memory records in a mentra store file (its schema migrated first if need be)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        full_text: bool | None = None,
        read_only: bool = False,
    ) -> None:
        """``read_only`` (the store was opened so, e.g. by `mentra export`): nothing is created
        or migrated; without an FTS5 index in the file, searches scan."""
        self.path = Path(path)
        self._lock = threading.RLock()
        if not read_only:
            self._ensure_schema()
        try:
            conn = connect(self.path, busy_timeout_s=_BUSY_TIMEOUT_S, read_only=read_only)
            conn.execute(f"PRAGMA cache_size = -{_PAGE_CACHE_KIB}")
        except sqlite3.Error as exc:
            raise StoreError(self._describe(exc)) from None
        self._conn = conn
        self._full_text = has_fts5() if full_text is None else full_text
        if self._full_text and read_only:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'memory_fts'")
            self._full_text = found.fetchone() is not None
        elif self._full_text:
            self._make_index()
        self._term_counts = False  # without them every search asks the whole query
        if self._full_text:
            try:
                conn.execute(_TERMS)
                self._term_counts = True
            except sqlite3.Error:
                pass

    def _describe(self, exc: sqlite3.Error) -> str:
        return describe_error(self.path, exc, busy_timeout_s=_BUSY_TIMEOUT_S)

    def _ensure_schema(self) -> None:
        from mentra.store._schema import SCHEMA_VERSION

        fresh = not self.path.exists()
        if not fresh:
            try:
                conn = connect(self.path, busy_timeout_s=_BUSY_TIMEOUT_S)
                try:
                    fresh = conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION
                finally:
                    conn.close()
            except sqlite3.Error as exc:
                raise StoreError(self._describe(exc)) from None
        if fresh:  # the store's own migrations make (or upgrade) the file
            from mentra.store.sqlite import SQLiteStore

            SQLiteStore(self.path).close()

    def _make_index(self) -> None:
        with self._read() as conn:  # most runs find it made: no write transaction for them
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'memory_fts'").fetchone():
                return
        with self._write() as conn:
            existed = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'memory_fts'"
            ).fetchone()
            for statement in _FTS:
                conn.execute(statement)
            if existed is None:  # records written before the index existed
                conn.execute("INSERT INTO memory_fts (memory_fts) VALUES ('rebuild')")

    @property
    def full_text(self) -> bool:
        return self._full_text

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise StoreError(self._describe(exc)) from None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._read() as conn, write_transaction(conn):
            yield conn

    @staticmethod
    def _insert(conn: sqlite3.Connection, record: MemoryRecord) -> None:
        # delete then insert, not INSERT OR REPLACE: REPLACE's delete fires no trigger
        conn.execute("DELETE FROM memory_records WHERE id = ?", (record.id,))
        conn.execute(
            f"INSERT INTO memory_records ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.id,
                record.kind,
                record.content,
                record.workspace,
                record.agent_id,
                record.source,
                int(record.pinned),
                _ts(record.created_at or utcnow()),
            ),
        )

    def add(self, record: MemoryRecord) -> MemoryRecord:
        if record.created_at is None:
            record.created_at = utcnow()
        with self._write() as conn:
            self._insert(conn, record)
        return record

    def get(self, record_id: str) -> MemoryRecord | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM memory_records WHERE id = ?", (record_id,)
            ).fetchone()
        return _record(row) if row is not None else None

    def forget(self, record_id: str, scope: Scope) -> MemoryRecord | None:
        where, params = _where(scope)
        with self._write() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM memory_records r WHERE r.id = ? AND {where}",
                (record_id, *params),
            ).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM memory_records WHERE id = ?", (record_id,))
        return _record(row)

    def search(self, query: str, scope: Scope, *, limit: int = 5) -> list[MemoryHit]:
        tokens = query_tokens(query)
        if not tokens or limit < 1:
            return []
        want = candidate_count(limit)
        with self._read() as conn:
            if self._full_text:
                scored = self._fts_candidates(conn, tokens, scope, want)
            else:
                where, params = _where(scope)
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM memory_records r WHERE {where}", params
                ).fetchall()
                found = [(rec, scan_bm25(rec.content, tokens)) for rec in map(_record, rows)]
                found = [(rec, b) for rec, b in found if b < 0]
                found.sort(key=lambda p: (p[1], -p[0].created_at.timestamp()))  # type: ignore[union-attr]
                scored = found[:want]
        return best_hits(scored, tokens, limit)

    def _fts_candidates(
        self, conn: sqlite3.Connection, tokens: list[str], scope: Scope, want: int
    ) -> list[tuple[MemoryRecord, float]]:
        """The ``want`` best in-scope records by ``bm25``, then newest.

        The cost of a search is ``bm25`` over every row that matches a token, and a token in
        most records (``user``, ``the``) matches nearly all. Those tokens carry nothing: BM25's
        IDF is log((N - n + 0.5) / (n + 0.5)), at most 0 when a token is in half the records or
        more, and FTS5 floors it at 1e-6, so they move a row's ``bm25`` by at most ~2e-6 each.
        So the informative tokens are asked alone first; only when they find fewer than
        ``want`` records in scope (then rows holding only common tokens are candidates too)
        is the whole query asked."""
        informative = self._informative(conn, tokens) if self._term_counts else tokens
        if informative and len(informative) < len(tokens):
            found = self._fts_match(conn, informative, scope, want)
            if len(found) == want:
                return found
        return self._fts_match(conn, tokens, scope, want)

    @staticmethod
    def _informative(conn: sqlite3.Connection, tokens: list[str]) -> list[str]:
        """The tokens found in fewer than half of all records (an unknown one counts as
        informative: keeping a token is always correct, only dropping one must be earned)."""
        total = conn.execute("SELECT count(*) FROM memory_records").fetchone()[0]
        marks = ", ".join("?" * len(tokens))
        rows = conn.execute(
            f"SELECT term, doc FROM temp.memory_fts_terms WHERE term IN ({marks})", tokens
        ).fetchall()
        common = {row[0] for row in rows if 2 * row[1] >= total}
        return [t for t in tokens if t not in common]

    @staticmethod
    def _fts_match(
        conn: sqlite3.Connection, tokens: list[str], scope: Scope, want: int
    ) -> list[tuple[MemoryRecord, float]]:
        where, params = _where(scope)
        rows = conn.execute(
            f"SELECT {_R_COLUMNS}, bm25(memory_fts) AS b FROM memory_fts "
            "JOIN memory_records r ON r.n = memory_fts.rowid "
            f"WHERE memory_fts MATCH ? AND {where} "
            "ORDER BY b, r.created_at DESC LIMIT ?",
            (fts_query(tokens), *params, want),
        ).fetchall()
        return [(_record(row), float(row["b"])) for row in rows]

    def list_records(
        self, scope: Scope, *, kind: MemoryKind | None = None, limit: int | None = None
    ) -> list[MemoryRecord]:
        where, params = _where(scope)
        if kind is not None:
            where += " AND r.kind = ?"
            params.append(kind)
        sql = f"SELECT {_COLUMNS} FROM memory_records r WHERE {where}"
        sql += " ORDER BY created_at DESC, n DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._read() as conn:
            return [_record(row) for row in conn.execute(sql, params).fetchall()]

    def export_agent(self, agent_id: str) -> list[MemoryRecord]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM memory_records WHERE agent_id = ? ORDER BY n",
                (agent_id,),
            ).fetchall()
        return [_record(row) for row in rows]

    def import_agent(self, agent_id: str, records: list[MemoryRecord], *, workspace: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM memory_records WHERE agent_id = ?", (agent_id,))
            for record in records:
                record.agent_id = agent_id
                record.workspace = workspace
                self._insert(conn, record)

    def delete_agent(self, agent_id: str) -> int:
        with self._write() as conn:
            cur = conn.execute("DELETE FROM memory_records WHERE agent_id = ?", (agent_id,))
            return cur.rowcount

    def close(self) -> None:
        with self._lock:
            self._conn.close()
