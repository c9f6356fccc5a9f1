"""The env fence (no provider key reaches a command) and non-UTF-8 output, across the tools."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from mentra.permissions.policy import RuntimePolicy
from mentra.tools.base import Tool, ToolContext, ToolResult
from mentra.tools.builtin.background import BackgroundRunTool, CheckBackgroundTool
from mentra.tools.builtin.shell import ShellTool
from mentra.tools.custom import CustomToolSpec, build_custom_tool

KEYS = {
    "OPENAI_API_KEY": "sk-openai-leak",
    "ANTHROPIC_API_KEY": "sk-ant-leak",
    "GEMINI_API_KEY": "gem-leak",
    "OPENROUTER_API_KEY": "or-leak",
}


def _ctx(workspace: Path, tmp_path: Path, env_allow: list[str]) -> ToolContext:
    policy = RuntimePolicy(working_dir=workspace, command_timeout=10.0, env_allow=env_allow)
    return ToolContext(
        policy=policy,
        progress=lambda _m, _s: None,
        services={"jobs_dir": tmp_path / "jobs", "results_dir": tmp_path / "results"},
    )


def _run(tool: Tool, raw: dict[str, object], ctx: ToolContext) -> ToolResult:
    return asyncio.run(tool.run(tool.parse_input(raw), ctx))


def _background(command: str, ctx: ToolContext) -> str:
    started = _run(BackgroundRunTool(), {"command": command}, ctx)
    assert not started.is_error, started.content
    job_id = started.content.split()[3].rstrip(":")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        report = _run(CheckBackgroundTool(), {"job_id": job_id}, ctx).content
        if "status: running" not in report and "status: starting" not in report:
            return report
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.mark.parametrize("env_allow", [["*"], [*KEYS, "PATH", "MARKER"]])
def test_provider_keys_never_reach_a_command(
    env_allow: list[str], workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MARKER", "visible")
    ctx = _ctx(workspace, tmp_path, env_allow)
    env_tool = build_custom_tool(
        CustomToolSpec.model_validate(
            {
                "name": "env",
                "description": "print the environment",
                "command": [sys.executable, "-c", "import os; print(sorted(os.environ.items()))"],
            }
        ),
        base_dir=workspace,
    )
    outputs = {
        "shell": _run(ShellTool(), {"command": "env"}, ctx).content,
        "custom": _run(env_tool, {}, ctx).content,
        "background": _background("env", ctx),
    }
    for where, text in outputs.items():
        for name, value in KEYS.items():
            assert value not in text and name not in text, (where, name)
        if "MARKER" in env_allow:
            assert "visible" in text, where  # the allow-list itself still works


def test_non_utf8_output_is_replaced_in_every_tool(workspace: Path, tmp_path: Path) -> None:
    ctx = _ctx(workspace, tmp_path, ["PATH"])
    printer = build_custom_tool(
        CustomToolSpec.model_validate(
            {
                "name": "p",
                "description": "print bytes",
                "command": ["printf", r"caf\351\n"],
            }
        ),
        base_dir=workspace,
    )
    shell = _run(ShellTool(), {"command": r"printf 'caf\351\n'; printf '\377' >&2"}, ctx)
    custom = _run(printer, {}, ctx)
    background = _background(r"printf 'caf\351\n'; printf '\377' >&2", ctx)
    for text in (shell.content, custom.content, background):
        assert "caf\ufffd" in text, text
    assert "[stderr]\n\ufffd" in shell.content and "[stderr]\n\ufffd" in background
