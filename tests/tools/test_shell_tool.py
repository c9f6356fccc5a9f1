"""The shell tool against real /bin/sh subprocesses: environment, timeouts, output, streaming."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mentra.permissions.policy import RuntimePolicy
from mentra.tools.base import Tool, ToolContext, ToolResult
from mentra.tools.builtin.shell import ShellTool

Run = Callable[[Tool, dict[str, Any]], ToolResult]
shell = ShellTool()


def test_env_is_cut_to_the_allow_list(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-must-not-leak")
    monkeypatch.setenv("LANG", "C.UTF-8")
    result = run(shell, {"command": "env"})
    assert not result.is_error
    seen = {
        line.split("=", 1)[0]
        for line in result.content.split("[stdout]\n", 1)[1].splitlines()
        if "=" in line
    }
    allowed = set(RuntimePolicy(working_dir=Path.cwd()).env_allow) | {"PWD", "SHLVL", "_", "OLDPWD"}
    assert seen <= allowed, seen - allowed
    assert "LANG" in seen
    assert "must-not-leak" not in result.content


def test_exit_code_stdout_and_stderr(run: Run) -> None:
    result = run(shell, {"command": "echo out; echo err >&2; exit 3"})
    assert result.is_error
    assert result.content.splitlines()[0] == "exit code: 3"
    assert "[stdout]\nout" in result.content and "[stderr]\nerr" in result.content


def test_runs_in_working_dir_without_stdin(run: Run, workspace: Path) -> None:
    (workspace / "sub").mkdir()
    result = run(shell, {"command": "pwd; cat; echo end", "workingDirectory": "sub"})
    assert f"{workspace / 'sub'}\nend" in result.content


def test_working_directory_outside_the_roots_is_refused(run: Run, workspace: Path) -> None:
    (workspace / "out").symlink_to("/tmp")
    for where in ("..", "/etc", "out"):
        result = run(shell, {"command": "pwd", "workingDirectory": where})
        assert result.is_error and "outside the allowed read roots" in result.content


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rfind(")") + 2] not in "ZX"


def test_timeout_kills_the_whole_group_even_a_sigterm_ignoring_child(
    run: Run, workspace: Path
) -> None:
    pidfile = workspace / "child.pid"
    command = "sh -c 'trap \"\" TERM; echo $$ > child.pid; while :; do sleep 0.1; done' & sleep 60"
    started = time.monotonic()
    result = run(shell, {"command": command, "timeoutMs": 700})
    elapsed = time.monotonic() - started
    assert result.is_error and "timed out after 0.7s" in result.content
    assert elapsed < 5
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_timeout_is_capped_by_the_policy(run: Run, policy: RuntimePolicy) -> None:
    policy.command_timeout = 0.5
    result = run(shell, {"command": "sleep 30", "timeoutMs": 600_000})
    assert "timed out after 0.5s" in result.content


def test_non_utf8_output_is_replaced_not_fatal(run: Run) -> None:
    result = run(shell, {"command": r"printf 'caf\351 \377\376\n'; printf '\200' >&2"})
    assert not result.is_error
    assert "caf\ufffd \ufffd\ufffd" in result.content


def test_output_is_capped_per_stream_with_a_marker(run: Run, policy: RuntimePolicy) -> None:
    policy.max_output_bytes = 2048
    result = run(shell, {"command": "seq 1 5000; echo tail-marker"})
    assert "bytes cut" in result.content
    assert "\n1\n2\n" in result.content and "tail-marker" in result.content
    assert len(result.content) < 3000


def test_lines_stream_as_progress_with_heartbeats(
    ctx: ToolContext, progress: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from mentra.tools import _process

    original = _process.run_process

    async def quick_heartbeat(*args: Any, **kwargs: Any) -> Any:
        kwargs["heartbeat"] = 0.2
        return await original(*args, **kwargs)

    monkeypatch.setattr("mentra.tools.builtin.shell.run_process", quick_heartbeat)
    args = shell.parse_input({"command": "echo one; echo two >&2; sleep 0.7; echo three"})
    result = asyncio.run(shell.run(args, ctx))
    assert not result.is_error
    streams = [(s, m) for s, m in progress.events if s != "heartbeat"]
    assert streams == [("stdout", "one"), ("stderr", "two"), ("stdout", "three")]
    beats = [m for s, m in progress.events if s == "heartbeat"]
    assert beats and beats[0].startswith("still running (")


def test_lane_and_subject() -> None:
    args = shell.parse_input({"command": "git status", "justification": "look"})
    assert shell.is_mutating(args) is True
    assert shell.permission_subjects(args) == ["git status"]


def test_cancellation_kills_the_group(ctx: ToolContext, workspace: Path) -> None:
    import asyncio

    async def scenario() -> None:
        args = shell.parse_input({"command": "echo $$ > leader.pid; sleep 30 & sleep 30"})
        task = asyncio.create_task(shell.run(args, ctx))
        while not (workspace / "leader.pid").exists():
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    leader = int((workspace / "leader.pid").read_text())
    assert _running_in_group(leader) == []


def _running_in_group(pgid: int) -> list[int]:
    """Processes of a group that still run (zombies awaiting a reaper are dead)."""
    running = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat_file.read_text()
        except OSError:
            continue
        state, _ppid, group = text[text.rfind(")") + 2 :].split()[:3]
        if int(group) == pgid and state not in ("Z", "X"):
            running.append(int(stat_file.parent.name))
    return running
