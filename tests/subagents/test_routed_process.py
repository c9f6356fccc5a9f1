"""Issue 17's done-when, through real `mentra` processes against a Chat Completions server on
127.0.0.1: the `task` tool runs a child in the parent's run, on the parent's budget, under the
parent's permissions, with its events in the parent's stream."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import MENTRA, mentra
from tests.subagents.routed import RoutedChat, calls, chat, last_tool_result, text

__all__ = ["chat", "mentra"]  # the fixtures this module's tests take

SUFFIX = "You are a subagent working for another agent."
LIST = ("files", {"operations": [{"op": "list", "path": "."}]})


def _workspace(tmp_path: Path, chat: RoutedChat, extra: str = "") -> tuple[Path, Path, Path]:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "hello.txt").write_text("hi\n", encoding="utf-8")
    config = tmp_path / "agent.yaml"
    config.write_text(
        "name: boss\nmodel: fake:parent-model\nsystem: You are the boss.\n"
        f"{chat.provider_yaml()}{extra}",
        encoding="utf-8",
    )
    return ws, config, tmp_path / "store.sqlite"


def _child_saw(body: dict[str, Any]) -> bytes:
    seen = last_tool_result(body)
    return text("I saw hello.txt" if "hello.txt" in seen else f"I saw nothing: {seen[:80]}")


def _parent_echo(body: dict[str, Any]) -> bytes:
    return text("parent heard: " + last_tool_result(body))


def _ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).timestamp()


def test_parent_delegates_and_the_stream_holds_the_child(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    ws, config, store = _workspace(tmp_path, chat)
    chat.route("go", calls(("task", {"prompt": "list the files here"})), _parent_echo)
    chat.route("list the files here", calls(LIST), _child_saw)
    done = mentra("run", "-c", str(config), "--store", str(store), "go", cwd=ws)
    assert done.code == 0, done.stderr
    events = done.events
    types = done.types
    finished = events[-1]
    assert types[0] == "session_started" and types.count("session_started") == 1
    assert finished["type"] == "run_finished" and types.count("run_finished") == 1
    assert finished["status"] == "success"
    assert "I saw hello.txt" in finished["final_text"]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)) and seqs[0] == 1  # one strictly increasing seq

    parent_agent, parent_run = events[0]["agent_id"], events[0]["run_id"]
    started = next(e for e in events if e["type"] == "subagent_started")
    ended = next(e for e in events if e["type"] == "subagent_finished")
    child = started["child_agent_id"]
    assert child != parent_agent and ended["child_agent_id"] == child
    assert started["agent_id"] == parent_agent and started["prompt"] == "list the files here"
    assert ended["status"] == "success" and ended["final_text"] == "I saw hello.txt"
    between = events[events.index(started) + 1 : events.index(ended)]
    child_tools = [e for e in between if e["type"] == "tool_completed"]
    assert [e["name"] for e in child_tools] == ["files"]
    assert all(e["agent_id"] == child and e["parent_run_id"] == parent_run for e in between)
    assert len({e["run_id"] for e in between}) == 1 and between[0]["run_id"] != parent_run
    assert all(e["parent_run_id"] is None for e in events if e["agent_id"] == parent_agent)

    # the default child: the parent's model and system prompt plus the reference's note, no task
    child_requests = chat.requests_of("list the files here")
    assert len(child_requests) == 2
    first = child_requests[0]
    assert first["model"] == "parent-model"
    system = first["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("You are the boss.") and SUFFIX in system["content"]
    child_tool_names = {t["function"]["name"] for t in first.get("tools", [])}
    assert "files" in child_tool_names and "task" not in child_tool_names
    parent_tool_names = {t["function"]["name"] for t in chat.requests_of("go")[0]["tools"]}
    assert "task" in parent_tool_names

    # one budget: the parent's usage includes the child's two requests
    assert finished["usage"]["input_tokens"] == 40 and finished["usage"]["output_tokens"] == 8
    assert finished["tool_calls"] == 2
    (summary,) = finished["subagents"]
    assert summary["agent_id"] == child and summary["status"] == "success"
    assert summary["profile"] is None and summary["usage"]["input_tokens"] == 20

    # persistence: a stored child with its parent; hidden from list-agents unless --children
    listed = mentra("list-agents", "--store", str(store), "-o", "json", cwd=ws)
    assert listed.code == 0, listed.stderr
    assert [a["id"] for a in json.loads(listed.stdout)] == [parent_agent]
    with_children = mentra("list-agents", "--store", str(store), "--children", "-o", "json", cwd=ws)
    rows = {a["id"]: a for a in json.loads(with_children.stdout)}
    assert set(rows) == {parent_agent, child}
    assert rows[child]["parent"] == parent_agent and rows[child]["name"] == "boss::task"
    shown = mentra("show", child, "--store", str(store), cwd=ws)
    assert shown.code == 0, shown.stderr
    assert "list the files here" in shown.stdout and "I saw hello.txt" in shown.stdout


def test_a_named_profile_shapes_the_child(mentra: Any, chat: RoutedChat, tmp_path: Path) -> None:
    ws, config, store = _workspace(
        tmp_path,
        chat,
        "agents:\n  lister:\n    description: Lists files\n    system: You list files.\n"
        "    model: fake:child-model\n    tools: {only: [files]}\n    max_rounds: 1\n",
    )
    chat.route("go", calls(("task", {"prompt": "list it", "agent": "lister"})), _parent_echo)
    chat.route("list it", calls(LIST), _child_saw)  # needs 2 rounds, the profile allows 1
    done = mentra("run", "-c", str(config), "--store", str(store), "go", cwd=ws)
    assert done.code == 0, done.stderr
    schema = next(t for t in chat.requests_of("go")[0]["tools"] if t["function"]["name"] == "task")
    agent_prop = schema["function"]["parameters"]["properties"]["agent"]
    assert agent_prop["enum"] == ["lister"] and "Lists files" in agent_prop["description"]
    (request,) = chat.requests_of("list it")  # max_rounds 1: one request, then the limit
    assert request["model"] == "child-model"
    assert (
        request["messages"][0]["content"]
        == f"You list files.\n\n{SUFFIX}" + (request["messages"][0]["content"].split(SUFFIX, 1)[1])
    )
    assert [t["function"]["name"] for t in request["tools"]] == ["files"]
    ended = next(e for e in done.events if e["type"] == "subagent_finished")
    assert ended["status"] != "success"
    assert "Subagent failed: max_rounds reached (1)" in done.events[-1]["final_text"]
    assert done.events[-1]["subagents"][0]["profile"] == "lister"


def test_no_summary_and_a_failing_child(mentra: Any, chat: RoutedChat, tmp_path: Path) -> None:
    ws, config, store = _workspace(tmp_path, chat)
    chat.route(
        "go",
        calls(("task", {"prompt": "say nothing"}), ("task", {"prompt": "break"})),
        lambda body: text(
            " | ".join(m["content"] for m in body["messages"] if m["role"] == "tool")
        ),
    )
    chat.route("say nothing", text(""))
    chat.route("break", status=400)
    done = mentra("run", "-c", str(config), "--store", str(store), "go", cwd=ws)
    assert done.code == 0, done.stderr
    final = done.events[-1]["final_text"]
    assert "(no summary)" in final and "Subagent failed:" in final
    statuses = sorted(s["status"] for s in done.events[-1]["subagents"])
    assert statuses == ["provider_error", "success"]


def test_max_tool_calls_counts_the_childs_calls(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    ws, config, store = _workspace(tmp_path, chat)
    chat.route("go", calls(("task", {"prompt": "two calls"})), _parent_echo)
    chat.route("two calls", calls(LIST), calls(LIST), _child_saw)
    done = mentra(
        "run", "-c", str(config), "--store", str(store), "--max-tool-calls", "2", "go", cwd=ws
    )  # the parent's task call and the child's first call fit; the child's second does not
    assert done.code == 4, done.stderr
    assert done.types[-1] == "run_finished" and done.types.count("run_finished") == 1
    assert done.events[-1]["status"] == "limit_reached"
    assert len(chat.requests_of("go")) == 1  # the parent did not go on after its child hit it
    one = mentra(
        "run", "-c", str(config), "--store", str(store), "--max-tool-calls", "1", "go", cwd=ws
    )
    assert one.code == 4, one.stderr
    assert one.events[-1]["status"] == "limit_reached"


def test_a_profile_cannot_allow_what_the_parent_denies(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    ws, config, store = _workspace(
        tmp_path,
        chat,
        "permissions:\n  mode: default\n  deny: ['shell(touch *)']\n"
        "agents:\n  builder:\n    description: Runs commands\n    tools: {only: [shell]}\n"
        "    permissions: {mode: bypass, allow: ['shell']}\n",
    )
    chat.route("go", calls(("task", {"prompt": "make it", "agent": "builder"})), _parent_echo)
    chat.route(
        "make it",
        calls(("shell", {"command": "touch marker"})),
        lambda body: text("result: " + last_tool_result(body)),
    )
    done = mentra("run", "-c", str(config), "--store", str(store), "--allow", "shell", "go", cwd=ws)
    assert done.code == 0, done.stderr
    assert not (ws / "marker").exists()
    child = next(e for e in done.events if e["type"] == "subagent_started")["child_agent_id"]
    (decision,) = [
        e for e in done.events if e["type"] == "permission_resolved" and e["agent_id"] == child
    ]
    assert decision["outcome"] == "deny" and decision["rule"] == "shell(touch *)", decision
    notices = [
        e["message"] for e in done.events if e["type"] == "notice" and e["agent_id"] == child
    ]
    assert any("allow" in n for n in notices), notices  # the profile's allow is said ignored
    shell = next(e for e in done.events if e["type"] == "tool_completed" and e["name"] == "shell")
    assert shell["is_error"] is True
    (denial,) = done.events[-1]["permission_denials"]  # the parent's record lists the child's
    assert denial["agent_id"] == child and denial["tool"] == "shell"
    strict = mentra(
        "run", "-c", str(config), "--store", str(store), "--allow", "shell", "--fail-on-denial",
        "go", cwd=ws,
    )  # fmt: skip
    assert strict.code == 8, strict.stderr  # a child's denial fails the parent's run
    assert strict.events[-1]["status"] == "denied"


def test_a_childs_ask_reaches_the_approval_command(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    ws, config, store = _workspace(tmp_path, chat, "permissions: {mode: default}\n")
    seen = tmp_path / "asked.jsonl"
    approver = tmp_path / "approve.sh"
    approver.write_text(f"#!/bin/sh\ncat >> {seen}\necho >> {seen}\necho allow\n", encoding="utf-8")
    approver.chmod(0o755)
    chat.route("go", calls(("task", {"prompt": "touch it"})), _parent_echo)
    chat.route(
        "touch it",
        calls(("shell", {"command": "touch approved-marker"})),
        lambda body: text("done: " + last_tool_result(body)[:40]),
    )
    done = mentra(
        "run", "-c", str(config), "--store", str(store), "--approval-command", str(approver),
        "go", cwd=ws,
    )  # fmt: skip
    assert done.code == 0, done.stderr
    assert (ws / "approved-marker").exists()
    assert "touch approved-marker" in seen.read_text(encoding="utf-8")


def test_two_tasks_of_one_reply_run_at_once(mentra: Any, chat: RoutedChat, tmp_path: Path) -> None:
    def spans(case: str, extra: str) -> tuple[float, list[dict[str, Any]]]:
        (tmp_path / case).mkdir()
        ws, config, store = _workspace(tmp_path / case, chat, extra)
        done = mentra("run", "-c", str(config), "--store", str(store), "go", cwd=ws)
        assert done.code == 0, done.stderr
        frames = [e for e in done.events if e["type"] in ("subagent_started", "subagent_finished")]
        assert len(frames) == 4
        return _ts(frames[-1]) - _ts(frames[0]), frames

    chat.route("go", calls(("task", {"prompt": "child a"}), ("task", {"prompt": "child b"})),
               text("both done"))  # fmt: skip
    chat.route("child a", text("a"), delay_s=1.5)
    chat.route("child b", text("b"), delay_s=1.5)
    together, frames = spans("together", "")
    assert [f["type"] for f in frames[:2]] == ["subagent_started"] * 2  # both began first
    assert together < 2.6, together  # one child takes 1.5 s; two in a row take 3 s
    serial, frames = spans("serial", "limits: {max_parallel_subagents: 1}\n")
    assert [f["type"] for f in frames] == ["subagent_started", "subagent_finished"] * 2
    assert serial >= 3.0, serial


def test_timeout_during_a_child_ends_the_whole_run(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    ws, config, store = _workspace(tmp_path, chat)
    chat.route("go", calls(("task", {"prompt": "slow"})), _parent_echo)
    chat.route("slow", text("too late"), delay_s=20)
    started = time.monotonic()
    done = mentra("run", "-c", str(config), "--store", str(store), "--timeout", "2s", "go", cwd=ws)
    assert time.monotonic() - started < 15
    assert done.code == 5, done.stderr
    assert done.types[-1] == "run_finished" and done.events[-1]["status"] == "timeout"
    ended = next(e for e in done.events if e["type"] == "subagent_finished")
    assert ended["status"] == "timeout"
    listed = mentra("list-agents", "--store", str(store), "--children", "-o", "json", cwd=ws)
    rows = {a["id"]: a for a in json.loads(listed.stdout)}
    parent = done.events[0]["agent_id"]
    assert set(rows) == {parent, ended["child_agent_id"]}
    assert {a["status"] for a in rows.values()} == {"failed"}, rows
    with sqlite3.connect(store) as db:  # each record: its run timed out
        runs = dict(db.execute("SELECT agent_id, status || ': ' || error FROM runs").fetchall())
    assert runs == {
        parent: "timeout: the run timed out after 2s",
        ended["child_agent_id"]: "timeout: the parent's run timed out",
    }


@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_a_child_stops_both_and_resume_does_not_rerun_it(
    mentra: Any, chat: RoutedChat, tmp_path: Path, signum: int, code: int
) -> None:
    ws, config, store = _workspace(tmp_path, chat)
    chat.route("go", calls(("task", {"prompt": "slow"})), _parent_echo)
    chat.route("slow", text("too late"), delay_s=30)
    proc = subprocess.Popen(
        [MENTRA, "run", "-c", str(config), "--store", str(store), "go"],
        cwd=ws, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=dict(os.environ),
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not chat.requests_of("slow") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert chat.requests_of("slow"), "the child never asked its model"
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == code, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "interrupted"
    ended = next(e for e in events if e["type"] == "subagent_finished")
    assert ended["status"] == "interrupted"
    child = ended["child_agent_id"]
    listed = mentra("list-agents", "--store", str(store), "--children", "-o", "json", cwd=ws)
    statuses = {a["id"]: a["status"] for a in json.loads(listed.stdout)}
    assert statuses[child] == "interrupted", statuses

    parent = events[0]["agent_id"]
    before = len(chat.requests_of("slow"))
    again = mentra("resume", parent, "--store", str(store), "go on", cwd=ws)
    assert again.code == 0, again.stderr
    assert len(chat.requests_of("slow")) == before  # the child is not re-run
    resumed = chat.requests_of("go")[-1]
    answered = [m for m in resumed["messages"] if m["role"] == "tool"]
    assert answered and "interrupted" in answered[0]["content"]
    assert "not re-run" in answered[0]["content"]


def test_a_child_works_on_its_parents_board(mentra: Any, chat: RoutedChat, tmp_path: Path) -> None:
    ws, config, store = _workspace(tmp_path, chat)
    chat.route("go", calls(("task", {"prompt": "plan it"})), _parent_echo)
    chat.route("plan it", calls(("task_create", {"subject": "from the child"})), text("planned"))
    done = mentra(
        "run", "-c", str(config), "--store", str(store), "--allow", "task_create", "go", cwd=ws
    )
    assert done.code == 0, done.stderr
    parent = done.events[0]["agent_id"]
    child = next(e for e in done.events if e["type"] == "subagent_started")["child_agent_id"]
    updated = [e for e in done.events if e["type"] == "task_updated"]
    assert [e["agent_id"] for e in updated] == [child]
    board = mentra("tasks", parent, "--store", str(store), "-o", "json", cwd=ws)
    assert board.code == 0, board.stderr
    assert [t["subject"] for t in json.loads(board.stdout)] == ["from the child"]
