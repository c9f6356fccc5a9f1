"""Persistence through real processes: kill -9 mid-tool and mid-reply, then resume; leases."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.cli.conftest import MENTRA, REPO


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [MENTRA, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=cwd,
    )


def _wait_for(proc: subprocess.Popen[str], event_type: str) -> list[dict[str, Any]]:
    assert proc.stdout is not None
    seen = []
    while True:
        line = proc.stdout.readline()
        assert line, f"process ended before {event_type}"
        event = json.loads(line)
        seen.append(event)
        if event["type"] == event_type:
            return seen


def _integrity(store: Path) -> str:
    con = sqlite3.connect(store)
    try:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        con.close()


def test_kill_9_while_a_tool_runs_then_resume(mentra: Any, tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text(
        "turns:\n"
        "  - text: running a slow command\n"
        "    tool_calls: [{name: shell, input: {command: 'sleep 30'}}]\n"
        "  - text: finished after the crash\n"
    )
    store = tmp_path / "store.sqlite"
    args = [
        "run",
        "-m",
        f"scripted:{script}",
        "go",
        "--store",
        str(store),
        "--permission-mode",
        "bypass",
    ]
    proc = _start(args, tmp_path)
    events = _wait_for(proc, "tool_started")
    agent_id = events[0]["agent_id"]
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert _integrity(store) == "ok"

    r = mentra(
        "resume", agent_id, "--store", str(store), "--permission-mode", "bypass", cwd=tmp_path
    )
    assert r.code == 0, r.stderr
    assert r.events[0]["resumed"] is True
    done = r.events[-1]
    assert done["status"] == "success" and done["final_text"] == "finished after the crash"
    shown = mentra("show", agent_id, "--store", str(store), cwd=tmp_path)
    assert "interrupted" in shown.stdout  # the dangling call got an error result, not a re-run
    assert _integrity(store) == "ok"


def test_kill_9_while_a_reply_streams_then_resume_without_prompt(
    mentra: Any, tmp_path: Path
) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("turns:\n  - text: slow answer\n    delay_ms: 30000\n")
    store = tmp_path / "store.sqlite"
    proc = _start(["run", "-m", f"scripted:{script}", "go", "--store", str(store)], tmp_path)
    events = _wait_for(proc, "user_message")
    agent_id = events[0]["agent_id"]
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    fast = tmp_path / "fast.yaml"
    fast.write_text("turns:\n  - text: the answer\n")
    # no prompt: re-run the turn that was interrupted; -m swaps the script for a quick one
    r = mentra("resume", agent_id, "--store", str(store), "-m", f"scripted:{fast}", cwd=tmp_path)
    assert r.code == 0, r.stderr
    assert r.events[-1]["final_text"] == "the answer"
    assert "user_message" not in r.types
    r = mentra("resume", agent_id, "--store", str(store), "-m", f"scripted:{fast}", cwd=tmp_path)
    assert r.code == 2 and "nothing to re-run" in r.stderr


def test_two_concurrent_runs_of_one_agent_one_is_busy(mentra: Any, tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text(
        "turns:\n  - text: first\n  - text: second\n    delay_ms: 3000\n  - text: third\n"
    )
    store = tmp_path / "store.sqlite"
    r = mentra("run", "-m", f"scripted:{script}", "one", "--store", str(store), cwd=tmp_path)
    agent_id = r.events[0]["agent_id"]
    slow = _start(["resume", agent_id, "two", "--store", str(store)], tmp_path)
    _wait_for(slow, "user_message")
    busy = mentra("resume", agent_id, "three", "--store", str(store), cwd=tmp_path)
    assert busy.code == 6
    assert busy.events[-1]["status"] == "busy" and "holds" in busy.stderr
    _out, _ = slow.communicate(timeout=30)
    assert slow.returncode == 0


def test_resume_last_and_list_agents(mentra: Any, tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("turns:\n  - text: one\n  - text: two\n")
    store = tmp_path / "store.sqlite"
    first = mentra("run", "-m", f"scripted:{script}", "a", "--store", str(store), cwd=tmp_path)
    r = mentra("resume", "--last", "b", "--store", str(store), cwd=tmp_path)
    assert r.code == 0 and r.events[-1]["final_text"] == "two"
    assert r.events[0]["agent_id"] == first.events[0]["agent_id"]
    listing = mentra("list-agents", "--store", str(store), "--output", "json", cwd=tmp_path)
    rows = json.loads(listing.stdout)
    assert len(rows) == 1 and rows[0]["id"] == first.events[0]["agent_id"]


def test_unknown_agent_and_bad_store(mentra: Any, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    r = mentra("resume", "nosuch", "hi", "--store", str(store), cwd=tmp_path)
    assert r.code == 2 and "no agent" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    r = mentra(
        "run", "-c", str(REPO / "examples/agents/demo.yaml"), "hi", "--store", str(bad), cwd=REPO
    )
    assert r.code == 1 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_secrets_from_the_environment_never_reach_the_store(mentra: Any, tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("turns:\n  - text: one\n  - text: two\n")
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(
        f"model: scripted:{script}\n"
        "providers:\n"
        "  gateway: {wire: openai-chat, base_url: 'http://127.0.0.1:9/v1',\n"
        "            headers: {Authorization: 'Bearer ${GATEWAY_TOKEN}'}}\n"
    )
    store = tmp_path / "store.sqlite"
    secret = "tok-SECRET-4242"
    r = mentra(
        "run",
        "-c",
        str(cfg),
        "hi",
        "--store",
        str(store),
        cwd=tmp_path,
        env={"GATEWAY_TOKEN": secret},
    )
    assert r.code == 0, r.stderr
    assert secret not in r.stdout
    assert secret.encode() not in store.read_bytes()
    for extra in ("-wal", "-shm"):
        side = Path(str(store) + extra)
        assert not side.exists() or secret.encode() not in side.read_bytes()
    agent_id = r.events[0]["agent_id"]
    # resume re-reads the variable from its own environment
    r = mentra(
        "resume",
        agent_id,
        "again",
        "--store",
        str(store),
        cwd=tmp_path,
        env={"GATEWAY_TOKEN": secret},
    )
    assert r.code == 0 and r.events[-1]["final_text"] == "two"
    r = mentra("resume", agent_id, "again", "--store", str(store), cwd=tmp_path)
    assert r.code == 2 and "GATEWAY_TOKEN is not set" in r.stderr


def test_background_jobs_are_recorded_in_the_store(mentra: Any, tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text(
        "turns:\n"
        "  - text: starting a job\n"
        # the sleep outlasts the run that starts it, which would otherwise see it end itself
        "    tool_calls:\n"
        "      - {name: background_run, input: {command: 'sleep 1; echo built; exit 3'}}\n"
        "  - text: started\n"
        "  - text: saw it finish\n"
    )
    store = tmp_path / "store.sqlite"
    common = ["--store", str(store), "--permission-mode", "bypass"]
    r = mentra("run", "-m", f"scripted:{script}", "go", *common, cwd=tmp_path)
    assert r.code == 0, r.stderr
    agent_id = r.events[0]["agent_id"]

    def jobs() -> list[dict[str, Any]]:
        shown = mentra("show", agent_id, "--jobs", "-o", "json", "--store", str(store))
        assert shown.code == 0, shown.stderr
        return list(json.loads(shown.stdout))

    deadline = time.monotonic() + 20
    while (listed := jobs())[0]["status"] in ("running", "starting"):
        assert time.monotonic() < deadline, listed
        time.sleep(0.1)
    (job,) = listed
    assert (job["status"], job["exit_code"], job["command"]) == (
        "exited",
        3,
        "sleep 1; echo built; exit 3",
    )
    assert job["finished_at"] >= job["started_at"]
    assert Path(job["directory"], "stdout.log").read_text() == "built\n"
    # `show` only looked; the next turn of the agent sees the job end and records it
    con = sqlite3.connect(store)
    row = con.execute("SELECT status, exit_code FROM jobs WHERE id = ?", (job["id"],)).fetchone()
    assert row == ("running", None)
    r = mentra("resume", agent_id, "anything new?", *common, cwd=tmp_path)
    assert r.code == 0, r.stderr
    row = con.execute("SELECT status, exit_code FROM jobs WHERE id = ?", (job["id"],)).fetchone()
    con.close()
    assert row == ("exited", 3)
    assert "--output goes with --jobs" in mentra("show", agent_id, "-o", "json").stderr

    gone = mentra("delete-agent", agent_id, "--store", str(store))
    assert gone.code == 0 and json.loads(gone.stdout) == {
        "id": agent_id,
        "name": "agent",
        "deleted": True,
    }
    assert not Path(job["directory"]).exists()  # the agent's files went with it
    assert mentra("list-agents", "--store", str(store)).stdout == ""


def test_two_resumes_started_together_exactly_one_runs(mentra: Any, tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text(
        "turns:\n  - text: first\n"
        + "  - text: later\n    delay_ms: 3000\n" * 3  # whoever wins holds the lease a while
    )
    store = tmp_path / "store.sqlite"
    r = mentra("run", "-m", f"scripted:{script}", "one", "--store", str(store), cwd=tmp_path)
    agent_id = r.events[0]["agent_id"]
    racers = [
        _start(["resume", agent_id, f"racer {i}", "--store", str(store)], tmp_path)
        for i in range(2)
    ]
    outcomes = []
    for proc in racers:
        out, _err = proc.communicate(timeout=60)
        last = json.loads(out.splitlines()[-1])
        outcomes.append((proc.returncode, last["status"]))
    assert sorted(outcomes) == [(0, "success"), (6, "busy")], outcomes
    assert _integrity(store) == "ok"


def test_a_run_failed_after_retries_keeps_its_rounds_and_resumes_without_prompt(
    mentra: Any, tmp_path: Path
) -> None:
    script = tmp_path / "s.yaml"
    script.write_text(
        "turns:\n"
        "  - tool_calls: [{name: shell, input: {command: 'echo committed'}}]\n"
        "  - error: {status: 503, times: 5, message: overloaded}\n"
        "  - text: never reached\n"
    )
    config = tmp_path / "agent.yaml"
    config.write_text(
        f"model: scripted:{script}\n"
        "providers:\n  scripted:\n    retries: {max_attempts: 2, base_delay: 10ms}\n"
    )
    store = tmp_path / "store.sqlite"
    common = ["--store", str(store), "--permission-mode", "bypass"]
    r = mentra("run", "-c", str(config), "go", *common, cwd=tmp_path)
    assert r.code == 3, r.stderr
    assert r.types.count("retry_attempt") == 1  # two attempts in all, then the run fails
    assert r.events[-1]["status"] == "provider_error" and "gave up after 2 attempts" in r.stderr
    agent_id = r.events[0]["agent_id"]

    fixed = tmp_path / "fixed.yaml"
    # a script's replies are picked by the count of replies in the history: #1 was committed
    fixed.write_text("turns:\n  - text: (committed already)\n  - text: recovered\n")
    r = mentra("resume", agent_id, "-m", f"scripted:{fixed}", *common, cwd=tmp_path)
    assert r.code == 0, r.stderr
    assert "user_message" not in r.types  # the failed turn was re-run, not a new one started
    assert r.events[-1]["status"] == "success" and r.events[-1]["final_text"] == "recovered"
    shown = [
        json.loads(x) for x in mentra("show", agent_id, "--store", str(store)).stdout.splitlines()
    ]
    results = [b for item in shown for b in item["content"] if b["type"] == "tool_result"]
    assert [b["content"] for b in results] == ["exit code: 0\n[stdout]\ncommitted"]  # once, kept
    assert _integrity(store) == "ok"
