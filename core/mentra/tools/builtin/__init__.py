"""The builtin tools of the reference runtime (``load_skill`` is built from the skills).

Context services the tools read (all optional): ``jobs_dir`` (background jobs, persist it with
the agent so `check_background` works after a resume) and ``results_dir`` (full texts of
shortened results, for `read_tool_result`).
"""

from __future__ import annotations

from pathlib import Path

from mentra.tools.base import Tool
from mentra.tools.builtin.background import (
    BackgroundRunTool,
    CheckBackgroundTool,
    pending_job_notices,
)
from mentra.tools.builtin.files import FilesTool
from mentra.tools.builtin.shell import ShellTool
from mentra.tools.large_results import ReadToolResultTool


def builtin_tools(working_dir: Path | None = None) -> list[Tool]:
    """Fresh instances of every builtin tool. ``working_dir`` only shapes the permission
    subjects of `files` (absolute paths shown relative to it); tools run in the policy's."""
    return [
        FilesTool(working_dir),
        ShellTool(),
        BackgroundRunTool(),
        CheckBackgroundTool(),
        ReadToolResultTool(),
    ]


__all__ = [
    "BackgroundRunTool",
    "CheckBackgroundTool",
    "FilesTool",
    "ReadToolResultTool",
    "ShellTool",
    "builtin_tools",
    "pending_job_notices",
]
