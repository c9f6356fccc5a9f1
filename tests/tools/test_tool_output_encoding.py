"""Tool output that is not valid UTF-8 is decoded with U+FFFD everywhere (#13.4)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mentra.tools.base import Tool, ToolResult
from mentra.tools.builtin.background import BackgroundRunTool, CheckBackgroundTool
from mentra.tools.custom import CustomToolSpec, build_custom_tool

Run = Callable[[Tool, dict[str, Any]], ToolResult]
MENTRA = str(Path(sys.executable).parent / "mentra")
LATIN1 = r"printf 'caf\351 ok\n'; printf 'er\377r\n' >&2"  # octal: dash's printf has no \x


def test_shell_output_through_a_real_mentra(tmp_path: Path) -> None:
    script = tmp_path / "script.yaml"
    call = {"name": "shell", "input": {"command": LATIN1}}
    script.write_text(json.dumps({"turns": [{"tool_calls": [call]}, {"text": "Done."}]}))
    argv = [MENTRA, "run", "-m", f"scripted:{script}", "--ephemeral", "--no-user-config"]
    done = subprocess.run(
        [*argv, "--permission-mode", "bypass", "go"],
        cwd=tmp_path,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    done.stdout.decode("utf-8")  # stdout itself stays valid UTF-8
    events = [json.loads(line) for line in done.stdout.splitlines()]
    (result,) = [e for e in events if e["type"] == "tool_completed"]
    assert result["output"] == "exit code: 0\n[stdout]\ncaf\ufffd ok\n[stderr]\ner\ufffdr"
    progress = [e["message"] for e in events if e["type"] == "tool_progress"]
    assert "caf\ufffd ok" in progress and "er\ufffdr" in progress


def test_custom_tool_output(run: Run, workspace: Path) -> None:
    code = "import sys; sys.stdout.buffer.write(b'caf\\xe9\\n'); sys.stderr.buffer.write(b'\\xff')"
    spec = {"name": "t", "description": "d", "command": [sys.executable, "-c", code]}
    result = run(build_custom_tool(CustomToolSpec.model_validate(spec), base_dir=workspace), {})
    assert result.content == "exit code: 0\n[stdout]\ncaf\ufffd\n[stderr]\n\ufffd"


def test_background_job_logs(run: Run) -> None:
    started = run(BackgroundRunTool(), {"command": LATIN1})
    job_id = started.content.split()[3].rstrip(":")
    deadline = time.monotonic() + 10
    report = ""
    while time.monotonic() < deadline:
        report = run(CheckBackgroundTool(), {"job_id": job_id}).content
        if "status: exited" in report:
            break
        time.sleep(0.1)
    assert "status: exited" in report
    assert "[stdout]\ncaf\ufffd ok" in report and "[stderr]\ner\ufffdr" in report
