"""`list-agents`, `show`, `export`, `import` and `delete-agent` through typer's CliRunner."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mentra.messages import Message, TextBlock
from mentra.store.base import AgentRecord, RunRecord
from mentra.store.location import default_store_path
from mentra.store.sqlite import SQLiteStore
from mentra_cli.app import app

runner = CliRunner()


def _seed(path: Path, workspace: Path, agent_id: str = "0a1b2c3d4e", name: str = "rev") -> None:
    with SQLiteStore(path) as store:
        store.create_agent(
            AgentRecord(
                id=agent_id,
                name=name,
                model="scripted:demo.yaml",
                workspace=str(workspace),
                config={"name": name},
            )
        )
        run = RunRecord(id=f"{agent_id}-r1", agent_id=agent_id, prompt="hi")
        store.begin_run(run)
        reply = Message(role="assistant", content=[TextBlock(text="hello")])
        store.commit_round(agent_id, run.id, [Message.user_text("hi"), reply], run)
        run.status = "success"
        store.finish_run(run)


def test_list_agents_workspace_and_all(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    ws, other = tmp_path / "ws", tmp_path / "other"
    ws.mkdir()
    other.mkdir()
    _seed(db, ws.resolve(), "aaa111", "here")
    _seed(db, other.resolve(), "bbb222", "there")
    result = runner.invoke(app, ["list-agents", "--store", str(db), "-C", str(ws)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["id"], r["name"], r["status"], r["turns"], r["items"]) for r in rows] == [
        ("aaa111", "here", "idle", 1, 2)
    ]
    assert rows[0]["created_at"] and rows[0]["updated_at"]
    result = runner.invoke(app, ["list-agents", "--store", str(db), "--all", "--output", "json"])
    assert result.exit_code == 0
    assert {r["id"] for r in json.loads(result.stdout)} == {"aaa111", "bbb222"}
    result = runner.invoke(app, ["list-agents", "--store", str(db), "-o", "yaml"])
    assert result.exit_code == 2


def test_list_agents_uses_env_and_creates_no_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["list-agents"])
    assert result.exit_code == 0 and result.stdout == ""
    assert not default_store_path(tmp_path).exists()
    db = tmp_path / "env.sqlite"
    _seed(db, tmp_path.resolve())
    monkeypatch.setenv("MENTRA_STORE", str(db))
    result = runner.invoke(app, ["list-agents"])
    assert result.exit_code == 0 and json.loads(result.stdout)["id"] == "0a1b2c3d4e"


def test_show_prints_the_transcript(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    _seed(db, tmp_path)
    result = runner.invoke(app, ["show", "0a1b", "--store", str(db)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(x["seq"], x["role"], x["content"][0]["text"]) for x in lines] == [
        (1, "user", "hi"),
        (2, "assistant", "hello"),
    ]
    assert lines[0]["run_id"] == "0a1b2c3d4e-r1"
    result = runner.invoke(app, ["show", "nope", "--store", str(db)])
    assert result.exit_code == 2 and "no agent 'nope'" in result.stderr


def test_export_then_import_elsewhere(tmp_path: Path) -> None:
    source, target = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    _seed(source, tmp_path / "runner-1")
    out = tmp_path / "agent.json"
    result = runner.invoke(app, ["export", "0a1b2c", "--store", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["format"] == "mentra-agent"
    ws = tmp_path / "runner-2"
    ws.mkdir()
    result = runner.invoke(app, ["import", str(out), "--store", str(target), "-C", str(ws)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["id"] == "0a1b2c3d4e" and summary["workspace"] == str(ws.resolve())
    assert summary["items"] == 2
    again = runner.invoke(app, ["import", str(out), "--store", str(target), "-C", str(ws)])
    assert again.exit_code == 2 and "--replace" in again.stderr
    replaced = runner.invoke(
        app, ["import", str(out), "--store", str(target), "-C", str(ws), "--replace"]
    )
    assert replaced.exit_code == 0
    exported = runner.invoke(app, ["export", "0a1b2c3d4e", "--store", str(target)])
    assert exported.exit_code == 0
    assert len(json.loads(exported.stdout)["transcript"]) == 2


def test_import_bad_files(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "mentra-agent",\n  oops}')
    result = runner.invoke(app, ["import", str(bad), "--store", str(db)])
    assert result.exit_code == 2 and f"{bad}:2:3" in result.stderr
    result = runner.invoke(app, ["import", str(tmp_path / "missing.json"), "--store", str(db)])
    assert result.exit_code == 2 and "cannot read" in result.stderr
    result = runner.invoke(app, ["import", "-", "--store", str(db)], input='{"format": "x"}')
    assert result.exit_code == 2 and "not a mentra agent export" in result.stderr


def test_store_that_is_not_a_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not sqlite at all\n" * 10)
    result = runner.invoke(app, ["list-agents", "--store", str(junk)])
    assert result.exit_code == 1
    assert "not a mentra store" in result.stderr and "Traceback" not in result.stderr


def _deleted(stdout: str) -> list[tuple[str, bool]]:
    return [(row["id"], row["deleted"]) for row in map(json.loads, stdout.splitlines())]


def test_delete_agent_by_id_removes_its_records_and_files(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    ws = tmp_path.resolve()
    _seed(db, ws, "aaa111", "gone")
    _seed(db, ws, "bbb222", "kept")
    files = tmp_path / "agents" / "aaa111" / "jobs"  # where the runtime keeps agent files
    files.mkdir(parents=True)
    (files / "stdout.log").write_text("x")
    result = runner.invoke(app, ["delete-agent", "aaa", "--store", str(db), "-C", str(ws)])
    assert result.exit_code == 0, result.output
    assert _deleted(result.stdout) == [("aaa111", True)]
    assert not (tmp_path / "agents" / "aaa111").exists()
    with SQLiteStore(db) as store:
        assert store.get_agent("aaa111") is None
        assert store.get_run("aaa111-r1") is None
        assert [m.message.text for m in store.load_transcript("bbb222")] == ["hi", "hello"]


def test_delete_agent_unknown_id_deletes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    _seed(db, tmp_path.resolve(), "aaa111")
    result = runner.invoke(app, ["delete-agent", "aaa111", "nosuch", "--store", str(db)])
    assert result.exit_code == 2
    assert "no agent 'nosuch'" in result.output
    with SQLiteStore(db) as store:
        assert store.get_agent("aaa111") is not None


def test_delete_agents_older_than(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    ws, other = tmp_path / "ws", tmp_path / "other"
    ws.mkdir()
    other.mkdir()
    _seed(db, ws.resolve(), "old111", "old")
    _seed(db, ws.resolve(), "new222", "new")
    _seed(db, other.resolve(), "old333", "old elsewhere")
    con = sqlite3.connect(db)
    with con:
        con.execute(
            "UPDATE agents SET updated_at = '2026-01-01T00:00:00.000000+00:00' "
            "WHERE id IN ('old111', 'old333')"
        )
    con.close()
    base = ["delete-agent", "--older-than", "7d", "--store", str(db), "-C", str(ws)]
    dry = runner.invoke(app, [*base, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert _deleted(dry.stdout) == [("old111", False)]
    done = runner.invoke(app, base)
    assert _deleted(done.stdout) == [("old111", True)]
    everywhere = runner.invoke(app, [*base, "--all"])
    assert _deleted(everywhere.stdout) == [("old333", True)]
    with SQLiteStore(db) as store:
        assert [a.id for a in store.list_agents(None)] == ["new222"]


def test_delete_agent_skips_a_running_agent(tmp_path: Path) -> None:
    from mentra.store._common import this_host
    from mentra.store.base import LeaseHolder

    db = tmp_path / "s.sqlite"
    _seed(db, tmp_path.resolve(), "aaa111")
    _seed(db, tmp_path.resolve(), "bbb222")
    with SQLiteStore(db) as store:  # this (live) process runs aaa111
        store.acquire_lease("aaa111", LeaseHolder(os.getpid(), this_host(), "r9"), 60)
    result = runner.invoke(app, ["delete-agent", "aaa111", "bbb222", "--store", str(db)])
    assert result.exit_code == 6
    assert _deleted(result.stdout) == [("bbb222", True)]
    assert "holds" in result.stderr
    with SQLiteStore(db) as store:
        assert store.get_agent("aaa111") is not None and store.get_agent("bbb222") is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "one of the two"),
        (["a1", "--older-than", "1d"], "one of the two"),
        (["a1", "--all"], "--all goes with --older-than"),
        (["--older-than", "soon"], "invalid duration"),
    ],
)
def test_delete_agent_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["delete-agent", *args, "--store", str(tmp_path / "s.sqlite")])
    assert result.exit_code == 2 and message in result.stderr
