"""Whether a process still runs: one probe for lease holders and background-job supervisors."""

from __future__ import annotations

import os
from pathlib import Path


def stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state, ppid, pgrp ...); None
    where it cannot be read (no procfs, the process is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()


def process_state(pid: int) -> str | None:
    """The one-letter state of ``pid`` (``R``, ``S``, ``Z`` ...), or None."""
    fields = stat_fields(pid)
    return fields[0] if fields else None


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` runs on this host (signal 0 probes without sending). A
    zombie, dead but not yet reaped by its parent, does not count."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return False
    return process_state(pid) not in ("Z", "X")
