"""Console-script entry. ``--version`` answers before typer, pydantic or rich are imported."""

from __future__ import annotations

import sys


def main() -> None:
    args = sys.argv[1:]
    if args in (["--version"], ["-V"]):
        from mentra._version import __version__

        sys.stdout.write(f"mentra {__version__}\n")
        return
    from mentra_cli.app import run_app

    sys.exit(run_app(args))
