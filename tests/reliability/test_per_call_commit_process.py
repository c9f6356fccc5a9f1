"""#14.2: a call that completed before a `kill -9` keeps its real result on resume."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from tests.config.fakechat import FakeChat
from tests.reliability.conftest import query, start, transcript, wait_for

INTERRUPTED = "interrupted before it finished; it was not re-run"


def test_kill_9_after_a_calls_tool_completed_keeps_its_real_result(
    mentra: Any, tmp_path: Path
) -> None:
    script = tmp_path / "s.yaml"
    script.write_text(
        "turns:\n"
        "  - text: two calls\n"
        "    tool_calls:\n"
        "      - {name: shell, input: {command: 'echo FIRST-DONE'}}\n"
        "      - {name: shell, input: {command: 'sleep 30'}}\n"
        "  - text: finished after the crash\n"
    )
    store = tmp_path / "store.sqlite"
    common = ["-m", f"scripted:{script}", "--store", str(store), "--permission-mode", "bypass"]
    proc = start(["run", *common, "go"], tmp_path)
    events = wait_for(proc, "tool_completed")
    agent_id = events[0]["agent_id"]
    reply = next(e for e in events if e["type"] == "assistant_message_completed")
    first, second = (c["id"] for c in reply["tool_calls"])
    assert events[-1]["call_id"] == first and "FIRST-DONE" in events[-1]["output"]
    output = events[-1]["output"]
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)

    # the finished call's result is in the store, though its round never committed
    pending = query(store, "SELECT call_id, result FROM tool_results WHERE agent_id = ?", agent_id)
    assert [c for c, _ in pending] == [first] and "FIRST-DONE" in pending[0][1]
    assert [role for _, role, _ in transcript(store, agent_id)] == ["user", "assistant"]

    r = mentra("resume", agent_id, *common[:4], "--permission-mode", "bypass", cwd=tmp_path)
    assert r.code == 0, r.stderr
    assert r.events[-1]["final_text"] == "finished after the crash"
    items = transcript(store, agent_id)
    assert [role for _, role, _ in items] == ["user", "assistant", "user", "assistant"]
    results = {b["tool_use_id"]: b for b in items[2][2]["content"]}
    assert results[first]["content"] == output  # the real result, what the model is sent
    assert not results[first].get("is_error")
    assert INTERRUPTED in results[second]["content"] and results[second]["is_error"]
    assert query(store, "SELECT count(*) FROM tool_results WHERE agent_id = ?", agent_id) == [(0,)]


def test_resume_sends_the_committed_result_to_the_model(
    mentra: Any, tmp_path: Path, fakechat: FakeChat
) -> None:
    script = tmp_path / "s.yaml"
    script.write_text(
        "turns:\n"
        "  - text: two calls\n"
        "    tool_calls:\n"
        "      - {name: shell, input: {command: 'echo REAL-RESULT'}}\n"
        "      - {name: shell, input: {command: 'sleep 30'}}\n"
    )
    store = tmp_path / "store.sqlite"
    args = ["run", "-m", f"scripted:{script}", "go", "--store", str(store)]
    proc = start([*args, "--permission-mode", "bypass"], tmp_path)
    events = wait_for(proc, "tool_completed")
    agent_id, output = events[0]["agent_id"], events[-1]["output"]
    reply = next(e for e in events if e["type"] == "assistant_message_completed")
    first, second = (c["id"] for c in reply["tool_calls"])
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)

    # resume on a real HTTP provider: what it sends for each call is what the model sees
    config = tmp_path / "agent.yaml"
    config.write_text("name: resumed\n" + fakechat.provider_yaml())
    flags = ["--store", str(store), "-c", str(config), "-m", "fakechat:fake-1"]
    r = mentra("resume", agent_id, *flags, "--permission-mode", "bypass", cwd=tmp_path)
    assert r.code == 0, r.stderr
    assert r.events[-1]["final_text"] == "ok"
    messages = fakechat.requests[0]["messages"]
    sent = {m.get("tool_call_id"): m for m in messages if m["role"] == "tool"}
    assert sent[first]["content"] == output and "REAL-RESULT" in output
    assert INTERRUPTED in sent[second]["content"]
