"""Commands a run started die with it; detached children do not hold a call (real mentra)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mentra._pids import stat_fields

MENTRA = str(Path(sys.executable).parent / "mentra")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")


def _running(pid: int) -> bool:
    fields = stat_fields(pid)
    return fields is not None and bool(fields) and fields[0] not in ("Z", "X")


def _script(tmp_path: Path, command: str) -> Path:
    script = tmp_path / "script.yaml"
    turns = [{"tool_calls": [{"name": "shell", "input": {"command": command}}]}, {"text": "Done."}]
    script.write_text(json.dumps({"turns": turns}))
    return script


def _argv(script: Path) -> list[str]:
    return [
        MENTRA,
        "run",
        "-m",
        f"scripted:{script}",
        "--ephemeral",
        "--no-user-config",
        "--permission-mode",
        "bypass",
        "go",
    ]


def _wait_for_lines(path: Path, count: int, timeout: float = 20) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text().split()
            if len(lines) >= count:
                return [int(x) for x in lines[:count]]
        time.sleep(0.05)
    raise AssertionError(f"{path} did not get {count} pids")


def test_kill_9_of_mentra_stops_the_commands_of_its_shell_call(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    command = (
        f"sleep 300 & echo $! > {pids_file}; "
        f"sh -c 'echo $$ >> {pids_file}; exec sleep 300' & "
        f"echo $$ >> {pids_file}; sleep 300; echo never"
    )
    proc = subprocess.Popen(
        _argv(_script(tmp_path, command)),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pids: list[int] = []
    try:
        pids = _wait_for_lines(pids_file, 3)
        assert all(_running(pid) for pid in pids)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_running(pid) for pid in pids):
            time.sleep(0.05)
        assert [pid for pid in pids if _running(pid)] == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in pids:  # the test leaves nothing behind, even when it fails
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


def test_detached_child_holding_stdout_is_stopped_and_reported(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    command = f"setsid sleep 30 & echo $! > {pid_file}; echo spawned"
    started = time.monotonic()
    done = subprocess.run(
        _argv(_script(tmp_path, command)),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    pid = int(pid_file.read_text())
    try:
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        events: list[dict[str, Any]] = [json.loads(line) for line in done.stdout.splitlines()]
        (result,) = [e for e in events if e["type"] == "tool_completed"]
        assert result["is_error"] is False
        output = result["output"]
        assert output.startswith("exit code: 0\n")
        assert "session of their own still held its output pipes; they were stopped" in output
        assert "timed out" not in output
        assert output.endswith("[stdout]\nspawned")
        assert result["duration_ms"] < 5000
        assert elapsed < 15
        assert events[-1]["type"] == "run_finished"
        assert events[-1]["status"] == "success"
        assert not _running(pid)
    finally:
        if _running(pid):
            os.kill(pid, signal.SIGKILL)
