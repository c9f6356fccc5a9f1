"""The cyclic collector around start-up (see `mentra_cli.entry`): a leaf both the entry and
the commands import, so neither imports the other."""

from __future__ import annotations

import gc


def settle_gc() -> None:
    """Start-up is over: freeze what it built and turn the collector back on (idempotent; a
    no-op where `main` did not pause it, e.g. in tests)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
