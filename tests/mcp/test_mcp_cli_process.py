"""`mentra mcp list` and `mentra mcp call` through real `mentra` processes and real servers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import MENTRA
from tests.mcp.helpers import FAULT, alive_with, wait_gone


def mentra(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MENTRA, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def agent_yaml(tmp_path: Path, servers: dict[str, Any]) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(json.dumps({"name": "mcp-test", "mcp_servers": servers}))  # JSON is YAML
    return path


def fault(mode: str, tag: Path, **kw: Any) -> dict[str, Any]:
    return {"command": sys.executable, "args": [str(FAULT), mode, str(tag)], **kw}


def test_mcp_list_shows_servers_and_tools(
    tmp_path: Path, everything_js: str, time_server: list[str]
) -> None:
    cfg = agent_yaml(
        tmp_path,
        {
            "everything": {"command": "node", "args": [everything_js, "stdio"]},
            "time": {"command": time_server[0], "args": time_server[1:]},
        },
    )
    done = mentra("mcp", "list", "-c", str(cfg), "-o", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(done.stdout)}
    assert rows["everything"]["status"] == "running"
    assert rows["everything"]["transport"] == "stdio"
    assert rows["everything"]["server"] == "mcp-servers/everything"
    assert rows["everything"]["protocol"]
    assert rows["everything"]["tools"] >= 10
    assert rows["time"]["tools"] == 2
    assert wait_gone(everything_js) == []


def test_failing_non_optional_server_exits_2_naming_it(tmp_path: Path) -> None:
    cfg = agent_yaml(
        tmp_path,
        {"broken": fault("exit-at-start", tmp_path), "spare": fault("exit-at-start", tmp_path)},
    )
    raw = cfg.read_text().replace('"spare": {', '"spare": {"optional": true, ')
    cfg.write_text(raw)
    done = mentra("mcp", "list", "-c", str(cfg), "-o", "jsonl", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "'broken'" in lines[0] and "cannot open its database" in lines[0]
    assert "spare" not in lines[0]  # optional: not an error
    rows = {r["name"]: r["status"] for r in map(json.loads, done.stdout.splitlines())}
    assert rows == {"broken": "failed", "spare": "failed"}
    # only the optional one failing: exit 0
    cfg.write_text(
        json.dumps(
            {"mcp_servers": {"spare": {**fault("exit-at-start", tmp_path), "optional": True}}}
        )
    )
    alone = mentra("mcp", "list", "-c", str(cfg), "-o", "table", cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    # the table says `failed`; stderr says why, in one warning line
    assert "spare" in alone.stdout and "failed" in alone.stdout
    assert alone.stderr.splitlines() == [
        "mentra: warning: optional MCP server 'spare' did not start: "
        + alone.stderr.split("did not start: ", 1)[-1].rstrip("\n")
    ]
    assert "cannot open its database" in alone.stderr


def test_mcp_call_prints_the_result_as_json(tmp_path: Path, everything_js: str) -> None:
    cfg = agent_yaml(tmp_path, {"everything": {"command": "node", "args": [everything_js]}})
    done = mentra(
        "mcp", "call", "everything", "echo", '{"message": "hi"}', "-c", str(cfg), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"content": "Echo: hi", "is_error": False}
    bad = mentra("mcp", "call", "everything", "nope", "{}", "-c", str(cfg), cwd=tmp_path)
    assert bad.returncode == 2 and "no tool 'nope'" in bad.stderr
    assert wait_gone(everything_js) == []


def test_structured_content_resource_links_and_embedded_resources_as_text(
    tmp_path: Path, everything_js: str
) -> None:
    cfg = agent_yaml(tmp_path, {"everything": {"command": "node", "args": [everything_js]}})

    def call(tool: str, args: dict[str, Any]) -> str:
        done = mentra(
            "mcp", "call", "everything", tool, json.dumps(args), "-c", str(cfg), cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        assert out["is_error"] is False
        content: str = out["content"]
        return content

    # the server sends the JSON both as text and as structuredContent: the model reads it once
    weather = call("get-structured-content", {"location": "New York"})
    assert json.loads(weather) == {"temperature": 33, "conditions": "Cloudy", "humidity": 82}
    links = call("get-resource-links", {"count": 2})
    assert "[resource: Text Resource 2 <demo://resource/dynamic/text/2>" in links
    embedded = call("get-resource-reference", {"resourceType": "Text", "resourceId": 1})
    assert (
        "[resource <demo://resource/dynamic/text/1>]\nResource 1: This is a plaintext" in embedded
    )


def test_claude_code_mcp_config_works_unchanged(tmp_path: Path, everything_js: str) -> None:
    """The JSON a Claude Code user already has; --strict-mcp-config drops the agent's own."""
    claude = tmp_path / ".mcp.json"
    claude.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "everything": {
                        "type": "stdio",
                        "command": "node",
                        "args": [everything_js, "stdio"],
                        "env": {},
                    }
                }
            }
        )
    )
    cfg = agent_yaml(tmp_path, {"broken": fault("exit-at-start", tmp_path)})
    done = mentra(
        "mcp",
        "call",
        "everything",
        "echo",
        '{"message":"hi"}',
        "-c",
        str(cfg),
        "--mcp-config",
        str(claude),
        "--strict-mcp-config",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["content"] == "Echo: hi"
    listed = mentra("mcp", "list", "--mcp-config", str(claude), "-o", "json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [r["name"] for r in json.loads(listed.stdout)] == ["everything"]


def test_hanging_tool_errors_at_tool_timeout(tmp_path: Path) -> None:
    cfg = agent_yaml(tmp_path, {"fault": fault("ok", tmp_path, tool_timeout="1s")})
    start = time.monotonic()
    done = mentra("mcp", "call", "fault", "hang", "{}", "-c", str(cfg), cwd=tmp_path)
    assert time.monotonic() - start < 15
    assert done.returncode == 1
    out = json.loads(done.stdout)
    assert out["is_error"] and "timed out after 1s" in out["content"]
    assert wait_gone(str(tmp_path)) == []


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_call_leaves_no_server_process(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    cfg = agent_yaml(tmp_path, {"fault": fault("ok", tmp_path)})
    proc = subprocess.Popen(
        [MENTRA, "mcp", "call", "fault", "hang", "{}", "-c", str(cfg)],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not alive_with(str(FAULT)) or not [
            p for p in alive_with(str(tmp_path)) if p != proc.pid
        ]:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        time.sleep(1.5)  # the call is in flight
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert wait_gone(str(tmp_path)) == []
