"""The SQLite backend under faults: foreign files, newer schemas, read-only places, a full disk,
a held lock, and a writer killed with SIGKILL."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mentra.errors import AgentBusyError, StoreError
from mentra.messages import Message, TextBlock, ToolResultBlock, ToolUseBlock
from mentra.store._schema import SCHEMA_VERSION
from mentra.store.base import AgentRecord, LeaseHolder, RunRecord
from mentra.store.sqlite import SQLiteStore

HOST = socket.gethostname()


def _agent(agent_id: str = "a1") -> AgentRecord:
    return AgentRecord(id=agent_id, name="n", model="scripted:x", workspace="/ws", config={})


def _round(i: int) -> list[Message]:
    return [
        Message(
            role="assistant",
            content=[
                TextBlock(text=f"round {i} " + "x" * 200),
                ToolUseBlock(id=f"c{i}", name="shell", input={"command": f"echo {i}"}),
            ],
        ),
        Message(role="user", content=[ToolResultBlock(tool_use_id=f"c{i}", content=str(i))]),
    ]


def _seed(path: Path) -> SQLiteStore:
    store = SQLiteStore(path)
    store.create_agent(_agent())
    store.begin_run(RunRecord(id="r1", agent_id="a1", prompt="go"))
    return store


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


# -- opening ----------------------------------------------------------------------------------
def test_new_store_is_wal_with_recorded_migrations(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "store.sqlite"
    with SQLiteStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
    conn = _raw(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
        assert versions == list(range(1, SCHEMA_VERSION + 1))
    finally:
        conn.close()
    with SQLiteStore(path) as again:  # reopening migrates nothing
        assert again.list_agents(None) == []


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    path.write_text("this is a text file, long enough to fill the sqlite header area\n" * 20)
    with pytest.raises(StoreError, match="not a mentra store") as info:
        SQLiteStore(path)
    assert str(path) in info.value.message
    assert "\n" not in info.value.message
    assert info.value.exit_code == 1


def test_another_programs_database_is_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = _raw(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.close()
    with pytest.raises(StoreError, match="not a mentra store"):
        SQLiteStore(path)
    conn = _raw(path)
    try:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["notes"]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        conn.close()


def test_a_store_from_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    _seed(path).close()
    conn = _raw(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer") as info:
        SQLiteStore(path)
    assert f"schema version {SCHEMA_VERSION + 5}" in info.value.message
    assert "upgrade mentra" in info.value.message


def test_a_directory_as_store_path(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        SQLiteStore(tmp_path)


def _unprivileged(check: Callable[[], str]) -> str:
    """Run ``check`` where permissions bind: in a forked child as ``nobody`` when we are root."""
    if os.geteuid() != 0:
        return check()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_fd)
        try:
            os.setgid(65534)
            os.setuid(65534)
            result = check()
        except BaseException as exc:
            result = f"child failed: {type(exc).__name__}: {exc}"
        os.write(write_fd, result.encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        out = pipe.read()
    os.waitpid(pid, 0)
    return out


def _expect_store_error(make: Callable[[], object]) -> Callable[[], str]:
    def check() -> str:
        try:
            store = make()
        except StoreError as exc:
            return exc.message
        return f"no error from {store!r}"

    return check


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory another user can traverse (pytest's own tmp dirs are private)."""
    path = Path(tempfile.mkdtemp(prefix="mentra-store-"))
    path.chmod(0o755)
    yield path
    for p in sorted(path.rglob("*"), reverse=True):
        if p.is_dir():
            p.chmod(0o755)
    subprocess.run(["rm", "-rf", str(path)], check=True)


def test_a_read_only_directory(shared_tmp: Path) -> None:
    locked = shared_tmp / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    message = _unprivileged(_expect_store_error(lambda: SQLiteStore(locked / "store.sqlite")))
    assert "read-only" in message and str(locked) in message, message


def test_a_read_only_store_file(shared_tmp: Path) -> None:
    path = shared_tmp / "store.sqlite"
    _seed(path).close()
    path.chmod(0o444)

    def write() -> object:
        store = SQLiteStore(path)
        try:
            store.set_agent_status("a1", "failed")
        finally:
            store.close()
        return store

    message = _unprivileged(_expect_store_error(write))
    assert "the file is read-only" in message, message


