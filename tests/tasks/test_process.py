"""The task board through real `mentra` processes on the scripted provider: create with
dependencies, a refused cycle, completing unblocks, a failed run restores the board, and
`mentra tasks`, export/import and delete-agent carry or remove it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ALLOW = ["--allow", "task_create", "--allow", "task_update"]

BUILD = """\
turns:
  - tool_calls:
      - name: task_create
        input: {subject: "write code", owner: me}
      - name: task_create
        input: {subject: "test code", blockedBy: [1]}
      - name: task_create
        input: {subject: "release", blockedBy: [2], workingDirectory: dist}
  - tool_calls:
      - name: task_update
        input: {taskId: 1, addBlockedBy: [3]}
      - name: task_update
        input: {taskId: 2, status: in_progress}
  - tool_calls:
      - name: task_update
        input: {taskId: 1, status: completed}
  - tool_calls:
      - name: task_list
        input: {}
  - text: "Planned."
"""


def _script(tmp_path: Path, text: str, name: str = "script.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _run(mentra: Any, tmp_path: Path, script: str, *extra: str) -> Any:
    store = str(tmp_path / "s.sqlite")
    return mentra("run", "-m", f"scripted:{script}", "plan", "--store", store, *ALLOW, *extra)


def _results(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "tool_completed"]


def _board(mentra: Any, tmp_path: Path, agent_id: str) -> list[dict[str, Any]]:
    r = mentra("tasks", agent_id, "--store", str(tmp_path / "s.sqlite"), "-o", "json")
    assert r.code == 0, r.stderr
    rows: list[dict[str, Any]] = json.loads(r.stdout)
    return rows


def test_create_with_dependencies_cycle_refused_completing_unblocks(
    mentra: Any, tmp_path: Path
) -> None:
    r = _run(mentra, tmp_path, _script(tmp_path, BUILD))
    assert r.code == 0, r.stderr
    events = r.events
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "success"
    assert {"task_create", "task_update", "task_list", "task_get"} <= set(events[0]["tools"])
    results = _results(events)
    created = [json.loads(x["output"]) for x in results[:3]]
    assert [(t["id"], t["blockedBy"]) for t in created] == [(1, []), (2, [1]), (3, [2])]
    cycle, blocked = results[3], results[4]
    assert cycle["is_error"] and "cycle (1 blocks 2 blocks 3 blocks 1)" in cycle["output"]
    assert (
        blocked["is_error"]
        and "cannot be in_progress while it is blocked by 1" in (blocked["output"])
    )
    done = json.loads(results[5]["output"])
    assert done["task"]["status"] == "completed"
    assert done["unblocked"] == [2] and done["reblocked"] == []
    listing = json.loads(results[6]["output"])
    assert listing["ready"] == [2] and listing["blocked"] == [3]
    assert listing["completed"] == [1] and listing["inProgress"] == []
    updates = [e for e in events if e["type"] == "task_updated"]
    assert updates and all(e["task"]["id"] == int(e["task_id"]) for e in updates)
    assert updates[-1]["task"]["status"] == "completed" and updates[-1]["status"] == "completed"
    rows = _board(mentra, tmp_path, events[0]["agent_id"])
    assert [(t["id"], t["status"], t["state"]) for t in rows] == [
        (1, "completed", "completed"),
        (2, "pending", "ready"),
        (3, "pending", "blocked"),
    ]
    assert rows[0]["owner"] == "me" and rows[2]["workingDirectory"] == "dist"


def test_a_failed_run_restores_the_board_as_it_began(mentra: Any, tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """\
turns:
  - tool_calls:
      - name: task_create
        input: {subject: "kept"}
  - text: "One task."
  - tool_calls:
      - name: task_update
        input: {taskId: 1, status: completed, subject: "changed"}
      - name: task_create
        input: {subject: "lost"}
  - error: {status: 400}
  - text: "never"
