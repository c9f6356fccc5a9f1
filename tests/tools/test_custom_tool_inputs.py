"""Custom command tools: option injection refused, declared paths fenced by the policy (#12.3)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mentra.tools.base import Tool, ToolResult
from mentra.tools.custom import CustomToolSpec, build_custom_tool

Run = Callable[[Tool, dict[str, Any]], ToolResult]
PRINT_ARGV = [sys.executable, "-c", "import sys, json; print(json.dumps(sys.argv[1:]))"]
REPO = Path(__file__).resolve().parents[2]
MENTRA = str(Path(sys.executable).parent / "mentra")
PATH_SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}


def tool(workspace: Path, **spec: Any) -> Tool:
    spec.setdefault("name", "t")
    spec.setdefault("description", "a test tool")
    return build_custom_tool(CustomToolSpec.model_validate(spec), base_dir=workspace)


def argv_of(result: ToolResult) -> list[str]:
    assert not result.is_error, result.content
    out: list[str] = json.loads(result.content.split("[stdout]\n", 1)[1].split("\n[", 1)[0])
    return out


@pytest.mark.parametrize("value", ["--files0-from=/etc/hostname", "-n", "-"])
def test_a_value_beginning_with_dash_is_refused(run: Run, workspace: Path, value: str) -> None:
    t = tool(workspace, command=[*PRINT_ARGV, "{path}"], input_schema=PATH_SCHEMA, mutates=False)
    result = run(t, {"path": value})
    assert result.is_error
    assert f"`path` is {value!r}, which begins with '-'" in result.content
    assert "allow_options: true" in result.content
    assert "exit code" not in result.content  # the command never ran


def test_list_items_and_embedded_placeholders_are_checked(run: Run, workspace: Path) -> None:
    schema = {"type": "object", "properties": {"f": {"type": "array", "items": {"type": "string"}}}}
    t = tool(workspace, command=[*PRINT_ARGV, "{f}"], input_schema=schema, mutates=False)
    assert "begins with '-'" in run(t, {"f": ["a", "-rf"]}).content
    t = tool(workspace, command=[*PRINT_ARGV, "x{f}"], input_schema=schema, mutates=False)
    assert run(t, {"f": ["-v"]}).is_error


def test_allow_options_lets_dashes_through(run: Run, workspace: Path) -> None:
    t = tool(
        workspace,
        command=[*PRINT_ARGV, "{path}"],
        input_schema=PATH_SCHEMA,
        allow_options=True,
        mutates=False,
    )
    assert argv_of(run(t, {"path": "-n"})) == ["-n"]


def test_stdin_json_values_are_not_options(run: Run, workspace: Path) -> None:
    t = tool(
        workspace,
        command=[sys.executable, "-c", "import sys; print(sys.stdin.read())"],
        input_schema=PATH_SCHEMA,
        stdin="json",
        mutates=False,
    )
    result = run(t, {"path": "-n"})
    assert not result.is_error and '"-n"' in result.content


@pytest.mark.parametrize("declare", ["paths", "format"])
def test_declared_paths_are_resolved_inside_the_read_roots(
    run: Run, workspace: Path, declare: str
) -> None:
    (workspace / "a.txt").write_text("x")
    (workspace / "link").symlink_to("/etc")
    schema: dict[str, Any] = json.loads(json.dumps(PATH_SCHEMA))
    extra: dict[str, Any] = {"paths": ["path"]}
    if declare == "format":
        schema["properties"]["path"]["format"] = "path"
        extra = {}
    t = tool(
        workspace,
        command=[*PRINT_ARGV, "--", "{path}"],
        input_schema=schema,
        mutates=False,
        **extra,
    )
    assert argv_of(run(t, {"path": "a.txt"})) == ["--", str(workspace.resolve() / "a.txt")]
    for outside in ("/etc/passwd", "../x", "link/passwd"):
        result = run(t, {"path": outside})
        assert result.is_error
        assert result.content.startswith(f"Refused by policy: path {outside!r} resolves to")
        assert "outside the allowed read roots" in result.content


def test_a_mutating_tool_s_paths_need_the_write_roots(
    run: Run, workspace: Path, tmp_path: Path
) -> None:
    from mentra.permissions.policy import RuntimePolicy

    readonly = tmp_path / "ro"
    readonly.mkdir()
    t = tool(workspace, command=[*PRINT_ARGV, "{path}"], input_schema=PATH_SCHEMA, paths=["path"])
    policy = RuntimePolicy(working_dir=workspace, read_roots=[workspace, readonly])
    checked = t.check_input({"path": str(readonly / "f")}, policy)  # type: ignore[attr-defined]
    assert isinstance(checked, str) and "outside the allowed write roots" in checked
    ok = t.check_input({"path": "f"}, policy)  # type: ignore[attr-defined]
    assert ok == {"path": str(workspace.resolve() / "f")}


def test_paths_must_name_schema_properties() -> None:
    with pytest.raises(ValidationError, match="`paths` names 'file'"):
        CustomToolSpec.model_validate(
            {"name": "t", "description": "d", "command": ["wc", "{path}"], "paths": ["file"]}
            | {"input_schema": PATH_SCHEMA}
        )


def test_schema_config_shows_the_new_fields() -> None:
    done = subprocess.run(
        [MENTRA, "schema", "config"], capture_output=True, text=True, timeout=60, check=True
    )
    text = done.stdout
    assert '"allow_options"' in text and '"paths"' in text


def test_shipped_word_count_refuses_outside_paths_and_options(tmp_path: Path) -> None:
    """The reviewer example's `word_count`, through a real mentra, in the default mode."""
    (tmp_path / "notes.txt").write_text("one two\n")
    config = tmp_path / "agent.yaml"
    import yaml

    shipped = yaml.safe_load((REPO / "examples/agents/reviewer.yaml").read_text())
    custom = shipped["tools"]["custom"]
    assert custom[0]["name"] == "word_count"
    config.write_text(json.dumps({"tools": {"custom": custom}, "policy": shipped["policy"]}))
    calls = [
        {"name": "word_count", "input": {"path": "/etc/passwd"}},
        {"name": "word_count", "input": {"path": "--files0-from=/etc/hostname"}},
        {"name": "word_count", "input": {"path": "notes.txt"}},
    ]
    script = tmp_path / "script.yaml"
    script.write_text(json.dumps({"turns": [{"tool_calls": calls}, {"text": "Done."}]}))
    argv = [MENTRA, "run", "-c", str(config), "-m", f"scripted:{script}", "--ephemeral"]
    done = subprocess.run(
        [*argv, "--no-user-config", "-C", str(tmp_path), "go"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    results = {e["call_id"]: e for e in events if e["type"] == "tool_completed"}
    passwd, option, notes = (results[f"call_1_{i}"] for i in (1, 2, 3))
    assert passwd["is_error"] and passwd["output"].startswith(
        "Refused by policy: path '/etc/passwd'"
    )
    assert option["is_error"] and "begins with '-'" in option["output"]
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else ""
    assert not hostname or hostname not in option["output"]
    assert not notes["is_error"] and "1 2 8 " in notes["output"], notes["output"]
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "success"
