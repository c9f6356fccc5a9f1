"""Subagents through real `mentra` processes against a Chat Completions server on 127.0.0.1:
the `task` tool end to end, one budget, the permission ceiling, the timeout, concurrency."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from mentra.tasks.profiles import SUBAGENT_SYSTEM_SUFFIX
from tests.subagents.conftest import Reply, RoutedChat, calls


def _setup(tmp_path: Path, chat: RoutedChat, extra: str = "") -> tuple[Path, str]:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    (ws / "alpha.txt").write_text("a\n")
    (ws / "beta.txt").write_text("b\n")
    config = ws / "agent.yaml"
    config.write_text(chat.config(extra), encoding="utf-8")
    return config, str(tmp_path / "store.sqlite")


def _run(mentra: Any, config: Path, store: str, prompt: str, *extra: str, **kw: Any) -> Any:
    return mentra(
        "run", "-c", str(config), prompt, "--store", store, "-C", str(config.parent), *extra, **kw
    )


def _of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


LIST_FILES = ("files", {"operations": [{"op": "list", "path": "."}]})


def test_parent_delegates_child_lists_files_and_parent_quotes_the_answer(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    chat.scripts["PARENT"] = [
        calls(("task", {"prompt": "CHILD list the files"})),
        Reply("The child reported: {result}"),
    ]
    chat.scripts["CHILD"] = [calls(LIST_FILES), Reply("I saw alpha.txt and beta.txt")]
    config, store = _setup(tmp_path, chat)
    r = _run(mentra, config, store, "PARENT go")
    assert r.code == 0, r.stderr
    events = r.events
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert _of(events, "session_started") == [events[0]]
    assert _of(events, "run_finished") == [events[-1]]
    parent_id, parent_run = events[0]["agent_id"], events[0]["run_id"]
    finished = events[-1]
    assert finished["final_text"] == "The child reported: I saw alpha.txt and beta.txt"
    (started,) = _of(events, "subagent_started")
    (done,) = _of(events, "subagent_finished")
    child_id = started["child_agent_id"]
    assert child_id != parent_id and started["prompt"] == "CHILD list the files"
    assert started["agent_id"] == parent_id and started["parent_run_id"] is None
    assert done["status"] == "success" and done["final_text"] == "I saw alpha.txt and beta.txt"
    between = events[events.index(started) + 1 : events.index(done)]
    assert between and all(e["agent_id"] == child_id for e in between)
    assert all(e["parent_run_id"] == parent_run and e["run_id"] != parent_run for e in between)
    (listed,) = [e for e in between if e["type"] == "tool_completed"]
    assert listed["name"] == "files" and "alpha.txt" in listed["output"]
    assert not listed["is_error"]
    # the child's request: the reference's default child (parent's system + the note, no task)
    (first_child, _) = chat.requests_for("CHILD")
    system = first_child["messages"][0]
    assert system["role"] == "system"
    assert system["content"] == f"You are the parent.\n\n{SUBAGENT_SYSTEM_SUFFIX}"
    names = {t["function"]["name"] for t in first_child["tools"]}
    assert "task" not in names and "files" in names
    parent_tools = {t["function"]["name"] for t in chat.requests_for("PARENT")[0]["tools"]}
    assert "task" in parent_tools
    # one budget: the parent's totals hold the child's two rounds and its usage and cost
    assert finished["rounds"] == 4 and finished["tool_calls"] == 2
    assert finished["usage"]["input_tokens"] == 400 and finished["usage"]["output_tokens"] == 40
    assert done["usage"]["input_tokens"] == 200
    assert abs(finished["cost_usd"] - 4 * (100 * 1.0 + 10 * 2.0) / 1e6) < 1e-12
    (summary,) = finished["subagents"]
    assert summary == {
        "agent_id": child_id,
        "profile": None,
        "status": "success",
        "usage": done["usage"],
        "cost_usd": done["cost_usd"],
    }
    assert abs(done["cost_usd"] - 2 * (100 * 1.0 + 10 * 2.0) / 1e6) < 1e-12


def test_a_child_using_up_the_parents_tool_calls_ends_the_whole_run_exit_4(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    chat.scripts["PARENT"] = [calls(("task", {"prompt": "CHILD go"})), Reply("never")]
    chat.scripts["CHILD"] = [calls(LIST_FILES), calls(LIST_FILES), Reply("child done")]
    config, store = _setup(tmp_path, chat)
    r = _run(mentra, config, store, "PARENT go", "--max-tool-calls", "2")
    assert r.code == 4, r.stderr
    events = r.events
    finished = events[-1]
    assert finished["type"] == "run_finished" and finished["status"] == "limit_reached"
    assert "max_tool_calls reached (2)" in " ".join(finished["errors"])
    (done,) = _of(events, "subagent_finished")
    assert done["status"] == "limit_reached"
    assert len(_of(events, "run_finished")) == 1
    assert not chat.requests_for("never")  # the parent asked the model nothing more


def test_max_tool_calls_1_the_task_call_and_the_childs_calls_share_it(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    chat.scripts["PARENT"] = [calls(("task", {"prompt": "CHILD go"})), Reply("never")]
    chat.scripts["CHILD"] = [calls(LIST_FILES), calls(LIST_FILES), Reply("child done")]
    config, store = _setup(tmp_path, chat)
    r = _run(mentra, config, store, "PARENT go", "--max-tool-calls", "1")
    assert r.code == 4, r.stderr
    assert r.events[-1]["status"] == "limit_reached" and r.events[-1]["exit_code"] == 4
    assert len(chat.requests_for("PARENT")) == 1


def test_a_profile_cannot_allow_shell_that_the_parent_denies(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    marker = tmp_path / "ws" / "marker"
    chat.scripts["PARENT"] = [
        calls(("task", {"prompt": "CHILD run it", "agent": "runner"})),
        Reply("parent: {result}"),
    ]
    chat.scripts["CHILD"] = [
        calls(("shell", {"command": f"touch {marker}"})),
        Reply("could not: {result}"),
    ]
    profile = (
        "permissions:\n  mode: bypass\n  deny: ['shell']\n"
        "agents:\n  runner:\n    description: runs commands\n"
        "    tools: {only: [shell]}\n"
        "    permissions: {mode: bypass, allow: ['shell', 'shell(touch *)']}\n"
    )
    config, store = _setup(tmp_path, chat, profile)
    r = _run(mentra, config, store, "PARENT go")
    assert r.code == 0, r.stderr
    events = r.events
    child_id = _of(events, "subagent_started")[0]["child_agent_id"]
    (decision,) = [e for e in _of(events, "tool_completed") if e["agent_id"] == child_id]
    assert decision["is_error"] and decision["name"] == "shell"
    assert "denied" in decision["output"]
    assert not marker.exists()
    notices = [e["message"] for e in _of(events, "notice") if e["agent_id"] == child_id]
    assert any("may only narrow" in n for n in notices)
    (denial,) = events[-1]["permission_denials"]  # the child's, in the run's list
    assert denial["tool"] == "shell" and denial["call_id"] == decision["call_id"]
    assert denial["agent_id"] == child_id  # whose call it was
    assert events[-1]["final_text"].startswith("parent: could not:")


def test_fail_on_denial_holds_for_a_childs_denied_call_exit_8(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    marker = tmp_path / "ws" / "marker"
    chat.scripts["PARENT"] = [calls(("task", {"prompt": "CHILD run it"})), Reply("never")]
    chat.scripts["CHILD"] = [calls(("shell", {"command": f"touch {marker}"})), Reply("never")]
    config, store = _setup(tmp_path, chat)
    r = _run(mentra, config, store, "PARENT go", "--deny", "shell", "--fail-on-denial")
    assert r.code == 8, r.stderr
    assert r.events[-1]["type"] == "run_finished" and r.events[-1]["exit_code"] == 8
    assert not marker.exists()
    assert [d["tool"] for d in r.events[-1]["permission_denials"]] == ["shell"]
    assert not chat.requests_for("never")


def test_timeout_during_a_child_ends_the_run_exit_5_and_both_records_say_so(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    chat.scripts["PARENT"] = [calls(("task", {"prompt": "CHILD slow"})), Reply("never")]
    chat.scripts["CHILD"] = [Reply("too late", delay=6.0)]
    config, store = _setup(tmp_path, chat)
    began = time.monotonic()
    r = _run(mentra, config, store, "PARENT go", "--timeout", "1.5s")
    assert r.code == 5, r.stderr
    assert time.monotonic() - began < 5.5  # the child did not wait out its slow reply
    events = r.events
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "timeout"
    assert len(_of(events, "run_finished")) == 1
    (done,) = _of(events, "subagent_finished")
    assert done["status"] == "timeout" and done["error"] == "the parent's run timed out"
    assert "the run timed out after 1.5s" in events[-1]["errors"]
    parent_id, child_id = events[0]["agent_id"], done["child_agent_id"]
    listing = mentra("list-agents", "--store", store, "--children", "-o", "json", "--all")
    assert listing.code == 0, listing.stderr
    rows = {a["id"]: a for a in json.loads(listing.stdout)}
    assert rows[parent_id]["last_run"] == "timeout" and rows[parent_id]["status"] == "failed"
    assert rows[child_id]["last_run"] == "timeout" and rows[child_id]["status"] == "failed"
    assert rows[child_id]["parent"] == parent_id
    shown = mentra("show", child_id, "--store", store)
    assert shown.code == 0, shown.stderr
    assert [json.loads(line)["content"][0]["text"] for line in shown.stdout.splitlines()] == [
        "CHILD slow"
    ]


def _parallel(chat: RoutedChat, delay: float) -> None:
    chat.scripts["PARENT"] = [
        calls(("task", {"prompt": "CHILD-A"}), ("task", {"prompt": "CHILD-B"})),
        Reply("both done"),
    ]
    chat.scripts["CHILD-A"] = [Reply("A", delay=delay)]
    chat.scripts["CHILD-B"] = [Reply("B", delay=delay)]


def test_two_task_calls_of_one_reply_run_concurrently_and_max_parallel_1_serialises(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    delay = 1.5
    _parallel(chat, delay)
    config, store = _setup(tmp_path, chat)
    r = _run(mentra, config, store, "PARENT go")
    assert r.code == 0, r.stderr
    spans = {p: (s, e) for p, s, e in chat.log if p in ("CHILD-A", "CHILD-B")}
    (a0, a1), (b0, b1) = spans["CHILD-A"], spans["CHILD-B"]
    assert max(a0, b0) < min(a1, b1)  # the two children's requests overlapped
    assert max(a1, b1) - min(a0, b0) < 2 * delay  # near one child's time, not two
    assert sorted(s["status"] for s in r.events[-1]["subagents"]) == ["success", "success"]

    chat.log.clear()
    config.write_text(chat.config("limits: {max_parallel_subagents: 1}\n"), encoding="utf-8")
    r = _run(mentra, config, store, "PARENT go")
    assert r.code == 0, r.stderr
    spans = {p: (s, e) for p, s, e in chat.log if p in ("CHILD-A", "CHILD-B")}
    (a0, a1), (b0, b1) = spans["CHILD-A"], spans["CHILD-B"]
    assert min(a1, b1) <= max(a0, b0)  # one after the other
    assert max(a1, b1) - min(a0, b0) >= 2 * delay


def test_the_childs_tokens_count_against_the_parents_max_tokens(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    chat.scripts["PARENT"] = [calls(("task", {"prompt": "CHILD go"})), Reply("never")]
    chat.scripts["CHILD"] = [calls(LIST_FILES), Reply("child done")]
    config, store = _setup(tmp_path, chat)
    # 110 tokens a round: the parent alone (2 rounds) would fit in 300, with its child's not
    r = _run(mentra, config, store, "PARENT go", "--max-tokens", "300")
    assert r.code == 4, r.stderr
    finished = r.events[-1]
    assert finished["status"] == "limit_reached"
    assert "max_tokens reached (330 of 300)" in " ".join(finished["errors"])
    assert len(chat.requests_for("PARENT")) == 1
