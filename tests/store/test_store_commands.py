"""Store behaviour seen through real `mentra` processes: `--all` across workspace stores,
reading a store on a read-only filesystem, and one agent lookup for every command."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mentra.messages import Message, TextBlock
from mentra.store.base import AgentRecord, RunRecord
from mentra.store.location import default_store_path
from mentra.store.sqlite import SQLiteStore
from tests.cli.conftest import MENTRA, REPO


def mentra(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MENTRA, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(os.environ),
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def seed(path: Path, workspace: Path, agent_id: str, *, age_days: float = 0) -> None:
    when = datetime.now(UTC) - timedelta(days=age_days)
    with SQLiteStore(path) as store:
        store.create_agent(
            AgentRecord(
                id=agent_id,
                name=f"n-{agent_id}",
                model="scripted:demo.yaml",
                workspace=str(workspace.resolve()),
                config={"name": f"n-{agent_id}"},
                created_at=when,
                updated_at=when,
            )
        )
        if age_days == 0:
            run = RunRecord(id=f"{agent_id}-r1", agent_id=agent_id, prompt="hi")
            store.begin_run(run)
            reply = Message(role="assistant", content=[TextBlock(text="hello")])
            store.commit_round(agent_id, run.id, [Message.user_text("hi"), reply], run)
            run.status = "success"
            store.finish_run(run)


def workspaces(tmp_path: Path, n: int) -> list[Path]:
    found = []
    for i in range(n):
        ws = tmp_path / f"ws{i}"
        ws.mkdir()
        found.append(ws)
    return found


# -- 13.13: --all means every workspace store of this user ------------------------------------
def test_list_agents_all_covers_every_workspace_store(tmp_path: Path) -> None:
    spaces = workspaces(tmp_path, 4)
    for i, ws in enumerate(spaces):
        seed(default_store_path(ws), ws, f"agent{i}")
    empty = tmp_path / "no-store-here"
    empty.mkdir()
    for where in (empty, spaces[2]):
        r = mentra("list-agents", "--all", "-o", "json", "-C", str(where))
        assert r.returncode == 0, r.stderr
        rows = json.loads(r.stdout)
        assert sorted(row["id"] for row in rows) == ["agent0", "agent1", "agent2", "agent3"]
        assert {row["workspace"] for row in rows} == {str(ws.resolve()) for ws in spaces}
    r = mentra("list-agents", "-o", "json", "-C", str(spaces[2]))  # without --all: this one
    assert [row["id"] for row in json.loads(r.stdout)] == ["agent2"]
    assert not default_store_path(empty).exists()  # reading made no store


def test_list_agents_all_skips_a_broken_store_with_a_warning(tmp_path: Path) -> None:
    good, bad = workspaces(tmp_path, 2)
    seed(default_store_path(good), good, "agent0")
    broken = default_store_path(bad)
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not a database at all" * 100)
    r = mentra("list-agents", "--all", "-o", "jsonl", "-C", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["id"] for line in r.stdout.splitlines()] == ["agent0"]
    assert r.stderr.count("\n") == 1 and str(broken) in r.stderr and "Traceback" not in r.stderr


def test_delete_agent_older_than_all_covers_every_workspace_store(tmp_path: Path) -> None:
    spaces = workspaces(tmp_path, 3)
    for i, ws in enumerate(spaces):
        seed(default_store_path(ws), ws, f"old{i}", age_days=30)
        seed(default_store_path(ws), ws, f"new{i}")
        files = default_store_path(ws).parent / "agents" / f"old{i}"
        files.mkdir(parents=True)
        (files / "job.log").write_text("x")
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    r = mentra("delete-agent", "--older-than", "7d", "--all", "--dry-run", "-C", str(empty))
    assert r.returncode == 0, r.stderr
    assert sorted(json.loads(line)["id"] for line in r.stdout.splitlines()) == [
        "old0",
        "old1",
        "old2",
    ]
    r = mentra("delete-agent", "--older-than", "7d", "--all", "-C", str(empty))
    assert r.returncode == 0, r.stderr
    assert all(json.loads(line)["deleted"] for line in r.stdout.splitlines())
    r = mentra("list-agents", "--all", "-o", "json", "-C", str(empty))
    assert sorted(row["id"] for row in json.loads(r.stdout)) == ["new0", "new1", "new2"]
    for ws in spaces:
        assert not (default_store_path(ws).parent / "agents").joinpath("old0").exists()
        assert not any((default_store_path(ws).parent / "agents").glob("old*"))


# -- 13.15 / 14.8: a store on a read-only filesystem can be read ------------------------------
def _read_only_mount_works(tmp_path: Path) -> bool:
    probe = tmp_path / "probe"
    probe.mkdir()
    if shutil.which("unshare") is None:
        return False
    r = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            f"mount --bind {probe} {probe} && "
            f"mount -o remount,ro,bind {probe} && ! touch {probe}/x 2>/dev/null",
        ],
        capture_output=True,
    )
    return r.returncode == 0


def on_read_only(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run mentra with ``folder`` mounted read-only (a private mount namespace)."""
    quoted = " ".join(f"'{a}'" for a in (MENTRA, *args))
    script = f"mount --bind {folder} {folder} && mount -o remount,ro,bind {folder} && {quoted}"
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ),
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def read_only_ok(tmp_path: Path) -> None:
    if not _read_only_mount_works(tmp_path):
        pytest.skip("needs `unshare -m` and mount rights to make a read-only filesystem")


