"""Custom tools: real commands (no shell) and Python functions."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mentra.errors import ConfigError
from mentra.tools.base import Tool, ToolInputError, ToolResult
from mentra.tools.custom import CustomToolSpec, build_custom_tool

Run = Callable[[Tool, dict[str, Any]], ToolResult]
PRINT_ARGV = [sys.executable, "-c", "import sys, json; print(json.dumps(sys.argv[1:]))"]


def tool(workspace: Path, **spec: Any) -> Tool:
    spec.setdefault("name", "t")
    spec.setdefault("description", "a test tool")
    return build_custom_tool(CustomToolSpec.model_validate(spec), base_dir=workspace)


def stdout_of(result: ToolResult) -> str:
    return result.content.split("[stdout]\n", 1)[1].split("\n[stderr]", 1)[0]


def test_argv_placeholders_without_a_shell(run: Run, workspace: Path) -> None:
    t = tool(
        workspace,
        command=[*PRINT_ARGV, "--path={path}", "{path}", "{files}", "{count}", "{opt}", "{{x}}"],
        input_schema={
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "files": {"type": "array", "items": {"type": "string"}},
                "count": {"type": "integer"},
                "opt": {"type": "string"},
            },
            "required": ["path"],
        },
    )
    hostile = "a b; rm -rf / $(whoami) `id` | cat"
    result = run(t, {"path": hostile, "files": ["x y", "z"], "count": 3})
    assert not result.is_error, result.content
    assert stdout_of(result) == (f'["--path={hostile}", "{hostile}", "x y", "z", "3", "{{x}}"]')


def test_input_is_validated_against_the_schema(workspace: Path) -> None:
    t = tool(
        workspace,
        command=["true", "{path}"],
        input_schema={
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    )
    with pytest.raises(ToolInputError, match="path"):
        t.parse_input({})
    with pytest.raises(ToolInputError):
        t.parse_input({"path": 3})


def test_stdin_json(run: Run, workspace: Path) -> None:
    t = tool(
        workspace,
        command=[
            sys.executable,
            "-c",
            "import sys, json; d = json.load(sys.stdin); print(d['n'] * 2)",
        ],
        input_schema={"type": "object", "properties": {"n": {"type": "integer"}}},
        stdin="json",
    )
    assert stdout_of(run(t, {"n": 21})) == "42"


def test_missing_command_is_a_clear_error(run: Run, workspace: Path) -> None:
    for program in ("definitely-not-a-command-xyz", "./bin/missing.sh"):
        result = run(tool(workspace, command=[program]), {})
        assert result.is_error
        assert "could not start its command" in result.content
        assert "command not found" in result.content


def test_runs_in_working_dir_with_policy_env(
    run: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-leak")
    (workspace / "bin").mkdir()
    script = workspace / "bin" / "show.sh"
    script.write_text("#!/bin/sh\npwd\nenv\n")
    script.chmod(0o755)
    result = run(tool(workspace, command=["./bin/show.sh"]), {})
    assert not result.is_error
    assert stdout_of(result).splitlines()[0] == str(workspace)
    assert "sk-ant-leak" not in result.content


def test_timeout_kills(run: Run, workspace: Path) -> None:
    result = run(tool(workspace, command=["sleep", "30"], timeout="300ms"), {})
    assert result.is_error and "timed out after 0.3s" in result.content


def test_lane_defaults_to_mutating(workspace: Path) -> None:
    assert tool(workspace, command=["true"]).mutates is True
    ro = tool(workspace, command=["true"], mutates=False)
    assert ro.is_mutating(ro.parse_input({})) is False


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"name": "x", "description": "d"}, "exactly one"),
        ({"name": "x", "description": "d", "command": ["a"], "python": "m:f"}, "exactly one"),
        ({"name": "x", "command": ["a"]}, "description"),
        ({"name": "x", "description": "d", "command": ["a"], "bogus": 1}, "bogus"),
        ({"name": "x", "description": "d", "command": []}, "command"),
        ({"name": "bad name", "description": "d", "command": ["a"]}, "name"),
        (
            {
                "name": "x",
                "description": "d",
                "command": ["a", "{nope}"],
                "input_schema": {"type": "object", "properties": {"p": {"type": "string"}}},
            },
            "{nope}",
        ),
        (
            {"name": "x", "description": "d", "command": ["a"], "input_schema": {"properties": 5}},
            "valid JSON Schema",
        ),
        ({"name": "x", "python": "m:f", "stdin": "json"}, "stdin"),
    ],
)
def test_bad_specs_are_refused(spec: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        CustomToolSpec.model_validate(spec)
    assert fragment in str(info.value)


PY_MODULE = '''
import asyncio
import time


def word_count(text: str, min_length: int = 1) -> dict[str, int]:
    """Count the words of a text.

    Args:
        text: The text to count.
        min_length: Ignore words shorter than this.
    """
    return {"words": len([w for w in text.split() if len(w) >= min_length])}


async def shout(text: str) -> str:
    """Upper-case a text."""
    await asyncio.sleep(0)
    return text.upper()


def boom() -> str:
    """Always fails."""
    raise RuntimeError("kaput")


def slow() -> str:
    """Sleeps."""
    time.sleep(0.5)
    return "late"


def untyped(x):
    """No hints."""
    return x
'''


@pytest.fixture
def pymod(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"mentra_test_tools_{abs(hash(str(workspace)))}"
    (workspace / f"{name}.py").write_text(PY_MODULE)
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


def test_python_tool_schema_from_hints_and_docstring(run: Run, workspace: Path, pymod: str) -> None:
    t = build_custom_tool(
        CustomToolSpec(name="wc", python=f"{pymod}:word_count", mutates=False), base_dir=workspace
    )
    assert t.description == "Count the words of a text."
    schema = t.input_schema
    assert schema["required"] == ["text"]
    assert schema["properties"]["text"]["description"] == "The text to count."
    assert schema["properties"]["min_length"]["default"] == 1
    assert run(t, {"text": "a bb ccc", "min_length": 2}).content == '{"words": 2}'
    with pytest.raises(ToolInputError):
        t.parse_input({"text": 1, "extra": True})


def test_python_tool_async_errors_and_timeout(
    run: Run, workspace: Path, pymod: str, policy: Any
) -> None:
    def make(func: str) -> Tool:
        return build_custom_tool(
            CustomToolSpec(name=func, python=f"{pymod}:{func}"), base_dir=workspace
        )

    assert run(make("shout"), {"text": "hi"}).content == "HI"
    failed = run(make("boom"), {})
    assert failed.is_error and "RuntimeError: kaput" in failed.content
    policy.command_timeout = 0.1
    late = run(make("slow"), {})
    assert late.is_error and "timed out" in late.content


def test_python_tool_import_problems(workspace: Path, pymod: str) -> None:
    with pytest.raises(ConfigError, match="cannot import"):
        build_custom_tool(CustomToolSpec(name="x", python="no_such_mod_xyz:f"), base_dir=workspace)
    with pytest.raises(ConfigError, match="not a function"):
        build_custom_tool(CustomToolSpec(name="x", python=f"{pymod}:nothing"), base_dir=workspace)
    with pytest.raises(ConfigError, match="type hint"):
        build_custom_tool(CustomToolSpec(name="x", python=f"{pymod}:untyped"), base_dir=workspace)
