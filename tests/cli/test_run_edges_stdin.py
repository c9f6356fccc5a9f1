"""How `run` and `resume` read their prompt, through real `mentra` processes: the deadline
covers reading stdin (#13.12), `resume` reads piped stdin as `run` does (#13.17), text that is
not UTF-8 is decoded with replacement characters and said so (#13.4)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import MENTRA

REPLACED = "is not valid UTF-8: its invalid bytes were replaced with U+FFFD in the prompt"


@pytest.fixture
def one(tmp_path: Path) -> str:
    script = tmp_path / "one.yaml"
    script.write_text("turns:\n  - text: first\n  - text: second\n")
    return f"scripted:{script}"


def _events(stdout: bytes | str) -> list[dict[str, Any]]:
    text = stdout.decode() if isinstance(stdout, bytes) else stdout
    return [json.loads(line) for line in text.splitlines()]


def _agents(store: Path) -> list[tuple[str, str]]:
    con = sqlite3.connect(store)
    try:
        return con.execute("SELECT id, status FROM agents").fetchall()
    finally:
        con.close()


def test_the_timeout_covers_reading_stdin(tmp_path: Path, one: str) -> None:
    """`--timeout 2s` with a pipe that sent a line and stays open: exit 5 after about 2 s."""
    store = tmp_path / "s.sqlite"
    read_end, write_end = os.pipe()
    os.write(write_end, b"the first line\n")  # and the pipe stays open
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            [MENTRA, "run", "-m", one, "--timeout", "1s", "--store", str(store)],
            stdin=read_end,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
        )
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail("reading stdin was not covered by --timeout")
    finally:
        os.close(read_end)
        os.close(write_end)
    took = time.monotonic() - started
    assert proc.returncode == 5, err
    assert took < 10
    events = _events(out)
    assert [e["type"] for e in events] == ["session_started", "error", "run_finished"]
    last = events[-1]
    assert (last["status"], last["exit_code"]) == ("timeout", 5)
    assert last["errors"] == ["the run timed out after 1s reading stdin"]
    assert err.decode() == "mentra: error: the run timed out after 1s reading stdin\n"
    assert not store.exists() or _agents(store) == []  # no agent before the prompt is read


def test_time_spent_reading_stdin_counts_against_the_timeout(tmp_path: Path) -> None:
    script = tmp_path / "slow.yaml"
    script.write_text("turns:\n  - text: late\n    delay_ms: 1500\n")
    cmd = [MENTRA, "run", "-m", f"scripted:{script}", "--timeout", "2s", "--ephemeral"]
    feeder = "echo first; sleep 1; echo second"
    line = " ".join(f"'{a}'" for a in cmd)
    done = subprocess.run(
        ["bash", "-c", f"({feeder}) | {line}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    # 1 s reading stdin + 1.5 s of reply > 2 s: the run times out
    assert done.returncode == 5, done.stderr
    last = _events(done.stdout)[-1]
    assert (last["type"], last["status"]) == ("run_finished", "timeout")


def test_resume_takes_piped_stdin_as_the_prompt(mentra: Any, tmp_path: Path, one: str) -> None:
    store = tmp_path / "s.sqlite"
    first = mentra("run", "-m", one, "hi", "--store", str(store), cwd=tmp_path)
    assert first.code == 0, first.stderr
    r = mentra("resume", "--last", "--store", str(store), input="from the pipe\n", cwd=tmp_path)
    assert r.code == 0, r.stderr
    user = [e for e in r.events if e["type"] == "user_message"]
    assert [u["text"] for u in user] == ["from the pipe\n"]
    assert r.events[-1]["final_text"] == "second"


def test_resume_appends_piped_stdin_to_its_prompt(mentra: Any, tmp_path: Path, one: str) -> None:
    store = tmp_path / "s.sqlite"
    first = mentra("run", "-m", one, "hi", "--store", str(store), cwd=tmp_path)
    agent_id = first.events[0]["agent_id"]
    r = mentra("resume", agent_id, "Summarise:", "--store", str(store), input="ctx", cwd=tmp_path)
    assert r.code == 0, r.stderr
    user = [e for e in r.events if e["type"] == "user_message"]
    assert [u["text"] for u in user] == ["Summarise:\n\nctx"]


def _run_bytes(
    args: list[str], stdin: bytes | None, cwd: Path
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [MENTRA.encode(), *[a if isinstance(a, bytes) else a.encode() for a in args]],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        cwd=cwd,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": str(cwd)},
    )


@pytest.mark.parametrize(
    ("prompt", "stdin", "where", "text"),
    [
        (b"-", b"caf\xe9\n", "stdin", "caf\ufffd\n"),
        (b"Summarise:", b"caf\xe9", "stdin", "Summarise:\n\ncaf\ufffd"),
        (b"caf\xe9", None, "the prompt argument", "caf\ufffd"),
    ],
)
def test_a_prompt_that_is_not_utf8_is_replaced_and_said_so(
    tmp_path: Path, one: str, prompt: bytes, stdin: bytes | None, where: str, text: str
) -> None:
    store = tmp_path / "s.sqlite"
    args: list[Any] = ["run", "-m", one, prompt, "--store", str(store)]
    done = _run_bytes(args, stdin, tmp_path)
    assert done.returncode == 0, done.stderr
    events = _events(done.stdout)
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "success"
    notices = [e["message"] for e in events if e["type"] == "notice"]
    assert f"{where} {REPLACED}" in notices
    user = [e for e in events if e["type"] == "user_message"]
    assert [u["text"] for u in user] == [text]
    agents = _agents(store)
    assert len(agents) == 1 and agents[0][1] != "running"
    con = sqlite3.connect(store)
    (prompt_col,) = con.execute("SELECT prompt FROM runs").fetchone()
    con.close()
    assert prompt_col == text
