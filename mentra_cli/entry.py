"""Console-script entry. ``--version`` answers before typer, pydantic or rich are imported.

Start-up (imports, class building, config and transcript loading) allocates hundreds of
thousands of long-lived objects and frees almost none, so the cyclic collector would only
re-scan them, again and again: it is paused until the command has settled
(`settle_gc`), then what start-up built is frozen out of its sight.
"""

from __future__ import annotations

import gc
import sys

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

    sys.exit(run_app(args))
