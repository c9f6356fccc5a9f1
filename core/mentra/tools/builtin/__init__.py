"""The builtin tools of the reference runtime (``load_skill`` is built from the skills)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from mentra.tools.base import Tool
from mentra.tools.builtin.files import FilesTool


def builtin_tools(working_dir: Path | None = None) -> list[Tool]:
    """Fresh instances of every builtin tool. ``working_dir`` only shapes the permission
    subjects of `files` (absolute paths shown relative to it); tools run in the policy's."""
    # `ArgsTool` keeps name/description/mutates as class variables, which mypy will not match
    # against the protocol's instance attributes; the objects do satisfy it at run time.
    tools: list[object] = [FilesTool(working_dir)]
    return [cast(Tool, tool) for tool in tools]


__all__ = ["FilesTool", "builtin_tools"]
