"""How mentra builds a rich `Console`: one rule for ``NO_COLOR`` everywhere it prints."""

from __future__ import annotations

import errno
import os
from typing import IO, Any

from rich.console import Console


def no_color() -> bool:
    """``NO_COLOR`` set to anything but the empty string (https://no-color.org)."""
    return os.environ.get("NO_COLOR", "") != ""


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich's own answer is SystemExit(1); the process edge (`run_app`) owns this case and
        # exits 141, as for every command whose stdout's reader went away
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, "stdout's reader went away")


def make_console(*, file: IO[str] | None = None, stderr: bool = False, **options: Any) -> Console:
    """A console that honours ``NO_COLOR`` fully: rich alone drops colours but keeps bold, dim
    and reverse; with no colour system at all it writes no escape sequence."""
    if no_color():
        options["color_system"] = None
    return _Console(file=file, stderr=stderr, **options)
