"""A signal to `mentra` (or the run's `--timeout`) while an MCP `tools/call` is in flight: the
server is sent `notifications/cancelled` for that request id before it is closed (the MCP
spec's cancellation), and the run ends 130/143 (5) with the call answered "interrupted" in the
store. Real
`mentra` processes, the fault server over stdio, a real SQLite store."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.mcp.helpers import FAULT, wait_gone
from tests.reliability.conftest import start, transcript, wait_for, wait_until

INTERRUPTED = "interrupted before it finished; it was not re-run"


def _received(markers: Path) -> list[dict[str, Any]]:
    log = markers / "received.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("signum", "code", "status"),
    [
        (signal.SIGINT, 130, "interrupted"),
        (signal.SIGTERM, 143, "interrupted"),
        (None, 5, "timeout"),  # the run's own --timeout, not the tool's
    ],
)
def test_an_interruption_during_a_tools_call_sends_notifications_cancelled_for_its_id(
    tmp_path: Path, signum: signal.Signals | None, code: int, status: str
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    script = tmp_path / "script.yaml"
    script.write_text(
        json.dumps(
            {
                "turns": [
                    {
                        "text": "calling",
                        "tool_calls": [{"name": "mcp__fault__hang", "input": {"seconds": 60}}],
                    },
                    {"text": "never reached"},
                ]
            }
        )
    )
    server = {
        "command": sys.executable,
        "args": [str(FAULT), "ok", str(markers)],
        "tool_timeout": "120s",  # far beyond the test: only the signal can end the call
    }
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(
        json.dumps(
            {
                "name": "mcp-cancel",
                "model": f"scripted:{script}",
                "mcp_servers": {"fault": server},
                "permissions": {"mode": "bypass"},
            }
        )
    )
    store = tmp_path / "store.sqlite"
    args = ["run", "-c", str(cfg), "go", "--store", str(store)]
    proc = start(args if signum else [*args, "--timeout", "4s"], tmp_path)
    seen = wait_for(proc, "tool_started")
    agent_id = seen[0]["agent_id"]
    call_id = seen[-1]["call_id"]

    def calls() -> list[dict[str, Any]]:
        return [m for m in _received(markers) if m["method"] == "tools/call"]

    wait_until(lambda: bool(calls()))  # the request reached the server: it is in flight
    (request,) = calls()
    assert request["params"]["name"] == "hang"
    if signum is not None:
        proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert "Traceback" not in err

    events = seen + [json.loads(line) for line in out.splitlines()]
    last = events[-1]
    assert last["type"] == "run_finished"
    assert (last["status"], last["exit_code"]) == (status, code)
    assert len([e for e in events if e["type"] == "run_finished"]) == 1

    # the server was told, for this request id, while it was still connected
    received = _received(markers)
    cancels = [m for m in received if m["method"] == "notifications/cancelled"]
    assert [c["params"]["requestId"] for c in cancels] == [request["id"]], received
    assert received.index(cancels[0]) > received.index(request)
    assert (markers / "cancelled").read_text() == "yes"  # and its handler was cancelled
    assert wait_gone(str(markers)) == []  # then the server was closed

    # the store answers the call "interrupted": a resume sends the model that result
    items = transcript(store, agent_id)
    assert [role for _, role, _ in items] == ["user", "assistant", "user"]
    (result,) = items[2][2]["content"]
    assert result["tool_use_id"] == call_id and result["is_error"] is True
    assert INTERRUPTED in result["content"]
