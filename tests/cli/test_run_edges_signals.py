"""`mentra run` at the edges of the process: a reader of stdout that goes away (#13.9), SIGHUP
(#13.10); through real `mentra` processes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import MENTRA, REPO


def _script(tmp_path: Path, kind: str) -> list[str]:
    one = tmp_path / "one.yaml"
    one.write_text("turns:\n  - text: hello there\n")
    if kind == "text":
        return ["-m", f"scripted:{one}"]
    if kind == "missing":
        return ["-m", f"scripted:{tmp_path / 'missing.yaml'}"]
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": "object", "required": ["x"]}')
    return ["-m", f"scripted:{one}", "--json-schema", str(schema)]


@pytest.mark.parametrize("kind", ["text", "missing", "schema"])
def test_run_into_head_never_prints_a_traceback(tmp_path: Path, kind: str) -> None:
    """`mentra run ... | head -1`, 20 times: 141 whenever an event found the reader gone
    (0 or the run's own code only when every event was written before head exited)."""
    args = " ".join(f"'{a}'" for a in [MENTRA, "run", *_script(tmp_path, kind), "hi"])
    script = (
        "for i in $(seq 1 20); do "
        f"{args} --ephemeral 2>>'{tmp_path}/err' | head -1 >/dev/null; "
        'echo "${PIPESTATUS[0]}"; done'
    )
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    own = {"text": "0", "missing": "2", "schema": "3"}[kind]
    codes = done.stdout.split()
    assert len(codes) == 20 and set(codes) <= {"141", own}, codes
    err = (tmp_path / "err").read_text()
    assert "Traceback" not in err and "CancelledError" not in err
    for line in err.splitlines():
        assert line.startswith("mentra: "), line


@pytest.mark.parametrize("kind", ["text", "missing", "schema"])
def test_run_into_a_closed_pipe_exits_141_and_keeps_its_state(tmp_path: Path, kind: str) -> None:
    store = tmp_path / "s.sqlite"
    for _ in range(5):
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            done = subprocess.run(
                [MENTRA, "run", *_script(tmp_path, kind), "hi", "--store", str(store)],
                stdout=write_end,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                cwd=tmp_path,
                timeout=60,
            )
        finally:
            os.close(write_end)
        assert done.returncode == 141, done.stderr
        assert "Traceback" not in done.stderr
    con = sqlite3.connect(store)
    rows = con.execute("SELECT status FROM runs").fetchall()
    agents = con.execute("SELECT status FROM agents").fetchall()
    con.close()
    assert rows == [("interrupted",)] * 5  # the first event already had nowhere to go
    assert "running" not in {a for (a,) in agents}


BYPASS = ("--permission-mode", "bypass")


def _slow_run(tmp_path: Path, store: Path) -> tuple[subprocess.Popen[str], str]:
    script = tmp_path / "slow.yaml"
    script.write_text(
        "turns:\n"
        "  - tool_calls: [{name: shell, input: {command: 'echo one'}}]\n"
        "  - text: late\n    delay_ms: 20000\n"
        "  - text: resumed\n"
    )
    proc = subprocess.Popen(
        [MENTRA, "run", "-m", f"scripted:{script}", "hi", "--store", str(store), *BYPASS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    agent_id = ""
    for line in proc.stdout:  # wait for the tool round to be committed (then 0.3 s more)
        event = json.loads(line)
        agent_id = event["agent_id"]
        if event["type"] == "tool_completed":
            break
    time.sleep(0.3)
    return proc, agent_id


def test_sighup_is_handled_like_sigterm(mentra: Any, tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    proc, agent_id = _slow_run(tmp_path, store)
    proc.send_signal(signal.SIGHUP)
    rest, err = proc.communicate(timeout=30)
    assert proc.returncode == 129, err
    last = json.loads(rest.splitlines()[-1])
    assert last["type"] == "run_finished"
    assert (last["status"], last["exit_code"]) == ("interrupted", 129)
    assert err == "mentra: interrupted: interrupted by signal 1 (SIGHUP)\n"
    con = sqlite3.connect(store)
    (run,) = con.execute("SELECT status FROM runs WHERE agent_id = ?", (agent_id,)).fetchone()
    (agent,) = con.execute("SELECT status FROM agents WHERE id = ?", (agent_id,)).fetchone()
    con.close()
    assert (run, agent) == ("interrupted", "interrupted")
    # the resumed run asks the script for its second reply: now a quick one
    (tmp_path / "slow.yaml").write_text("turns:\n  - text: unused\n  - text: resumed\n")
    r = mentra("resume", agent_id, "go on", "--store", str(store), cwd=tmp_path)
    assert r.code == 0, r.stderr
    assert r.events[-1]["status"] == "success"


def test_the_exit_code_table_documents_129() -> None:
    readme = (REPO / "README.md").read_text()
    assert "| 129 |" in readme
