"""#14.1: a lease holder frozen past its lease writes nothing after another process took over."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

from tests.reliability.conftest import query, start, transcript, wait_for, wait_until


def test_a_sigstopped_holder_writes_nothing_after_a_takeover_and_exits_6(
    mentra: Any, tmp_path: Path
) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("turns:\n  - text: the reply\n    delay_ms: 2500\n")
    store = tmp_path / "store.sqlite"
    env = {"MENTRA_LEASE_TTL": "1"}
    common = ["-m", f"scripted:{script}", "--store", str(store)]
    first = start(["run", *common, "prompt A"], tmp_path, env)
    events = wait_for(first, "user_message")
    agent_id, run_a = events[0]["agent_id"], events[0]["run_id"]
    wait_until(lambda: len(transcript(store, agent_id)) == 1)  # user A is committed
    first.send_signal(signal.SIGSTOP)
    try:
        time.sleep(1.6)  # past its 1 s lease: its heartbeat cannot run
        second = mentra("resume", agent_id, "prompt B", *common, cwd=tmp_path, env=env)
        assert second.code == 0, second.stderr
        assert second.events[-1]["status"] == "success"
        run_b = second.events[0]["run_id"]
    finally:
        first.send_signal(signal.SIGCONT)
    out, err = first.communicate(timeout=30)
    assert first.returncode == 6, err
    finished = json.loads(out.splitlines()[-1])
    assert finished["type"] == "run_finished"
    assert (finished["status"], finished["exit_code"]) == ("busy", 6)
    assert any("lost its lease" in e for e in finished["errors"]), finished["errors"]
    assert "Traceback" not in err and err.count("\n") == 1, err

    items = transcript(store, agent_id)
    assert [(run, role) for run, role, _ in items] == [
        (run_a, "user"),
        (run_b, "user"),
        (run_b, "assistant"),
    ]
    assert items[0][2]["content"][0]["text"] == "prompt A"
    assert items[1][2]["content"][0]["text"] == "prompt B"
    runs = dict(query(store, "SELECT id, status FROM runs WHERE agent_id = ?", agent_id))
    assert runs == {run_a: "interrupted", run_b: "success"}
    # the agent is as the taker left it, and nobody holds its lease
    assert query(store, "SELECT status FROM agents WHERE id = ?", agent_id) == [("idle",)]
    assert query(store, "SELECT count(*) FROM leases WHERE agent_id = ?", agent_id) == [(0,)]
