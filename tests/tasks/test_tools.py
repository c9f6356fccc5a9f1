"""The task_* tools (inputs, results, events), the reminder, and subagent profiles."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from mentra.agent.emitter import Emitter
from mentra.config import load_agent_config
from mentra.errors import ConfigError
from mentra.events import TaskUpdated, parse_event
from mentra.permissions.policy import RuntimePolicy
from mentra.providers.base import ModelRequest, ToolSpec
from mentra.tasks.profiles import SubagentProfile, task_tool_description, task_tool_schema
from mentra.tasks.reminder import REMINDER, BoardReminderHook, TaskReminder, with_reminder
from mentra.tasks.store import InMemoryTaskStore
from mentra.tasks.tools import SERVICE_KEY, TaskBoard, task_tools, tool_entries
from mentra.tools.base import ToolContext, ToolInputError, ToolResult


def _tools() -> dict[str, Any]:
    return {t.name: t for t in task_tools()}


def _call(board: TaskBoard | None, name: str, raw: dict[str, Any], tmp_path: Path) -> ToolResult:
    tool = _tools()[name]
    services = {SERVICE_KEY: board} if board is not None else {}
    ctx = ToolContext(policy=RuntimePolicy(working_dir=tmp_path), services=services)
    result: ToolResult = asyncio.run(tool.run(tool.parse_input(raw), ctx))
    return result


def test_lanes_and_camel_case_schemas() -> None:
    tools = _tools()
    assert [n for n, t in tools.items() if t.mutates] == ["task_create", "task_update"]
    create = tools["task_create"].input_schema
    assert set(create["properties"]) == {
        "subject",
        "description",
        "owner",
        "workingDirectory",
        "blockedBy",
    }
    assert create["required"] == ["subject"] and create["additionalProperties"] is False
    update = tools["task_update"].input_schema
    assert {"taskId", "addBlockedBy", "removeBlockedBy", "addBlocks", "removeBlocks"} <= set(
        update["properties"]
    )
    assert tools["task_list"].input_schema["properties"] == {}


@pytest.mark.parametrize(
    ("name", "raw", "fragment"),
    [
        ("task_create", {"subject": "x", "blocked_by": [1]}, "blocked_by: Extra inputs"),
        ("task_create", {"subject": ""}, "subject:"),
        ("task_update", {"task_id": 1}, "taskId: Field required"),
        ("task_update", {"taskId": 1, "status": "done"}, "status:"),
        ("task_list", {"all": True}, "all: Extra inputs"),
        ("task_get", {}, "taskId: Field required"),
    ],
)
def test_bad_input_is_guidance_for_the_model(name: str, raw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ToolInputError) as info:
        _tools()[name].parse_input(raw)
    assert fragment in info.value.message and f"`{name}`" in info.value.message


def test_tools_drive_the_board_and_emit_task_updated(tmp_path: Path) -> None:
    events: list[Any] = []
    board = TaskBoard(InMemoryTaskStore(), "agent1")
    board.bind(Emitter(events.append, agent_id="agent1", run_id="run1"))
    r = _call(board, "task_create", {"subject": "a"}, tmp_path)
    assert not r.is_error and json.loads(r.content)["id"] == 1
    r = _call(board, "task_create", {"subject": "b", "blockedBy": [1]}, tmp_path)
    assert json.loads(r.content)["blockedBy"] == [1]
    r = _call(board, "task_update", {"taskId": 2, "status": "in_progress"}, tmp_path)
    assert r.is_error and "blocked by 1" in r.content
    r = _call(board, "task_update", {"taskId": 1, "addBlockedBy": [2]}, tmp_path)
    assert r.is_error and "cycle" in r.content
    r = _call(board, "task_update", {"taskId": 1, "status": "completed"}, tmp_path)
    out = json.loads(r.content)
    assert (
        out["unblocked"] == [2] and out["reblocked"] == [] and out["task"]["status"] == "completed"
    )
    listing = json.loads(_call(board, "task_list", {}, tmp_path).content)
    assert listing["ready"] == [2] and listing["completed"] == [1]
    got = json.loads(_call(board, "task_get", {"taskId": 2}, tmp_path).content)
    assert got["subject"] == "b"
    r = _call(board, "task_get", {"taskId": 5}, tmp_path)
    assert r.is_error and "no task with id 5" in r.content
    # one event per changed task: create 1; create 2 (and 1 gains `blocks`); complete 1
    assert all(isinstance(e, TaskUpdated) for e in events)
    assert [(e.task_id, e.status) for e in events] == [
        ("1", "pending"),
        ("2", "pending"),
        ("1", "pending"),
        ("1", "completed"),
    ]
    assert board.take_touched() and not board.take_touched()
    line = events[-1].model_dump_json()
    again = parse_event(line)
    assert isinstance(again, TaskUpdated) and again.task == events[-1].task
    assert again.task is not None and again.task["blocks"] == [2]


def test_a_run_without_a_board_gets_an_error_result(tmp_path: Path) -> None:
    r = _call(None, "task_list", {}, tmp_path)
    assert r.is_error and "not available" in r.content


def test_board_is_restored_after_a_failed_run_and_kept_otherwise() -> None:
    board = TaskBoard(InMemoryTaskStore(), "a")
    from mentra.tasks.models import TaskCreateArgs

    board.create(TaskCreateArgs(subject="before"))
    for status, kept in [("success", 2), ("interrupted", 3), ("provider_error", 3)]:
        board.begin_run()
        board.create(TaskCreateArgs(subject="during"))
        assert board.end_run(status) is None
        assert len(board.store.load("a")) == kept
    board.begin_run()
    board.create(TaskCreateArgs(subject="during"))
    board.end_run("timeout")
    assert len(board.store.load("a")) == 3
    assert board.end_run("error") is None  # no snapshot taken: nothing to restore


def test_tool_entries_follow_tasks_enabled(tmp_path: Path) -> None:
    on = tmp_path / "on.yaml"
    on.write_text("name: x\n")
    off = tmp_path / "off.yaml"
    off.write_text("name: x\ntasks: {enabled: false}\n")
    assert list(tool_entries(load_agent_config(on)[0].config.tasks.enabled)) == [
        "task_create",
        "task_update",
        "task_list",
        "task_get",
    ]
    assert tool_entries(load_agent_config(off)[0].config.tasks.enabled) == {}


def test_reminder_after_three_idle_rounds_with_unfinished_tasks() -> None:
    r = TaskReminder()
    assert r.after_round(False, unfinished=True) is None
    assert r.after_round(False, unfinished=True) is None
    assert r.after_round(False, unfinished=True) == REMINDER
    assert r.after_round(False, unfinished=True) is None  # once per idle stretch
    assert r.after_round(False, unfinished=True) is None
    assert r.after_round(False, unfinished=True) == REMINDER
    assert r.after_round(True, unfinished=True) is None  # activity resets the count
    assert [r.after_round(False, unfinished=True) for _ in range(3)] == [None, None, REMINDER]


def test_no_reminder_when_everything_is_done() -> None:
    r = TaskReminder()
    assert [r.after_round(False, unfinished=False) for _ in range(5)] == [None] * 5


def test_with_reminder() -> None:
    assert with_reminder("sys", None) == "sys"
    assert with_reminder("sys", "r") == "sys\n\nr"
    assert with_reminder(None, "r") == "r"


def _systems(hook: BoardReminderHook, requests: int, tools: list[str]) -> list[str | None]:
    specs = [ToolSpec(name=n, description="", input_schema={}) for n in tools]
    return [
        hook(ModelRequest(model="m", messages=[], system="base", tools=specs)).system
        for _ in range(requests)
    ]


def test_reminder_hook_rides_on_the_request_after_three_idle_rounds(tmp_path: Path) -> None:
    board = TaskBoard(InMemoryTaskStore(), "a")
    hook = BoardReminderHook(board)
    assert not _call(board, "task_create", {"subject": "write code"}, tmp_path).is_error
    # request 1 closes no round; 2-4 close three idle rounds, so request 4 carries it
    assert _systems(hook, 4, ["task_list"]) == ["base", "base", "base", f"base\n\n{REMINDER}"]
    _call(board, "task_list", {}, tmp_path)  # activity resets the count
    assert _systems(hook, 4, ["task_list"])[1:] == ["base", "base", f"base\n\n{REMINDER}"]


def test_reminder_hook_stays_quiet_without_board_tools_or_open_tasks(tmp_path: Path) -> None:
    board = TaskBoard(InMemoryTaskStore(), "a")
    _call(board, "task_create", {"subject": "write code"}, tmp_path)
    assert _systems(BoardReminderHook(board), 6, ["shell"]) == ["base"] * 6  # no task_list
    _call(board, "task_update", {"taskId": 1, "status": "completed"}, tmp_path)
    assert _systems(BoardReminderHook(board), 6, ["task_list"]) == ["base"] * 6


def test_task_schema_lists_the_profiles_with_their_descriptions() -> None:
    profiles = {
        "reviewer": SubagentProfile(description="Reviews a diff for bugs"),
        "scout": SubagentProfile(description="Finds files", max_rounds=5),
    }
    schema = task_tool_schema(profiles)
    assert schema["required"] == ["prompt"] and schema["additionalProperties"] is False
    agent = schema["properties"]["agent"]
    assert agent["enum"] == ["reviewer", "scout"]
    assert "- reviewer: Reviews a diff for bugs" in agent["description"]
    assert "- scout: Finds files" in agent["description"]
    assert "reviewer: Reviews a diff for bugs" in task_tool_description(profiles)
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema)
    v = Draft202012Validator(schema)
    assert v.is_valid({"prompt": "look", "agent": "scout"})
    assert not v.is_valid({"prompt": "look", "agent": "nobody"})
    assert not v.is_valid({"prompt": "look", "extra": 1})


def test_task_schema_without_profiles_has_no_agent() -> None:
    schema = task_tool_schema({})
    assert list(schema["properties"]) == ["prompt"]
    assert "profile" not in task_tool_description({})


def test_profiles_in_the_config_and_their_defaults(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(
        "agents:\n"
        "  reviewer:\n"
        "    description: Reviews a diff for bugs\n"
        "    system: You review diffs. Be terse.\n"
        "    model: anthropic:claude-sonnet-4-5\n"
        "    tools: {only: [files, shell]}\n"
        "    max_rounds: 20\n"
        "  plain:\n"
        "    description: anything\n"
    )
    config = load_agent_config(path)[0].config
    reviewer, plain = config.agents["reviewer"], config.agents["plain"]
    assert reviewer.tools is not None and reviewer.tools.only == ["files", "shell"]
    assert reviewer.max_rounds == 20 and reviewer.model == "anthropic:claude-sonnet-4-5"
    assert plain.max_rounds == 30 and plain.tools is None and plain.model is None


@pytest.mark.parametrize(
    ("body", "where", "fragment"),
    [
        ("agents:\n  r:\n    description: x\n    colour: red\n", "4:5", "unknown key 'colour'"),
        ("agents:\n  r:\n    description: x\n    max_rounds: 0\n", "4:17", "greater than"),
        ("agents:\n  r:\n    system: x\n", "3:5", "description"),
        ("agents:\n  r:\n    description: x\n    model: gpt\n", "4:12", "PROVIDER:MODEL"),
        ("agents:\n  r:\n    description: x\n    tools: {nope: 1}\n", "4:", "nope"),
        ("tasks: {enabled: maybe}\n", "1:", "enabled"),
    ],
)
def test_profile_errors_name_file_line_col(
    tmp_path: Path, body: str, where: str, fragment: str
) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        load_agent_config(path)
    text = str(info.value.location) + " " + info.value.message
    assert f"{path}:{where}" in text and fragment in text, text
