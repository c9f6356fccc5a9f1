"""`mentra run` / `mentra tools` with MCP servers, through real processes (the scripted provider
plays the model)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.cli.conftest import MENTRA
from tests.mcp.helpers import FAULT, wait_gone


def mentra(*args: str, cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MENTRA, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def events(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in done.stdout.splitlines()]


def setup(tmp_path: Path, servers: dict[str, Any], calls: list[dict[str, Any]]) -> Path:
    script = tmp_path / "script.yaml"
    script.write_text(
        json.dumps({"turns": [{"text": "calling", "tool_calls": calls}, {"text": "Done."}]})
    )
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(
        json.dumps(
            {
                "name": "mcp-run",
                "model": f"scripted:{script}",
                "mcp_servers": servers,
                "permissions": {"mode": "bypass"},
            }
        )
    )
    return cfg


def test_model_calls_everything_echo(tmp_path: Path, everything_js: str) -> None:
    cfg = setup(
        tmp_path,
        {"everything": {"command": "node", "args": [everything_js]}},
        [{"name": "mcp__everything__echo", "input": {"message": "hi"}}],
    )
    done = mentra("run", "-c", str(cfg), "go", "--ephemeral", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    evs = events(done)
    result = next(e for e in evs if e["type"] == "tool_completed")
    assert result["output"] == "Echo: hi" and result["is_error"] is False
    assert evs[-1]["type"] == "run_finished" and evs[-1]["status"] == "success"
    assert wait_gone(everything_js) == []


def test_echo_over_streamable_http_in_a_run(tmp_path: Path, everything_http: str) -> None:
    cfg = setup(
        tmp_path,
        {"remote": {"url": everything_http}},
        [{"name": "mcp__remote__echo", "input": {"message": "hi"}}],
    )
    done = mentra("run", "-c", str(cfg), "go", "--ephemeral", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = next(e for e in events(done) if e["type"] == "tool_completed")
    assert result["output"] == "Echo: hi"


def test_time_server_in_a_run(tmp_path: Path, time_server: list[str]) -> None:
    cfg = setup(
        tmp_path,
        {"time": {"command": time_server[0], "args": time_server[1:]}},
        [{"name": "mcp__time__get_current_time", "input": {"timezone": "UTC"}}],
    )
    done = mentra("run", "-c", str(cfg), "go", "--ephemeral", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = next(e for e in events(done) if e["type"] == "tool_completed")
    assert '"timezone": "UTC"' in result["output"] and result["is_error"] is False


def test_failing_server_ends_the_run_with_exit_2(tmp_path: Path) -> None:
    broken = {"command": sys.executable, "args": [str(FAULT), "exit-at-start", str(tmp_path)]}
    cfg = setup(tmp_path, {"broken": broken}, [])
    done = mentra("run", "-c", str(cfg), "go", "--ephemeral", cwd=tmp_path)
    assert done.returncode == 2
    assert "'broken'" in done.stderr and "cannot open its database" in done.stderr
    assert "Traceback" not in done.stderr


def test_hanging_tool_is_an_error_result_and_the_run_finishes(tmp_path: Path) -> None:
    server = {
        "command": sys.executable,
        "args": [str(FAULT), "ok", str(tmp_path)],
        "tool_timeout": "1s",
    }
    cfg = setup(tmp_path, {"fault": server}, [{"name": "mcp__fault__hang", "input": {}}])
    done = mentra("run", "-c", str(cfg), "go", "--ephemeral", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    evs = events(done)
    result = next(e for e in evs if e["type"] == "tool_completed")
    assert result["is_error"] is True and "timed out" in result["output"]
    assert evs[-1]["type"] == "run_finished"
    assert wait_gone(str(tmp_path)) == []


def test_progress_becomes_tool_progress_events(tmp_path: Path) -> None:
    server = {"command": sys.executable, "args": [str(FAULT), "ok", str(tmp_path)]}
    cfg = setup(tmp_path, {"fault": server}, [{"name": "mcp__fault__progress", "input": {}}])
    done = mentra("run", "-c", str(cfg), "go", "--ephemeral", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sum(e["type"] == "tool_progress" for e in events(done)) >= 3


def test_tools_lists_mcp_tools_with_their_source(tmp_path: Path, everything_js: str) -> None:
    cfg = setup(tmp_path, {"everything": {"command": "node", "args": [everything_js]}}, [])
    done = mentra("tools", "-c", str(cfg), "-o", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(done.stdout)}
    assert rows["mcp__everything__echo"]["source"] == "mcp:everything"
    # server-everything marks echo `readOnlyHint: true`: read-only, allowed by the default mode
    assert rows["mcp__everything__echo"]["mutates"] is False
    assert rows["mcp__everything__echo"]["permission"] == "allow"
    assert rows["files"]["source"] == "builtin"  # the static sets are still listed beside it


def test_a_claude_code_mcp_config_file_works_in_a_run(tmp_path: Path, everything_js: str) -> None:
    """`mentra run --mcp-config FILE` takes Claude Code's `mcpServers` JSON unchanged; with
    `--strict-mcp-config` the config's own servers are left out."""
    cfg = setup(
        tmp_path,
        {"broken": {"command": str(tmp_path / "no-such-server")}},  # left out by --strict
        [{"name": "mcp__everything__echo", "input": {"message": "hi"}}],
    )
    claude = tmp_path / ".mcp.json"
    claude.write_text(
        json.dumps({"mcpServers": {"everything": {"command": "node", "args": [everything_js]}}})
    )
    done = mentra(
        "run", "-c", str(cfg), "go", "--ephemeral", "--mcp-config", str(claude),
        "--strict-mcp-config", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    evs = events(done)
    assert "mcp__everything__echo" in evs[0]["tools"]
    assert not any(t.startswith("mcp__broken__") for t in evs[0]["tools"])
    result = next(e for e in evs if e["type"] == "tool_completed")
    assert result["output"] == "Echo: hi" and result["is_error"] is False
    assert evs[-1]["type"] == "run_finished" and evs[-1]["status"] == "success"
    assert wait_gone(everything_js) == []
    # without --strict the config's failing server is started too, and ends the run
    failed = mentra(
        "run", "-c", str(cfg), "go", "--ephemeral", "--mcp-config", str(claude), cwd=tmp_path
    )
    assert failed.returncode == 2 and "broken" in failed.stderr


def setup_turns(tmp_path: Path, servers: dict[str, Any], turns: list[dict[str, Any]]) -> Path:
    """An agent config whose scripted model plays ``turns`` (then answers "Done.")."""
    cfg = setup(tmp_path, servers, [])
    script = tmp_path / "script.yaml"
    script.write_text(json.dumps({"turns": [*turns, {"text": "Done."}]}))
    return cfg


def calls(*names: str) -> dict[str, Any]:
    return {"tool_calls": [{"name": n, "input": {}} for n in names]}


def test_list_changed_refreshes_the_tools_before_the_next_request(tmp_path: Path) -> None:
    """`grow` adds the tool `fresh` and sends `notifications/tools/list_changed`: the next
    round can call it (before, the run kept the start-up list: "unknown tool")."""
    server = {"command": sys.executable, "args": [str(FAULT), "ok", str(tmp_path)]}
    cfg = setup_turns(
        tmp_path, {"fault": server}, [calls("mcp__fault__grow"), calls("mcp__fault__fresh")]
    )
    done = mentra("run", "-c", str(cfg), "go", "--ephemeral", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    evs = events(done)
    assert "mcp__fault__fresh" not in evs[0]["tools"]
    results = {e["name"]: e for e in evs if e["type"] == "tool_completed"}
    assert results["mcp__fault__grow"]["output"] == "grown"
    assert results["mcp__fault__fresh"]["is_error"] is False
    assert results["mcp__fault__fresh"]["output"] == "new!"
    assert evs[-1]["type"] == "run_finished" and evs[-1]["status"] == "success"


def test_a_server_dying_mid_run_is_error_results_and_one_notice(
    tmp_path: Path, everything_js: str
) -> None:
    """`die` exits the fault server mid-call: that call and a later one of its tools are error
    results, one `notice` names the server, the other server's tools still work, and the run
    finishes with success."""
    servers = {
        "fault": {"command": sys.executable, "args": [str(FAULT), "ok", str(tmp_path)]},
        "everything": {"command": "node", "args": [everything_js]},
    }
    turns = [
        calls("mcp__fault__die"),
        calls("mcp__fault__peek"),
        {"tool_calls": [{"name": "mcp__everything__echo", "input": {"message": "still"}}]},
    ]
    cfg = setup_turns(tmp_path, servers, turns)
    done = mentra("run", "-c", str(cfg), "go", "--ephemeral", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    evs = events(done)
    results = [e for e in evs if e["type"] == "tool_completed"]
    assert [r["name"] for r in results] == [
        "mcp__fault__die",
        "mcp__fault__peek",
        "mcp__everything__echo",
    ]
    assert results[0]["is_error"] and results[1]["is_error"]
    assert results[2]["is_error"] is False and results[2]["output"] == "Echo: still"
    notices = [e for e in evs if e["type"] == "notice" and "'fault'" in e["message"]]
    assert len(notices) == 1, notices
    assert notices[0]["level"] == "warning"
    # said before the model's next request: between the dead call and the next one
    order = [e for e in evs if e["type"] in ("tool_completed", "notice")]
    assert order.index(notices[0]) == order.index(results[0]) + 1
    assert evs[-1]["type"] == "run_finished" and evs[-1]["status"] == "success"
    assert wait_gone(str(tmp_path)) == []


def test_an_optional_server_failing_to_start_is_a_notice_in_the_run(tmp_path: Path) -> None:
    broken = {
        "command": sys.executable,
        "args": [str(FAULT), "exit-at-start", str(tmp_path)],
        "optional": True,
    }
    cfg = setup_turns(tmp_path, {"maybe": broken}, [])
    done = mentra("run", "-c", str(cfg), "go", "--ephemeral", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    evs = events(done)
    assert evs[0]["type"] == "session_started"
    notices = [e for e in evs if e["type"] == "notice" and "'maybe'" in e["message"]]
    assert len(notices) == 1 and "cannot open its database" in notices[0]["message"]
    assert evs[-1]["status"] == "success"
