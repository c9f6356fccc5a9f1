"""#14.3: every start-up store failure of `run`/`resume` still ends stdout with `run_finished`."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import MENTRA, REPO
from tests.store.test_store_commands import on_read_only, read_only_ok

__all__ = ["read_only_ok"]  # the fixture, for the test below


def _script(tmp_path: Path) -> Path:
    script = tmp_path / "s.yaml"
    script.write_text("turns:\n  - text: hello\n")
    return script


def _assert_failed_start(code: int, stdout: str, stderr: str, reason: str) -> dict[str, Any]:
    assert code == 1, stderr
    events = [json.loads(line) for line in stdout.splitlines()]
    assert [e["type"] for e in events] == ["session_started", "error", "run_finished"], stdout
    done = events[-1]
    assert (done["status"], done["exit_code"]) == ("error", 1)
    assert len(done["errors"]) == 1 and reason in done["errors"][0], done["errors"]
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert len({e["run_id"] for e in events}) == 1
    assert "Traceback" not in stderr and stderr.count("\n") == 1 and reason in stderr, stderr
    return done


@pytest.mark.parametrize("command", ["run", "resume"])
def test_a_file_that_is_not_sqlite(mentra: Any, tmp_path: Path, command: str) -> None:
    store = tmp_path / "store.sqlite"
    store.write_bytes(b"this is not a database\n" * 200)
    args = ["0a1b2c3d4e5f", "again"] if command == "resume" else ["hi"]
    r = mentra(command, *args, "-m", f"scripted:{_script(tmp_path)}", "--store", str(store))
    done = _assert_failed_start(r.code, r.stdout, r.stderr, "not a mentra store")
    assert r.events[0]["resumed"] is (command == "resume")
    assert r.events[0]["store"] == str(store)
    assert done["agent_id"] == ("0a1b2c3d4e5f" if command == "resume" else "")


def test_an_sqlite_database_of_another_program(mentra: Any, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    con = sqlite3.connect(store)
    con.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
    con.commit()
    con.close()
    r = mentra("run", "hi", "-m", f"scripted:{_script(tmp_path)}", "--store", str(store))
    _assert_failed_start(r.code, r.stdout, r.stderr, "not a mentra store")


def test_a_corrupt_store(mentra: Any, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    first = mentra("run", "hi", "-m", f"scripted:{_script(tmp_path)}", "--store", str(store))
    assert first.code == 0, first.stderr
    data = bytearray(store.read_bytes())
    for i in range(100, len(data)):  # keep the header, ruin every page
        data[i] = 0xA5
    store.write_bytes(bytes(data))
    for wal in tmp_path.glob("store.sqlite-*"):
        wal.unlink()
    r = mentra("run", "hi", "-m", f"scripted:{_script(tmp_path)}", "--store", str(store))
    assert r.code == 1, r.stderr
    assert r.types == ["session_started", "error", "run_finished"], r.stdout
    assert r.events[-1]["status"] == "error" and r.events[-1]["errors"]
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_a_write_lock_held_during_run_and_output_json(mentra: Any, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    script = _script(tmp_path)
    first = mentra("run", "hi", "-m", f"scripted:{script}", "--store", str(store))
    assert first.code == 0, first.stderr
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "con = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "con.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
            str(store),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        r = mentra("run", "hi", "-m", f"scripted:{script}", "--store", str(store), "-o", "json")
    finally:
        holder.kill()
        holder.communicate()
    assert r.code == 1, r.stderr
    done = json.loads(r.stdout)  # --output json: the run_finished object alone
    assert (done["type"], done["status"], done["exit_code"]) == ("run_finished", "error", 1)
    assert "locked by another process" in done["errors"][0]
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr


@pytest.mark.usefixtures("read_only_ok")
def test_a_store_on_a_read_only_filesystem(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    script = _script(tmp_path)
    store = folder / "store.sqlite"
    r = on_read_only(folder, "run", "hi", "-m", f"scripted:{script}", "--store", str(store))
    done = _assert_failed_start(r.returncode, r.stdout, r.stderr, "cannot")
    assert "read-only" in done["errors"][0] or "cannot write" in done["errors"][0], done
    assert not store.exists()
    # an existing store on a read-only filesystem: resume cannot write it either
    seeded = subprocess.run(
        [MENTRA, "run", "hi", "-m", f"scripted:{script}", "--store", str(store)],
        capture_output=True,
        text=True,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert seeded.returncode == 0, seeded.stderr
    agent_id = json.loads(seeded.stdout.splitlines()[0])["agent_id"]
    r = on_read_only(folder, "resume", agent_id, "again", "--store", str(store))
    assert r.returncode == 1, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "error", r.stdout
    assert "Traceback" not in r.stderr, r.stderr
