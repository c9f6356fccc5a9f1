"""The guard of one mentra process: ``python -I -S _group_guard.py`` with a pipe on stdin.

mentra writes ``+PGID`` when a command's process group starts and ``-PGID`` when it is gone. The
guard holds the only other end of that pipe, so when mentra dies, even by ``kill -9``, the pipe
reaches end of file and the guard stops every group still listed: SIGTERM, a short grace, then
SIGKILL. Background jobs are never listed (they outlive mentra on purpose). Only the standard
library is imported, so it starts fast and needs no ``PYTHONPATH``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

GRACE_SECONDS = 1.0


def _signal_groups(groups: set[int], sig: int) -> set[int]:
    alive = set()
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
            alive.add(pgid)
    return alive


def guard(fd: int) -> int:
    groups: set[int] = set()
    pending = b""
    while True:
        try:
            data = os.read(fd, 4096)
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            continue
        if not data:
            break
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            with contextlib.suppress(ValueError):
                if line.startswith(b"+"):
                    groups.add(int(line[1:]))
                elif line.startswith(b"-"):
                    groups.discard(int(line[1:]))
    alive = _signal_groups(groups, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = _signal_groups(alive, 0)  # which groups still have a process
    _signal_groups(alive, signal.SIGKILL)
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through real subprocesses
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(guard(sys.stdin.fileno()))
