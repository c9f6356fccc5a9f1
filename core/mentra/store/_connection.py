"""Opening a mentra SQLite file, once for every concern kept in it (the store, its memory).

Both open the same file with the same settings: autocommit (transactions are explicit,
``BEGIN IMMEDIATE`` ... ``COMMIT``), usable from any thread (each owner holds a lock), rows as
`sqlite3.Row`, a busy timeout, and on a WAL file ``synchronous = NORMAL`` (a per-connection
setting: at SQLite's default, FULL, every commit waits for an fsync; in WAL mode NORMAL is
still durable across a crash of the process); read-only through a ``mode=ro`` URI. Every
`sqlite3` failure is described in one line naming the file (`describe_error`).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mentra.errors import StoreError

# Primary result codes (https://sqlite.org/rescode.html); extended codes keep them in the low byte.
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26


def connect(path: Path, *, busy_timeout_s: float, read_only: bool = False) -> sqlite3.Connection:
    """Open ``path`` (making its directory unless ``read_only``). Read-only, the file must
    exist and nothing is written, not even a ``-shm`` file where the folder is read-only.
    Raises `StoreError` for the file system, `sqlite3.Error` for SQLite (callers describe it)."""
    if read_only:
        if not path.is_file():
            raise StoreError(f"no store at {path}")
        uri = path.resolve().as_uri() + "?mode=ro"
        if not os.access(path.parent, os.W_OK):
            # A WAL database needs its -shm file, which a read-only folder cannot hold; nobody
            # can write there either, so the file is read as it stands.
            uri += "&immutable=1"
        conn = sqlite3.connect(
            uri, uri=True, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the store directory {path.parent}: {exc.strerror}"
            ) from None
        conn = sqlite3.connect(
            path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        if not read_only and conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            conn.execute("PRAGMA synchronous = NORMAL")  # as the store's own connection
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One transaction, taken for writing at once (no deadlock on a read-to-write upgrade)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def describe_error(path: Path, exc: sqlite3.Error, *, busy_timeout_s: float) -> str:
    """One line for a user: what went wrong with the store at ``path``."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    where = str(path)
    if primary == _NOTADB:
        return f"{where} is not a mentra store (the file is not an SQLite database)"
    if primary == _CORRUPT:
        return f"the store {where} is corrupt ({exc})"
    if primary == _FULL:
        return f"cannot write the store {where}: the disk (or the database) is full"
    if primary in (_BUSY, _LOCKED):
        return (
            f"the store {where} stayed locked by another process for more than {busy_timeout_s:g}s"
        )
    if primary in (_READONLY, _CANTOPEN):
        parent = path.parent
        if not parent.is_dir():
            return f"cannot open the store {where}: {parent} is not a directory"
        if path.exists() and not os.access(path, os.W_OK):
            return f"cannot write the store {where}: the file is read-only"
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"cannot write the store {where}: the directory {parent} is read-only"
        verb = "write" if primary == _READONLY else "open"
        return f"cannot {verb} the store {where} ({exc})"
    if primary == _IOERR:
        return f"I/O error on the store {where} ({exc})"
    return f"store error on {where}: {exc}"
