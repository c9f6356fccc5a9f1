"""Subagents through real `mentra` processes, continued: named profiles, empty and failed
children, a signal while a child runs (no orphan), resume after it, the child's asks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import MENTRA, REPO
from tests.hooks.conftest import pid_alive
from tests.subagents.conftest import Reply, RoutedChat, calls
from tests.subagents.test_process import LIST_FILES, _of, _run, _setup

REVIEWER = (
    "agents:\n  reviewer:\n    description: Reviews a diff for bugs\n"
    "    system: You review diffs. Be terse.\n    model: fake:fake-2\n"
    "    tools: {only: [files]}\n    max_rounds: 2\n"
)


def test_a_named_profile_sets_system_model_tools_and_max_rounds(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    chat.scripts["PARENT"] = [
        calls(("task", {"prompt": "CHILD review", "agent": "reviewer"})),
        calls(("task", {"prompt": "LOOPER review", "agent": "reviewer"})),
        Reply("parent: {result}"),
    ]
    chat.scripts["CHILD"] = [calls(LIST_FILES), Reply("looks fine")]
    chat.scripts["LOOPER"] = [calls(LIST_FILES), calls(LIST_FILES), Reply("never")]
    config, store = _setup(tmp_path, chat, REVIEWER)
    r = _run(mentra, config, store, "PARENT go")
    assert r.code == 0, r.stderr
    events = r.events
    schema = next(
        t for t in chat.requests_for("PARENT")[0]["tools"] if t["function"]["name"] == "task"
    )
    agent_field = schema["function"]["parameters"]["properties"]["agent"]
    assert agent_field["enum"] == ["reviewer"] and "Reviews a diff" in agent_field["description"]
    first = chat.requests_for("CHILD")[0]
    assert first["model"] == "fake-2"
    assert first["messages"][0]["content"].startswith("You review diffs. Be terse.\n\n")
    assert [t["function"]["name"] for t in first["tools"]] == ["files"]
    started = _of(events, "subagent_started")
    assert [s["profile"] for s in started] == ["reviewer", "reviewer"]
    results = [e for e in _of(events, "tool_completed") if e["name"] == "task"]
    assert results[0]["output"] == "looks fine" and not results[0]["is_error"]
    # max_rounds 2 is the child's own limit: it fails, the parent goes on
    assert results[1]["is_error"]
    assert results[1]["output"].startswith("Subagent failed: max_rounds reached (2)")
    assert len(chat.requests_for("LOOPER")) == 2
    assert events[-1]["final_text"].startswith("parent: Error: Subagent failed:")
    by_model = events[-1]["usage_by_model"]
    assert by_model["fake:fake-1"]["input_tokens"] == 300  # the parent's three rounds
    assert by_model["fake:fake-2"]["input_tokens"] == 400  # the children's four
    assert events[-1]["usage"]["input_tokens"] == 700
    assert by_model["fake:fake-2"]["cost_usd"] is None and events[-1]["cost_usd"] is None
    summaries = events[-1]["subagents"]
    assert [s["status"] for s in summaries] == ["success", "limit_reached"]
    listing = mentra("list-agents", "--store", store, "--children", "--all", "-o", "json")
    rows = {a["id"]: a for a in json.loads(listing.stdout)}
    child = rows[started[0]["child_agent_id"]]
    assert child["name"] == "agent::reviewer" and child["model"] == "fake:fake-2"


def test_an_unknown_profile_and_an_empty_answer_and_a_failing_child(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    chat.scripts["PARENT"] = [
        calls(
            ("task", {"prompt": "QUIET say nothing"}),
            ("task", {"prompt": "BROKEN fail"}),
        ),
        Reply("parent done"),
    ]
    chat.scripts["QUIET"] = [Reply("")]
    chat.scripts["BROKEN"] = [Reply(status=400)]
    config, store = _setup(tmp_path, chat)
    r = _run(mentra, config, store, "PARENT go")
    assert r.code == 0, r.stderr
    results = {e["call_id"]: e for e in _of(r.events, "tool_completed") if e["name"] == "task"}
    by_prompt = {s["prompt"]: results[s["call_id"]] for s in _of(r.events, "subagent_started")}
    assert by_prompt["QUIET say nothing"]["output"] == "(no summary)"
    broken = by_prompt["BROKEN fail"]
    assert broken["is_error"] and broken["output"].startswith("Subagent failed: ")
    assert "400" in broken["output"]
    assert r.events[-1]["status"] == "success"
    assert sorted(s["status"] for s in r.events[-1]["subagents"]) == ["provider_error", "success"]


def _popen(config: Path, store: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            MENTRA,
            "run",
            "-c",
            str(config),
            "PARENT go",
            "--store",
            store,
            "-C",
            str(config.parent),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )


def _wait_for(path: Path, seconds: float = 20) -> None:
    end = time.monotonic() + seconds
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.05)


def _start_a_sleeping_child(
    chat: RoutedChat, tmp_path: Path, seconds: int
) -> tuple[subprocess.Popen[str], Path, str, Path]:
    """A parent whose child runs ``sleep seconds`` in a real shell; returns once the sleep has
    started (the process, the config, the store, the file holding the sleep's pid)."""
    pidfile = tmp_path / "child.pid"
    chat.scripts["PARENT"] = [
        calls(("task", {"prompt": "CHILD sleep"})),
        Reply("resumed: {result}"),
    ]
    chat.scripts["CHILD"] = [
        calls(("shell", {"command": f"echo $$ > {pidfile}; exec sleep {seconds}"})),
        Reply("never"),
    ]
    config, store = _setup(tmp_path, chat)
    proc = _popen(config, store, "--permission-mode", "bypass")
    _wait_for(pidfile)
    return proc, config, store, pidfile


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_a_child_runs_stops_both_no_orphan_and_resume_answers_the_call(
    mentra: Any, chat: RoutedChat, tmp_path: Path, signum: int, code: int
) -> None:
    proc, config, store, pidfile = _start_a_sleeping_child(chat, tmp_path, 60)
    sleeper = int(pidfile.read_text())
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "interrupted"
    assert len(_of(events, "run_finished")) == 1
    (done,) = _of(events, "subagent_finished")
    assert done["status"] == "interrupted"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    end = time.monotonic() + 5
    while pid_alive(sleeper) and time.monotonic() < end:
        time.sleep(0.05)
    assert not pid_alive(sleeper), "the child's command outlived the run"
    parent_id, child_id = events[0]["agent_id"], done["child_agent_id"]
    listing = mentra("list-agents", "--store", store, "--all", "-o", "json")
    assert [a["id"] for a in json.loads(listing.stdout)] == [parent_id]  # children hidden
    listing = mentra("list-agents", "--store", store, "--all", "--children", "-o", "json")
    rows = {a["id"]: a for a in json.loads(listing.stdout)}
    assert rows[child_id]["status"] == "interrupted" and rows[child_id]["parent"] == parent_id
    assert rows[parent_id]["status"] == "interrupted"
    table = mentra(
        "list-agents",
        "--store",
        store,
        "--all",
        "--children",
        "-o",
        "table",
        env={"COLUMNS": "400"},
    )
    assert "parent" in table.stdout.splitlines()[0]
    shown = mentra("show", child_id, "--store", store)
    assert shown.code == 0, shown.stderr
    assert "CHILD sleep" in shown.stdout
    r = mentra("resume", parent_id, "--store", store, "-C", str(config.parent))
    assert r.code == 0, r.stderr
    assert "was not re-run" in r.events[-1]["final_text"]
    assert not _of(r.events, "subagent_started")  # the task was not run again


def test_kill_9_while_a_child_runs_resume_answers_the_call_and_marks_the_child(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    proc, config, store, _ = _start_a_sleeping_child(chat, tmp_path, 3)
    proc.kill()
    out, _ = proc.communicate(timeout=30)
    events = [json.loads(line) for line in out.splitlines()]
    parent_id = events[0]["agent_id"]
    child_id = _of(events, "subagent_started")[0]["child_agent_id"]
    r = mentra("resume", parent_id, "--store", store, "-C", str(config.parent))
    assert r.code == 0, r.stderr
    assert "was not re-run" in r.events[-1]["final_text"]
    listing = mentra("list-agents", "--store", store, "--all", "--children", "-o", "json")
    rows = {a["id"]: a for a in json.loads(listing.stdout)}
    assert rows[child_id]["status"] == "interrupted"
    assert rows[child_id]["last_run"] == "interrupted"


def test_a_childs_ask_reaches_the_approval_command(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    marker = tmp_path / "ws" / "made"
    seen = tmp_path / "seen.json"
    approver = tmp_path / "approve.py"
    approver.write_text(
        "import json, sys\n"
        f"open({str(seen)!r}, 'a').write(sys.stdin.read() + '\\n')\n"
        "print('allow')\n"
    )
    chat.scripts["PARENT"] = [calls(("task", {"prompt": "CHILD make"})), Reply("p: {result}")]
    chat.scripts["CHILD"] = [calls(("shell", {"command": f"touch {marker}"})), Reply("made")]
    config, store = _setup(tmp_path, chat)
    r = _run(
        mentra, config, store, "PARENT go", "--approval-command", f"{sys.executable} {approver}"
    )
    assert r.code == 0, r.stderr
    assert marker.exists()
    (request,) = [json.loads(line) for line in seen.read_text().splitlines() if line.strip()]
    assert request["tool"] == "shell"
    child_id = _of(r.events, "subagent_started")[0]["child_agent_id"]
    resolved = [e for e in _of(r.events, "permission_resolved") if e["agent_id"] == child_id]
    assert [e["decided_by"] for e in resolved] == ["approval_command"]
    assert r.events[-1]["final_text"] == "p: made"
    assert os.path.exists(marker)


def test_a_child_writes_to_its_top_level_agents_task_board(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    chat.scripts["PARENT"] = [calls(("task", {"prompt": "CHILD plan"})), Reply("planned")]
    chat.scripts["CHILD"] = [calls(("task_create", {"subject": "from the child"})), Reply("ok")]
    config, store = _setup(tmp_path, chat)
    r = _run(mentra, config, store, "PARENT go", "--allow", "task_create")
    assert r.code == 0, r.stderr
    child_id = _of(r.events, "subagent_started")[0]["child_agent_id"]
    (updated,) = _of(r.events, "task_updated")
    assert updated["agent_id"] == child_id and updated["parent_run_id"] == r.events[0]["run_id"]
    board = mentra("tasks", r.events[0]["agent_id"], "--store", store, "-o", "json")
    assert board.code == 0, board.stderr
    assert [t["subject"] for t in json.loads(board.stdout)] == ["from the child"]
