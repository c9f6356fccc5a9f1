from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mentra.permissions.policy import RuntimePolicy
from mentra.tools.base import Tool, ToolContext, ToolResult
from mentra.tools.services import ToolServices


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
def policy(workspace: Path) -> RuntimePolicy:
    return RuntimePolicy(working_dir=workspace, command_timeout=10.0, max_output_bytes=4096)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def __call__(self, message: str, stream: str) -> None:
        self.events.append((stream, message))


@pytest.fixture
def progress() -> Recorder:
    return Recorder()


@pytest.fixture
def ctx(policy: RuntimePolicy, progress: Recorder, tmp_path: Path) -> ToolContext:
    return ToolContext(
        policy=policy,
        progress=progress,
        services=ToolServices(jobs_dir=tmp_path / "jobs", results_dir=tmp_path / "results"),
    )


async def call(tool: Tool, raw: dict[str, Any], ctx: ToolContext) -> ToolResult:
    """Validate like the loop does, then run."""
    return await tool.run(tool.parse_input(raw), ctx)


@pytest.fixture
def run(ctx: ToolContext) -> Callable[[Tool, dict[str, Any]], ToolResult]:
    """``run(tool, raw_input)``: one call, synchronously, with the test's context."""

    def runner(tool: Tool, raw: dict[str, Any]) -> ToolResult:
        return asyncio.run(call(tool, raw, ctx))

    return runner