""",
    )
    r = _run(mentra, tmp_path, script)
    assert r.code == 0, r.stderr
    agent = r.events[0]["agent_id"]
    store = str(tmp_path / "s.sqlite")
    r = mentra("resume", agent, "more", "--store", store, *ALLOW)
    assert r.code == 3, r.stderr
    assert r.events[-1]["status"] == "provider_error"
    assert [e["task_id"] for e in r.events if e["type"] == "task_updated"] == ["1", "2"]
    rows = _board(mentra, tmp_path, agent)
    assert [(t["id"], t["subject"], t["status"]) for t in rows] == [(1, "kept", "pending")]


def test_tasks_command_formats_and_errors(mentra: Any, tmp_path: Path) -> None:
    r = _run(mentra, tmp_path, _script(tmp_path, BUILD))
    agent = r.events[0]["agent_id"]
    store = str(tmp_path / "s.sqlite")
    r = mentra("tasks", agent[:16], "--store", store, "-o", "jsonl")
    assert r.code == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [t["subject"] for t in lines] == ["write code", "test code", "release"]
    r = mentra("tasks", agent, "--store", store, "-o", "table")
    assert r.code == 0
    assert "write code" in r.stdout and "blocked" in r.stdout and "ready" in r.stdout
    r = mentra("tasks", "ffffffffffffffff", "--store", store)
    assert r.code == 2 and r.stderr.count("\n") == 1 and "no agent" in r.stderr
    assert "Traceback" not in r.stderr
    r = mentra("tasks", agent, "--store", store, "-o", "yaml")
    assert r.code == 2 and "--output must be table, json or jsonl" in r.stderr
    r = mentra("tasks", agent, "--store", str(tmp_path / "missing.sqlite"))
    assert r.code == 2 and not (tmp_path / "missing.sqlite").exists()


def test_export_import_carry_the_board_and_delete_removes_it(mentra: Any, tmp_path: Path) -> None:
    r = _run(mentra, tmp_path, _script(tmp_path, BUILD))
    agent = r.events[0]["agent_id"]
    store = str(tmp_path / "s.sqlite")
    before = _board(mentra, tmp_path, agent)
    r = mentra("export", agent, "--store", store)
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [t["id"] for t in doc["tasks"]] == [1, 2, 3]
    exported = tmp_path / "a.json"
    exported.write_text(r.stdout)
    other = str(tmp_path / "other.sqlite")
    r = mentra("import", str(exported), "--store", other)
    assert r.code == 0, r.stderr
    r = mentra("tasks", agent, "--store", other, "-o", "json")
    assert r.code == 0 and json.loads(r.stdout) == before
    doc["tasks"][0]["status"] = "done"
    exported.write_text(json.dumps(doc))
    third = str(tmp_path / "third.sqlite")
    r = mentra("import", str(exported), "--store", third)
    assert r.code == 2 and "invalid agent export at tasks.0.status" in r.stderr
    assert r.stderr.count("\n") == 1
    r = mentra("list-agents", "--store", third, "-o", "json")
    assert r.code == 0 and json.loads(r.stdout) == []
    r = mentra("delete-agent", agent, "--store", store)
    assert r.code == 0, r.stderr
    import sqlite3

    conn = sqlite3.connect(store)
    assert conn.execute("SELECT count(*) FROM tasks").fetchone()[0] == 0
    conn.close()


def test_tasks_disabled_leaves_the_tools_out(mentra: Any, tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("name: quiet\ntasks: {enabled: false}\n")
    r = mentra("tools", "-c", str(config), "-o", "json", cwd=tmp_path)
    assert r.code == 0, r.stderr
    assert not any(name.startswith("task_") for name in r.stdout.split('"'))
    r = mentra("tools", "-o", "json", cwd=tmp_path)
    assert r.code == 0 and '"task_create"' in r.stdout


def test_ephemeral_runs_have_a_board_too(mentra: Any, tmp_path: Path) -> None:
    script = _script(tmp_path, BUILD)
    r = mentra("run", "-m", f"scripted:{script}", "plan", "--ephemeral", *ALLOW)
    assert r.code == 0, r.stderr
    listing = json.loads(_results(r.events)[6]["output"])
    assert listing["ready"] == [2]


def test_schema_events_shows_the_task(mentra: Any) -> None:
    r = mentra("schema", "events")
    assert r.code == 0
    schema = json.loads(r.stdout)
    task_updated = schema["$defs"]["TaskUpdated"]["properties"]
    assert "task" in task_updated and "task_id" in task_updated


def test_validate_names_profile_problems_at_file_line_col(mentra: Any, tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(
        "name: x\nagents:\n  reviewer:\n    description: Reviews\n    max_rounds: 0\n"
        "  bad:\n    system: no description\n"
    )
    r = mentra("validate", str(path), "-C", str(tmp_path))
    assert r.code == 2
    lines = r.stderr.splitlines()
    assert lines[0].startswith(f"{path}:5:17: agents.reviewer.max_rounds")
    assert lines[1].startswith(f"{path}:7:5: agents.bad.description")
    assert "Traceback" not in r.stderr


def test_board_reminder_reaches_the_system_prompt_after_three_idle_rounds(
    mentra: Any, tmp_path: Path
) -> None:
    from mentra.tasks.reminder import REMINDER
    from tests.hooks.conftest import ToolChat, tool_call_reply

    chat = ToolChat()
    chat.thread.start()
    try:
        (tmp_path / "agent.yaml").write_text(chat.provider_yaml(), encoding="utf-8")
        echo = tool_call_reply("shell", {"command": "echo working"})
        chat.replies = [tool_call_reply("task_create", {"subject": "ship it"}), echo, echo, echo]
        r = mentra(
            "run", "-c", "agent.yaml", "-m", "fakechat:fake-1", "--allow", "shell",
            *ALLOW, "--store", str(tmp_path / "s.sqlite"), "go", cwd=tmp_path,
        )  # fmt: skip
    finally:
        chat.server.shutdown()
        chat.server.server_close()
    assert r.code == 0, r.stderr
    assert r.events[-1]["type"] == "run_finished" and r.events[-1]["status"] == "success"
    systems = [
        "".join(m["content"] for m in req["messages"] if m["role"] == "system")
        for req in chat.requests
    ]
    # round 1 used the board, rounds 2-4 did not: the fifth request carries the reminder
    assert len(systems) == 5
    assert [REMINDER in s for s in systems] == [False, False, False, False, True]
    assert not any(REMINDER in json.dumps(m) for m in chat.requests[4]["messages"][1:])
