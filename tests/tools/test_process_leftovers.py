"""Processes a command leaves behind, through a real `mentra` process (#13.11)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

MENTRA = str(Path(sys.executable).parent / "mentra")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_detached_child_holding_stdout_is_reported_killed_and_not_waited_for(
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "pid"
    script = tmp_path / "script.yaml"
    command = f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 60' & echo spawned"
    script.write_text(
        json.dumps(
            {
                "turns": [
                    {"tool_calls": [{"name": "shell", "input": {"command": command}}]},
                    {"text": "Done."},
                ]
            }
        )
    )
    started = time.monotonic()
    argv = [MENTRA, "run", "-m", f"scripted:{script}", "--permission-mode", "bypass"]
    proc = subprocess.run(
        [*argv, "--ephemeral", "go"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no "Exception ignored ... Event loop is closed"
    done = next(
        e for e in map(json.loads, proc.stdout.splitlines()) if e["type"] == "tool_completed"
    )
    assert done["output"].startswith("exit code: 0\n"), done["output"]
    assert "timed out" not in done["output"]
    assert "still held the output pipes" in done["output"] and "it was killed" in done["output"]
    assert "[stdout]\nspawned" in done["output"]
    assert done["duration_ms"] < 5000 and elapsed < 20  # not the command_timeout, not sleep 60
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 3
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