@pytest.mark.usefixtures("read_only_ok")
def test_list_agents_and_show_read_a_store_on_a_read_only_filesystem(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    db = folder / "store.sqlite"
    ws = tmp_path / "ws"
    ws.mkdir()
    seed(db, ws, "0a1b2c3d")
    r = on_read_only(folder, "list-agents", "--store", str(db), "--all", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert [row["id"] for row in json.loads(r.stdout)] == ["0a1b2c3d"]
    r = on_read_only(folder, "show", "0a1b", "--store", str(db))
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["role"] for line in r.stdout.splitlines()] == ["user", "assistant"]
    r = on_read_only(folder, "export", "0a1b", "--store", str(db))
    assert r.returncode == 0 and json.loads(r.stdout)["agent"]["id"] == "0a1b2c3d"
    # writing still fails, with the reason
    r = on_read_only(folder, "delete-agent", "0a1b", "--store", str(db))
    assert r.returncode == 1 and "cannot write the store" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["store.sqlite"]


@pytest.mark.usefixtures("read_only_ok")
def test_a_newer_store_on_a_read_only_filesystem_is_still_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    db = folder / "store.sqlite"
    seed(db, tmp_path, "0a1b2c3d")
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    r = on_read_only(folder, "list-agents", "--store", str(db))
    assert r.returncode == 1 and "schema version 99" in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1


def test_read_only_store_refuses_writes_and_needs_the_file(tmp_path: Path) -> None:
    from mentra.errors import StoreError

    db = tmp_path / "store.sqlite"
    seed(db, tmp_path, "a1")
    with SQLiteStore(db, read_only=True) as store:
        assert [a.id for a in store.list_agents(None)] == ["a1"]
        with pytest.raises(StoreError, match="cannot write the store"):
            store.set_agent_status("a1", "failed")
    with pytest.raises(StoreError, match="no store at"):
        SQLiteStore(tmp_path / "missing.sqlite", read_only=True)
    assert not (tmp_path / "missing.sqlite").exists()


# -- 14.4: one lookup everywhere --------------------------------------------------------------
def damage_agents_index(db: Path) -> None:
    """Point the agents' primary-key index at an empty index b-tree (the leases' one): lookups
    through the index miss, a table scan still finds the rows."""
    conn = sqlite3.connect(db)
    try:
        (empty_root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_leases_1'"
        ).fetchone()
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute(
            "UPDATE sqlite_master SET rootpage = ? WHERE name = 'sqlite_autoindex_agents_1'",
            (empty_root,),
        )
        conn.commit()
    finally:
        conn.close()


def test_show_and_resume_agree_on_a_damaged_index(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite"
    seed(db, tmp_path, "0a1b2c3d")
    damage_agents_index(db)
    show = mentra("show", "0a1b2c3d", "--store", str(db), "-C", str(tmp_path))
    resume = mentra("resume", "0a1b2c3d", "again", "--store", str(db), "-C", str(tmp_path))
    for r in (show, resume):
        assert r.returncode == 1, (r.returncode, r.stderr)
        assert "is damaged" in r.stderr and "REINDEX" in r.stderr and "Traceback" not in r.stderr
    assert show.stderr.strip().splitlines()[-1] == resume.stderr.strip().splitlines()[-1]
    events = [json.loads(line) for line in resume.stdout.splitlines()]
    assert not events or events[-1]["type"] == "run_finished"


def test_unknown_agent_reads_the_same_from_every_command(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite"
    seed(db, tmp_path, "0a1b2c3d")
    lines = set()
    for cmd in (["show"], ["export"], ["delete-agent"], ["resume"]):
        r = mentra(*cmd, "ffff", "--store", str(db), "-C", str(tmp_path))
        assert r.returncode == 2, (cmd, r.stderr)
        lines.add(next(ln for ln in r.stderr.splitlines() if "no agent" in ln))
    assert lines == {"mentra: error: no agent 'ffff' in this store"}