# -- writing ----------------------------------------------------------------------------------
def test_disk_full_keeps_rounds_whole(tmp_path: Path) -> None:
    store = _seed(tmp_path / "store.sqlite")
    try:
        conn = store._conn
        assert conn is not None
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 3}")
        run = RunRecord(id="r1", agent_id="a1", prompt="go")
        committed = 0
        with pytest.raises(StoreError, match="full") as info:
            for i in range(10_000):
                run.rounds = i + 1
                store.commit_round("a1", "r1", _round(i), run)
                committed += 1
        assert "\n" not in info.value.message
        items = store.load_transcript("a1")
        assert len(items) == 2 * committed  # no half round
        stored = store.get_run("r1")
        assert stored is not None and stored.rounds == committed
        conn.execute("PRAGMA max_page_count = 1073741823")
        store.commit_round("a1", "r1", _round(committed), run)  # usable again
        assert len(store.load_transcript("a1")) == 2 * committed + 2
        assert store.integrity_check() == "ok"
    finally:
        store.close()


def test_a_lock_held_too_long(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    _seed(path).close()
    other = _raw(path)
    other.execute("BEGIN EXCLUSIVE")
    store = SQLiteStore(path, busy_timeout_s=0.2)
    try:
        with pytest.raises(StoreError, match="locked by another process"):
            store.set_agent_status("a1", "failed")
    finally:
        other.execute("ROLLBACK")
        other.close()
        store.close()


def test_unreadable_transcript_row(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    store = _seed(path)
    store.commit_round("a1", "r1", _round(1), RunRecord(id="r1", agent_id="a1", prompt="go"))
    store.close()
    conn = _raw(path)
    conn.execute('UPDATE transcript_items SET message = \'{"role": "robot"}\' WHERE seq = 1')
    conn.close()
    with SQLiteStore(path) as again, pytest.raises(StoreError, match="unreadable"):
        again.load_transcript("a1")


def test_integrity_after_many_rounds(tmp_path: Path) -> None:
    store = _seed(tmp_path / "store.sqlite")
    try:
        run = RunRecord(id="r1", agent_id="a1", prompt="go")
        for i in range(500):
            run.rounds = i + 1
            store.commit_round("a1", "r1", _round(i), run)
        store.finish_run(run)
        assert store.integrity_check() == "ok"
        assert len(store.load_transcript("a1")) == 1000
        agent = store.get_agent("a1")
        assert agent is not None and agent.items == 1000
    finally:
        store.close()


# -- crashes and other processes --------------------------------------------------------------
_WRITER = textwrap.dedent(
    """
    import os, socket, sys
    from mentra.messages import Message, TextBlock, ToolResultBlock, ToolUseBlock
    from mentra.store.base import AgentRecord, LeaseHolder, RunRecord
    from mentra.store.sqlite import SQLiteStore

    store = SQLiteStore(sys.argv[1])
    store.create_agent(AgentRecord(id="a1", name="n", model="m", workspace="/ws", config={}))
    run = RunRecord(id="r1", agent_id="a1", prompt="go")
    store.begin_run(run)
    store.acquire_lease("a1", LeaseHolder(os.getpid(), socket.gethostname(), "r1"), 3600)
    i = 0
    while True:
        i += 1
        run.rounds = i
        store.commit_round("a1", "r1", [
            Message(role="assistant", content=[
                TextBlock(text="y" * 2000),
                ToolUseBlock(id=f"c{i}", name="shell", input={"command": "ls"}),
            ]),
            Message(role="user", content=[
                ToolResultBlock(tool_use_id=f"c{i}", content="z" * 3000),
            ]),
        ], run)
        print(i, flush=True)
    """
)


def test_sigkill_mid_write_keeps_committed_rounds(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    seen = 0
    try:
        for line in proc.stdout:
            seen = int(line)
            if seen >= 200:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert seen >= 200, "the writer died before committing 200 rounds"
    with SQLiteStore(path) as store:
        assert store.integrity_check() == "ok"
        items = store.load_transcript("a1")
        rounds = len(items) // 2
        assert len(items) % 2 == 0 and rounds >= seen
        assert [i.seq for i in items] == list(range(1, len(items) + 1))
        run = store.get_run("r1")
        assert run is not None and run.status == "running" and run.rounds == rounds
        # The killed holder's lease is taken over, not waited out.
        me = LeaseHolder(os.getpid(), HOST, "r2")
        store.acquire_lease("a1", me, 60)


_HOLDER = textwrap.dedent(
    """
    import os, socket, sys, time
    from mentra.store.base import AgentRecord, LeaseHolder
    from mentra.store.sqlite import SQLiteStore

    store = SQLiteStore(sys.argv[1])
    store.acquire_lease("a1", LeaseHolder(os.getpid(), socket.gethostname(), "held"), 3600)
    print("held", flush=True)
    time.sleep(60)
    """
)


def test_lease_held_by_another_live_process(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    _seed(path).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    store = SQLiteStore(path)
    try:
        assert proc.stdout.readline().strip() == "held"
        me = LeaseHolder(os.getpid(), HOST, "r2")
        with pytest.raises(AgentBusyError, match=re.escape(f"{proc.pid}@{HOST}")):
            store.acquire_lease("a1", me, 60)
        proc.kill()
        proc.wait()
        store.acquire_lease("a1", me, 60)  # its holder is gone: taken over
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        store.close()


# -- schema 2 (#14.1, #14.2): a schema-1 store is read as it stands and upgraded in place --------
def _schema_1_store(path: Path) -> None:
    from mentra.store._schema import MIGRATIONS

    conn = _raw(path)
    try:
        for statement in MIGRATIONS[1]:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (1, '2026-01-01T00:00:00+00:00')")
        conn.execute(
            "INSERT INTO agents VALUES ('a1', 'n', 'scripted:x', '/ws', '{}', 'idle', "
            "'2026-01-01T00:00:00.000000+00:00', '2026-01-01T00:00:00.000000+00:00', 1, 1)"
        )
        conn.execute(
            "INSERT INTO runs VALUES ('r1', 'a1', 'go', 'success', NULL, '{}', NULL, "
            "'2026-01-01T00:00:00.000000+00:00', NULL, 1, 0)"
        )
        message = Message.user_text("go").model_dump_json()
        conn.execute(
            "INSERT INTO transcript_items VALUES ('a1', 1, 'r1', ?, '2026-01-01')", (message,)
        )
        conn.execute(
            "INSERT INTO leases VALUES ('a1', 1, 'another-host.example', 'r0', "
            "'2000-01-01T00:00:00.000000+00:00', '2000-01-01T00:00:00.000000+00:00')"
        )
        conn.execute("PRAGMA user_version = 1")
    finally:
        conn.close()


def test_a_schema_1_store_is_read_as_it_stands_and_upgraded_by_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    _schema_1_store(path)
    with SQLiteStore(path, read_only=True) as old:
        assert [i.message.text for i in old.load_transcript("a1")] == ["go"]
        assert old.pending_tool_results("a1") == {}
        lease = old.get_lease("a1")
        assert lease is not None and lease.generation == 0
    with SQLiteStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION >= 2
        assert [i.message.text for i in store.load_transcript("a1")] == ["go"]
        generation = store.acquire_lease("a1", LeaseHolder(os.getpid(), HOST, "r2"), 60)
        assert generation == 1  # the expired schema-1 lease (generation 0) was taken over
        store.commit_tool_result("a1", "r2", "c1", ToolResultBlock(tool_use_id="c1", content="x"))
        assert list(store.pending_tool_results("a1")) == ["c1"]


def test_every_connection_to_a_store_file_syncs_as_the_store_does(tmp_path: Path) -> None:
    """The store and its memory share one WAL file; each connection has its own
    ``synchronous``. At FULL (SQLite's default) the memory's every commit (one episode per
    run) waited for an fsync, on the event loop, several ms per run."""
    from mentra.memory.sqlite import SQLiteMemoryStore

    path = tmp_path / "s.db"
    store = SQLiteStore(path)
    memory = SQLiteMemoryStore(path)
    try:
        normal = 1
        with store._read() as conn:
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == normal
        with memory._read() as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == normal
    finally:
        memory.close()
        store.close()
