"""Console-script entry. ``--version`` answers before typer, pydantic or rich are imported.

Start-up (imports, class building, config and transcript loading) allocates hundreds of
thousands of long-lived objects and frees almost none, so the cyclic collector would only
re-scan them, again and again: it is paused until the command has settled
(`settle_gc`), then what start-up built is frozen out of its sight.

For the same reason the interpreter's own teardown (freeing every module and object one by
one, ~15-20 ms after a run) is skipped once the command is over: `exit_now`.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import threading
from typing import NoReturn

from mentra_cli._gc import settle_gc

__all__ = ["main", "settle_gc"]


def main() -> None:
    args = sys.argv[1:]
    if args in (["--version"], ["-V"]):
        from mentra._version import __version__
        from mentra_cli._stdout import write_and_flush

        sys.exit(write_and_flush(f"mentra {__version__}\n"))
    gc.disable()
    from mentra_cli.app import run_app

    exit_now(run_app(args))


def exit_now(code: int) -> NoReturn:
    """End the process with ``code`` once the command is over, without the interpreter's
    teardown: what must happen at exit still does (stdout and stderr flushed, the ``atexit``
    callbacks run), and files, stores and children were closed by the command itself. If a
    non-daemon thread is still alive, the flush fails, or a profiler or tracer is attached
    (``python -m cProfile`` writes its stats after `main` returns), the normal exit does it."""
    current = threading.current_thread()
    if any(t is not current and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    atexit._run_exitfuncs()
    os._exit(code)
