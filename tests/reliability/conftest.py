"""Helpers for the fault tests of issue 14: real `mentra` processes on a real SQLite store."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.cli.conftest import MENTRA, mentra
from tests.config.fakechat import fakechat

__all__ = ["fakechat", "mentra"]  # the fixtures, for the tests here


def start(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [MENTRA, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def wait_for(proc: subprocess.Popen[str], event_type: str) -> list[dict[str, Any]]:
    """Read events from ``proc``'s stdout up to the first ``event_type``."""
    assert proc.stdout is not None
    seen = []
    while True:
        line = proc.stdout.readline()
        assert line, f"process ended before {event_type}: {seen}"
        event = json.loads(line)
        seen.append(event)
        if event["type"] == event_type:
            return seen


def query(store: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(store, timeout=10)
    try:
        return [tuple(r) for r in con.execute(sql, params).fetchall()]
    finally:
        con.close()


def transcript(store: Path, agent_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(run id, role, message) of each stored transcript item, in order."""
    rows = query(
        store,
        "SELECT run_id, message FROM transcript_items WHERE agent_id = ? ORDER BY seq",
        agent_id,
    )
    out = []
    for run_id, text in rows:
        message = json.loads(text)
        out.append((run_id, message["role"], message))
    return out


def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)
