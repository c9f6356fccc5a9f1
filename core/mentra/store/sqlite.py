"""`SQLiteStore`: the default store, one SQLite file per workspace on the standard library.

One connection per store object (per process in practice), WAL journal, a busy timeout, and
migrations recorded in the database. Every write is one transaction; a round appends its
messages and updates two counters, so its cost does not depend on the length of the history.
Every `sqlite3` failure becomes a `StoreError` with a one-line message naming the file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from pydantic import ValidationError

from mentra.errors import StoreError
from mentra.messages import Message, ToolResultBlock, Usage, parse_messages_json
from mentra.store._common import (
    agent_dir_name,
    ambiguous_prefix,
    busy_error,
    lease_is_live,
    status_after_run,
    utcnow,
)
from mentra.store._connection import connect, describe_error, write_transaction
from mentra.store._schema import COMPACTION_MARKERS, MIGRATIONS, SCHEMA_VERSION
from mentra.store.base import (
    AgentRecord,
    AgentStatus,
    AuditRecord,
    CompactionMarker,
    JobRecord,
    JobStatus,
    LeaseHolder,
    LeaseRecord,
    PermissionRuleRecord,
    RunRecord,
    TranscriptItem,
)
from mentra.store.fencing import LeaseLostError, lease_lost

_AGENT_COLS = "id, name, model, workspace, config, status, created_at, updated_at, items, turns"
_RUN_COLS = (
    "id, agent_id, prompt, status, error, usage, cost_usd, started_at, finished_at, rounds, "
    "tool_calls"
)
_AUDIT_COLS = "agent_id, run_id, call_id, tool, subject, outcome, decided_by, rule, at"
_JOB_COLS = "id, agent_id, command, status, exit_code, output_path, pid, started_at, finished_at"


def _ts(value: datetime | None) -> str:
    """Fixed-width UTC text, so that ordering by the column orders by time."""
    value = value or utcnow()
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _agent(row: sqlite3.Row) -> AgentRecord:
    return AgentRecord(
        id=row["id"],
        name=row["name"],
        model=row["model"],
        workspace=row["workspace"],
        config=json.loads(row["config"]),
        status=row["status"],
        created_at=_dt(row["created_at"]),
        updated_at=_dt(row["updated_at"]),
        items=row["items"],
        turns=row["turns"],
        parent_id=row["parent_id"] if "parent_id" in row.keys() else None,  # noqa: SIM118
    )


def _run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=row["id"],
        agent_id=row["agent_id"],
        prompt=row["prompt"],
        status=row["status"],
        error=row["error"],
        usage=Usage.model_validate_json(row["usage"]),
        cost_usd=row["cost_usd"],
        started_at=_dt(row["started_at"]),
        finished_at=_dt(row["finished_at"]),
        rounds=row["rounds"],
        tool_calls=row["tool_calls"],
    )


def _audit(row: sqlite3.Row) -> AuditRecord:
    return AuditRecord(
        agent_id=row["agent_id"],
        run_id=row["run_id"],
        call_id=row["call_id"],
        tool=row["tool"],
        subject=row["subject"],
        outcome=row["outcome"],
        decided_by=row["decided_by"],
        rule=row["rule"],
        at=_dt(row["at"]),
    )


def _job(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=row["id"],
        agent_id=row["agent_id"],
        command=row["command"],
        status=row["status"],
        exit_code=row["exit_code"],
        output_path=row["output_path"],
        pid=row["pid"],
        started_at=_dt(row["started_at"]),
        finished_at=_dt(row["finished_at"]),
    )


def _lease(row: sqlite3.Row) -> LeaseRecord:
    return LeaseRecord(
        agent_id=row["agent_id"],
        holder=LeaseHolder(pid=row["pid"], host=row["host"], run_id=row["run_id"]),
        expires_at=cast(datetime, _dt(row["expires_at"])),
        heartbeat_at=cast(datetime, _dt(row["heartbeat_at"])),
        generation=row["generation"] if "generation" in row.keys() else 0,  # noqa: SIM118
    )


class SQLiteStore:
    """The `Store` protocol on one SQLite file. Thread-safe: one connection behind a lock."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_s: float = 5.0,
        read_only: bool = False,
    ) -> None:
        """Open (creating and migrating it if needed) the store at ``path``. With ``read_only``
        the file must exist and is only read: no directory or file is made, no migration or
        journal switch runs (it works on a read-only filesystem), and a write is a
        `StoreError`."""
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self.read_only = read_only
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._version = SCHEMA_VERSION
        # agent id -> (holder, generation) of the leases this store object acquired: its fences
        self._fences: dict[str, tuple[LeaseHolder, int]] = {}
        with self._errors():
            conn = connect(self.path, busy_timeout_s=busy_timeout_s, read_only=read_only)
            try:
                if read_only:
                    self._check_readable(conn)
                else:
                    if self._is_empty(conn):  # a new file: WAL first, so creating it is cheap
                        self._use_wal(conn)
                    self._migrate(conn)  # refuses foreign files before changing them
                    self._use_wal(conn)
                    conn.execute("PRAGMA foreign_keys = ON")
            except BaseException:
                conn.close()
                raise
            self._conn = conn

    def _check_readable(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        self._refuse_newer(version)
        if 1 <= version <= SCHEMA_VERSION:  # an older schema reads as it stands
            self._version = version
            return
        if version == 0:
            raise StoreError(
                f"{self.path} is an SQLite database but not a mentra store; "
                "choose another --store path"
            )
        raise StoreError(
            f"the store {self.path} has schema version {version}, older than this mentra's "
            f"({SCHEMA_VERSION}); a command that writes (e.g. `mentra run`) upgrades it"
        )

    # -- plumbing --------------------------------------------------------------------------
    def _describe(self, exc: sqlite3.Error) -> str:
        return describe_error(self.path, exc, busy_timeout_s=self.busy_timeout_s)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(self._describe(exc)) from None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the store {self.path} is closed")
        return self._conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors():
            yield self._connection()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction, taken for writing at once (no deadlock on upgrade)."""
        with self._lock, self._errors(), write_transaction(self._connection()) as conn:
            yield conn

    @staticmethod
    def _is_empty(conn: sqlite3.Connection) -> bool:
        return bool(
            conn.execute("PRAGMA user_version").fetchone()[0] == 0
            and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
        )

    @staticmethod
    def _use_wal(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL: durable across kill -9

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        self._refuse_newer(version)
        with write_transaction(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            self._refuse_newer(version)
            if version == 0:
                tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if tables:
                    raise StoreError(
                        f"{self.path} is an SQLite database but not a mentra store; "
                        "choose another --store path"
                    )
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[step]:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (step, _ts(None)),
                )
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the store {self.path} has schema version {version}, newer than this mentra "
                f"understands ({SCHEMA_VERSION}); upgrade mentra to use it"
            )

    def _require_agent(self, conn: sqlite3.Connection, agent_id: str) -> sqlite3.Row:
        row = conn.execute("SELECT items FROM agents WHERE id = ?", (agent_id,)).fetchone()
        if row is None:
            # A miss through the index while the table holds the row: the index is damaged.
            scan = "SELECT 1 FROM agents NOT INDEXED WHERE id = ?"
            if conn.execute(scan, (agent_id,)).fetchone() is not None:
                raise self._damaged_index()
            raise StoreError(f"no agent with id {agent_id}")
        return cast(sqlite3.Row, row)

    def _damaged_index(self) -> StoreError:
        return StoreError(
            f"the store {self.path} is damaged: its index of agents disagrees with the table; "
            f"repair it with `sqlite3 {self.path} REINDEX`"
        )

    def _check_fence(self, conn: sqlite3.Connection, agent_id: str, fence: int | None) -> None:
        """Inside a write transaction: refuse the write if the lease it is fenced by is gone."""
        if fence is None:
            held = self._fences.get(agent_id)
            if held is None:
                return  # a writer that holds no lease of this agent (import, a job supervisor)
            fence = held[1]
        lease = self._current_lease(conn, agent_id)
        if lease is None or lease.generation != fence:
            current = None
            if lease is not None:
                current = (
                    f"process {lease.holder.pid}@{lease.holder.host}, run {lease.holder.run_id}"
                )
            raise lease_lost(agent_id, fence, current)

    @property
    def _agent_cols(self) -> str:
        """The agent columns to read: an older store read as it stands has no parent_id."""
        return f"{_AGENT_COLS}, parent_id" if self._version >= 5 else _AGENT_COLS

    def schema_version(self) -> int:
        with self._read() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def integrity_check(self) -> str:
        """``ok``, or SQLite's first complaint."""
        with self._read() as conn:
            return str(conn.execute("PRAGMA integrity_check").fetchone()[0])

    # -- agents ----------------------------------------------------------------------------
    def create_agent(self, agent: AgentRecord) -> None:
        try:
            config = json.dumps(agent.config, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"the config of agent {agent.id} is not JSON: {exc}") from None
        created = _ts(agent.created_at)
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM agents WHERE id = ?", (agent.id,)).fetchone():
                raise StoreError(f"an agent with id {agent.id} already exists")
            conn.execute(
                f"INSERT INTO agents ({_AGENT_COLS}, parent_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?)",
                (
                    agent.id,
                    agent.name,
                    agent.model,
                    agent.workspace,
                    config,
                    agent.status,
                    created,
                    _ts(agent.updated_at) if agent.updated_at else created,
                    agent.parent_id,
                ),
            )

    def get_agent(self, agent_id: str) -> AgentRecord | None:
        if not agent_id:
            return None
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {self._agent_cols} FROM agents WHERE id = ?", (agent_id,)
            ).fetchone()
            if row is not None:
                return _agent(row)
            rows = conn.execute(
                f"SELECT {self._agent_cols} FROM agents NOT INDEXED WHERE substr(id, 1, ?) = ?",
                (len(agent_id), agent_id),
            ).fetchall()
        if any(r["id"] == agent_id for r in rows):
            raise self._damaged_index()  # the table has the id its primary key index lacks
        if len(rows) > 1:
            raise ambiguous_prefix(agent_id, [r["id"] for r in rows])
        return _agent(rows[0]) if rows else None

    def latest_agent(self, workspace: str) -> AgentRecord | None:
        top_level = " AND parent_id IS NULL" if self._version >= 5 else ""  # not a subagent
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {self._agent_cols} FROM agents WHERE workspace = ?{top_level} "
                "ORDER BY updated_at DESC, rowid DESC LIMIT 1",
                (workspace,),
            ).fetchone()
        return _agent(row) if row is not None else None

    def list_agents(self, workspace: str | None) -> list[AgentRecord]:
        where, params = ("WHERE workspace = ?", (workspace,)) if workspace is not None else ("", ())
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {self._agent_cols} FROM agents {where} "
                "ORDER BY updated_at DESC, rowid DESC",
                params,
            ).fetchall()
        return [_agent(r) for r in rows]

    def set_agent_status(self, agent_id: str, status: AgentStatus) -> None:
        with self._write() as conn:
            self._check_fence(conn, agent_id, None)
            cur = conn.execute(
                "UPDATE agents SET status = ?, updated_at = ? WHERE id = ?",
                (status, _ts(None), agent_id),
            )
            if cur.rowcount == 0:
                raise StoreError(f"no agent with id {agent_id}")

    def delete_agent(self, agent_id: str) -> None:
        with self._write() as conn:
            self._require_agent(conn, agent_id)
            row = conn.execute("SELECT * FROM leases WHERE agent_id = ?", (agent_id,)).fetchone()
            now = utcnow()
            if row is not None and lease_is_live(lease := _lease(row), now):
                raise busy_error(lease, now)
            tables = (
                "leases",
                "tool_results",
                "transcript_items",
                "runs",
                "audit",
                "jobs",
                "tasks",
            )
            for table in (*tables, "agents"):
                column = "id" if table == "agents" else "agent_id"
                conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (agent_id,))
            self._fences.pop(agent_id, None)

    # -- runs and transcript ---------------------------------------------------------------
    def load_transcript(self, agent_id: str) -> list[TranscriptItem]:
        markers = self._version >= COMPACTION_MARKERS  # an older store read as it stands
        with self._read() as conn:
            rows = conn.execute(
                "SELECT seq, run_id, message"
                + (", compaction" if markers else "")
                + " FROM transcript_items WHERE agent_id = ? ORDER BY seq",
                (agent_id,),
            ).fetchall()
        # One parse of a JSON array is much faster than one parse per item.
        try:
            messages = parse_messages_json("[" + ",".join(r[2] for r in rows) + "]")
            items = [
                TranscriptItem(
                    seq=r[0],
                    run_id=r[1],
                    message=m,
                    compaction=CompactionMarker.from_json(r[3]) if markers and r[3] else None,
                )
                for r, m in zip(rows, messages, strict=True)
            ]
        except ValidationError as exc:
            raise StoreError(
                f"the transcript of agent {agent_id} in {self.path} is unreadable: "
                f"{exc.error_count()} invalid field(s)"
            ) from None
        except ValueError as exc:
            raise StoreError(
                f"a compaction marker of agent {agent_id} in {self.path} is unreadable: {exc}"
            ) from None
        return items

    def begin_run(self, run: RunRecord, *, fence: int | None = None) -> None:
        with self._write() as conn:
            self._require_agent(conn, run.agent_id)
            self._check_fence(conn, run.agent_id, fence)
            if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run.id,)).fetchone():
                raise StoreError(f"a run with id {run.id} already exists")
            conn.execute(
                f"INSERT INTO runs ({_RUN_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.id,
                    run.agent_id,
                    run.prompt,
                    run.status,
                    run.error,
                    run.usage.model_dump_json(),
                    run.cost_usd,
                    _ts(run.started_at),
                    _ts(run.finished_at) if run.finished_at else None,
                    run.rounds,
                    run.tool_calls,
                ),
            )
            conn.execute(
                "UPDATE agents SET turns = turns + 1, status = ?, updated_at = ? WHERE id = ?",
                (status_after_run(run.status), _ts(None), run.agent_id),
            )

    def commit_round(
        self,
        agent_id: str,
        run_id: str,
        messages: list[Message],
        run: RunRecord,
        *,
        fence: int | None = None,
    ) -> None:
        payload = [m.model_dump_json() for m in messages]  # serialise outside the lock
        answered = [
            (agent_id, b.tool_use_id)
            for m in messages
            for b in m.content
            if isinstance(b, ToolResultBlock)
        ]
        now = _ts(None)
        with self._write() as conn:
            count = self._require_agent(conn, agent_id)["items"]
            self._check_fence(conn, agent_id, fence)
            cur = conn.execute(
                "UPDATE runs SET usage = ?, cost_usd = ?, rounds = ?, tool_calls = ? "
                "WHERE id = ? AND agent_id = ?",
                (
                    run.usage.model_dump_json(),
                    run.cost_usd,
                    run.rounds,
                    run.tool_calls,
                    run_id,
                    agent_id,
                ),
            )
            if cur.rowcount == 0:
                raise StoreError(f"no run {run_id} of agent {agent_id}")
            conn.executemany(
                "INSERT INTO transcript_items (agent_id, seq, run_id, message, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(agent_id, count + i, run_id, text, now) for i, text in enumerate(payload, 1)],
            )
            conn.execute(
                "UPDATE agents SET items = ?, updated_at = ? WHERE id = ?",
                (count + len(payload), now, agent_id),
            )
            if answered:  # the round's message now carries them: no longer pending
                conn.executemany(
                    "DELETE FROM tool_results WHERE agent_id = ? AND call_id = ?", answered
                )

    def commit_compaction(
        self,
        agent_id: str,
        run_id: str,
        marker: CompactionMarker,
        run: RunRecord,
        *,
        fence: int | None = None,
    ) -> None:
        message = Message.user_text(marker.summary).model_dump_json()
        payload = marker.to_json()  # serialise outside the lock
        now = _ts(None)
        with self._write() as conn:
            count = self._require_agent(conn, agent_id)["items"]
            self._check_fence(conn, agent_id, fence)
            cur = conn.execute(
                "UPDATE runs SET usage = ?, cost_usd = ?, rounds = ?, tool_calls = ? "
                "WHERE id = ? AND agent_id = ?",
                (
                    run.usage.model_dump_json(),
                    run.cost_usd,
                    run.rounds,
                    run.tool_calls,
                    run_id,
                    agent_id,
                ),
            )
            if cur.rowcount == 0:
                raise StoreError(f"no run {run_id} of agent {agent_id}")
            conn.execute(
                "INSERT INTO transcript_items (agent_id, seq, run_id, message, created_at, "
                "compaction) VALUES (?, ?, ?, ?, ?, ?)",
                (agent_id, count + 1, run_id, message, now, payload),
            )
            conn.execute(
                "UPDATE agents SET items = ?, updated_at = ? WHERE id = ?",
                (count + 1, now, agent_id),
            )

    def commit_tool_result(
        self,
        agent_id: str,
        run_id: str,
        call_id: str,
        result: ToolResultBlock,
        run: RunRecord | None = None,
        *,
        fence: int | None = None,
    ) -> None:
        text = result.model_dump_json()
        with self._write() as conn:
            self._require_agent(conn, agent_id)
            self._check_fence(conn, agent_id, fence)
            if run is not None:
                conn.execute(
                    "UPDATE runs SET usage = ?, cost_usd = ?, rounds = ?, tool_calls = ? "
                    "WHERE id = ? AND agent_id = ?",
                    (
                        run.usage.model_dump_json(),
                        run.cost_usd,
                        run.rounds,
                        run.tool_calls,
                        run_id,
                        agent_id,
                    ),
                )
            conn.execute(
                "INSERT OR REPLACE INTO tool_results (agent_id, call_id, run_id, result, "
                "created_at) VALUES (?, ?, ?, ?, ?)",
                (agent_id, call_id, run_id, text, _ts(None)),
            )

    def pending_tool_results(self, agent_id: str) -> dict[str, ToolResultBlock]:
        if self._version < 2:
            return {}  # an older store read as it stands has none
        with self._read() as conn:
            rows = conn.execute(
                "SELECT call_id, result FROM tool_results WHERE agent_id = ? ORDER BY rowid",
                (agent_id,),
            ).fetchall()
        try:
            return {r[0]: ToolResultBlock.model_validate_json(r[1]) for r in rows}
        except ValidationError as exc:
            raise StoreError(
                f"a tool result of agent {agent_id} in {self.path} is unreadable: "
                f"{exc.error_count()} invalid field(s)"
            ) from None

    def finish_run(self, run: RunRecord, *, fence: int | None = None) -> None:
        with self._write() as conn:
            self._check_fence(conn, run.agent_id, fence)
            cur = conn.execute(
                "UPDATE runs SET prompt = ?, status = ?, error = ?, usage = ?, cost_usd = ?, "
                "finished_at = ?, rounds = ?, tool_calls = ? WHERE id = ? AND agent_id = ?",
                (
                    run.prompt,
                    run.status,
                    run.error,
                    run.usage.model_dump_json(),
                    run.cost_usd,
                    _ts(run.finished_at),
                    run.rounds,
                    run.tool_calls,
                    run.id,
                    run.agent_id,
                ),
            )
            if cur.rowcount == 0:
                raise StoreError(f"no run {run.id} of agent {run.agent_id}")
            conn.execute(
                "UPDATE agents SET status = ?, updated_at = ? WHERE id = ?",
                (status_after_run(run.status), _ts(None), run.agent_id),
            )

    def interrupt_stale_runs(self, agent_id: str, *, reason: str) -> list[RunRecord]:
        with self._write() as conn:
            self._check_fence(conn, agent_id, None)
            rows = conn.execute(
                f"SELECT {_RUN_COLS} FROM runs WHERE agent_id = ? AND status = 'running' "
                "ORDER BY rowid",
                (agent_id,),
            ).fetchall()
            now = _ts(None)
            conn.execute(
                "UPDATE runs SET status = 'interrupted', error = coalesce(error, ?), "
                "finished_at = ? WHERE agent_id = ? AND status = 'running'",
                (reason, now, agent_id),
            )
        stale = [_run(r) for r in rows]
        for run in stale:
            run.status = "interrupted"
            run.error = run.error or reason
            run.finished_at = _dt(now)
        return stale

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._read() as conn:
            row = conn.execute(f"SELECT {_RUN_COLS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _run(row) if row is not None else None

    def list_runs(self, agent_id: str) -> list[RunRecord]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLS} FROM runs WHERE agent_id = ? ORDER BY rowid", (agent_id,)
            ).fetchall()
        return [_run(r) for r in rows]

    def last_run(self, agent_id: str) -> RunRecord | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_RUN_COLS} FROM runs WHERE agent_id = ? ORDER BY rowid DESC LIMIT 1",
                (agent_id,),
            ).fetchone()
        return _run(row) if row is not None else None

    # -- leases ----------------------------------------------------------------------------
    def _current_lease(self, conn: sqlite3.Connection, agent_id: str) -> LeaseRecord | None:
        row = conn.execute("SELECT * FROM leases WHERE agent_id = ?", (agent_id,)).fetchone()
        return _lease(row) if row is not None else None

    def _put_lease(
        self,
        conn: sqlite3.Connection,
        agent_id: str,
        holder: LeaseHolder,
        ttl_s: float,
        generation: int,
    ) -> None:
        now = utcnow()
        conn.execute(
            "INSERT INTO leases (agent_id, pid, host, run_id, expires_at, heartbeat_at, "
            "generation) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id) DO UPDATE SET "
            "pid = excluded.pid, host = excluded.host, run_id = excluded.run_id, "
            "expires_at = excluded.expires_at, heartbeat_at = excluded.heartbeat_at, "
            "generation = excluded.generation",
            (
                agent_id,
                holder.pid,
                holder.host,
                holder.run_id,
                _ts(now + timedelta(seconds=ttl_s)),
                _ts(now),
                generation,
            ),
        )

    def _next_generation(self, conn: sqlite3.Connection, agent_id: str) -> int:
        """A new acquisition's fencing token: one more than any lease of the agent had."""
        conn.execute(
            "UPDATE agents SET lease_generation = lease_generation + 1 WHERE id = ?", (agent_id,)
        )
        row = conn.execute("SELECT lease_generation FROM agents WHERE id = ?", (agent_id,))
        return int(row.fetchone()[0])

    def acquire_lease(self, agent_id: str, holder: LeaseHolder, ttl_s: float) -> int:
        with self._write() as conn:
            self._require_agent(conn, agent_id)
            lease = self._current_lease(conn, agent_id)
            now = utcnow()
            if lease is not None and lease.holder != holder and lease_is_live(lease, now):
                raise busy_error(lease, now)
            if lease is not None and lease.holder == holder:
                generation = lease.generation  # the same holder again: a renewal
            else:
                generation = self._next_generation(conn, agent_id)
            self._put_lease(conn, agent_id, holder, ttl_s, generation)
        self._fences[agent_id] = (holder, generation)
        return generation

    def renew_lease(self, agent_id: str, holder: LeaseHolder, ttl_s: float) -> None:
        with self._write() as conn:
            self._require_agent(conn, agent_id)
            lease = self._current_lease(conn, agent_id)
            held = self._fences.get(agent_id)
            fence = held[1] if held is not None and held[0] == holder else None
            if lease is not None and lease.holder != holder:
                message = busy_error(lease, utcnow()).message
                raise LeaseLostError(f"agent {agent_id} lost its lease: {message}")
            if lease is None and fence is not None:
                raise LeaseLostError(
                    f"agent {agent_id} lost its lease: it was taken over and since released"
                )
            if lease is not None and fence is not None and lease.generation != fence:
                raise lease_lost(agent_id, fence, "a later lease of this process")
            if lease is not None:
                generation = lease.generation
            else:  # renewing a lease this store object never acquired: a new one
                generation = self._next_generation(conn, agent_id)
            self._put_lease(conn, agent_id, holder, ttl_s, generation)
        self._fences[agent_id] = (holder, generation)

    def release_lease(self, agent_id: str, holder: LeaseHolder) -> None:
        with self._write() as conn:
            conn.execute(
                "DELETE FROM leases WHERE agent_id = ? AND pid = ? AND host = ? AND run_id = ?",
                (agent_id, holder.pid, holder.host, holder.run_id),
            )
        held = self._fences.get(agent_id)
        if held is not None and held[0] == holder:
            del self._fences[agent_id]

    def get_lease(self, agent_id: str) -> LeaseRecord | None:
        with self._read() as conn:
            return self._current_lease(conn, agent_id)

    # -- audit -----------------------------------------------------------------------------
    def append_audit(self, record: AuditRecord, *, fence: int | None = None) -> None:
        r = record
        with self._write() as conn:
            self._check_fence(conn, r.agent_id, fence)
            conn.execute(
                f"INSERT INTO audit ({_AUDIT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    r.agent_id,
                    r.run_id,
                    r.call_id,
                    r.tool,
                    r.subject,
                    r.outcome,
                    r.decided_by,
                    r.rule,
                    _ts(r.at),
                ),
            )

    def list_audit(self, agent_id: str, run_id: str | None = None) -> list[AuditRecord]:
        sql = f"SELECT {_AUDIT_COLS} FROM audit WHERE agent_id = ?"
        params: tuple[Any, ...] = (agent_id,)
        if run_id is not None:
            sql += " AND run_id = ?"
            params += (run_id,)
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY id", params).fetchall()
        return [_audit(r) for r in rows]

    # -- permission rules ------------------------------------------------------------------
    def add_permission_rule(self, rule: PermissionRuleRecord) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO permission_rules (scope, rule, decision, created_at) "
                "VALUES (?, ?, ?, ?)",
                (rule.scope, rule.rule, rule.decision, _ts(rule.created_at)),
            )

    def list_permission_rules(self, scope: str | None = None) -> list[PermissionRuleRecord]:
        where, params = ("WHERE scope = ?", (scope,)) if scope is not None else ("", ())
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT scope, rule, decision, created_at FROM permission_rules {where} "
                "ORDER BY id",
                params,
            ).fetchall()
        return [
            PermissionRuleRecord(r["scope"], r["rule"], r["decision"], _dt(r["created_at"]))
            for r in rows
        ]

    def remove_permission_rule(self, rule: PermissionRuleRecord) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "DELETE FROM permission_rules WHERE scope = ? AND rule = ? AND decision = ?",
                (rule.scope, rule.rule, rule.decision),
            )
            return cur.rowcount > 0

    # -- background jobs -------------------------------------------------------------------
    def create_job(self, job: JobRecord, *, fence: int | None = None) -> None:
        j = job
        with self._write() as conn:
            self._require_agent(conn, j.agent_id)
            self._check_fence(conn, j.agent_id, fence)
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (j.id,)).fetchone():
                raise StoreError(f"a job with id {j.id} already exists")
            conn.execute(
                f"INSERT INTO jobs ({_JOB_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    j.id,
                    j.agent_id,
                    j.command,
                    j.status,
                    j.exit_code,
                    j.output_path,
                    j.pid,
                    _ts(j.started_at),
                    _ts(j.finished_at) if j.finished_at else None,
                ),
            )

    def finish_job(
        self,
        job_id: str,
        *,
        status: JobStatus,
        exit_code: int | None,
        finished_at: datetime | None = None,
        fence: int | None = None,
    ) -> None:
        with self._write() as conn:
            owner = conn.execute("SELECT agent_id FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if owner is not None:
                self._check_fence(conn, owner[0], fence)
            cur = conn.execute(
                "UPDATE jobs SET status = ?, exit_code = ?, finished_at = ? WHERE id = ?",
                (status, exit_code, _ts(finished_at), job_id),
            )
            if cur.rowcount == 0:
                raise StoreError(f"no background job with id {job_id}")

    def get_job(self, job_id: str) -> JobRecord | None:
        with self._read() as conn:
            row = conn.execute(f"SELECT {_JOB_COLS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row is not None else None

    def list_jobs(self, agent_id: str) -> list[JobRecord]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_JOB_COLS} FROM jobs WHERE agent_id = ? ORDER BY rowid", (agent_id,)
            ).fetchall()
        return [_job(r) for r in rows]

    # -- lifecycle -------------------------------------------------------------------------
    def files_dir(self, agent_id: str) -> Path:
        """``agents/<id>/`` beside the store file."""
        return self.path.parent / "agents" / agent_dir_name(agent_id)

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                try:
                    conn.close()
                except sqlite3.Error as exc:
                    raise StoreError(self._describe(exc)) from None

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["SCHEMA_VERSION", "SQLiteStore"]
