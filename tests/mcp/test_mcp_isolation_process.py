"""MCP tools in real `mentra run` processes, beyond the happy path: what a server is kept from
(provider API keys, an untrusted project adding servers, outliving a SIGTERM), how permission
modes and rules name MCP tools, large results shortened like every tool's, the legacy HTTP+SSE
transport and HTTP headers with ${VAR} expanded."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from tests.cli.conftest import MENTRA, mentra
from tests.mcp.helpers import FAULT, alive_with, wait_gone

__all__ = ["mentra"]  # the fixture this module's tests take


def agent(
    tmp_path: Path, tool: str, servers: dict[str, Any] | None = None, mode: str = "bypass"
) -> Path:
    script = tmp_path / "script.yaml"
    script.write_text(
        json.dumps(
            {"turns": [{"text": "c", "tool_calls": [{"name": tool, "input": {}}]}, {"text": "ok"}]}
        )
    )
    cfg = tmp_path / "agent.yaml"
    fault = {"command": sys.executable, "args": [str(FAULT), "ok", str(tmp_path)]}
    cfg.write_text(
        json.dumps(
            {
                "name": "iso",
                "model": f"scripted:{script}",
                "mcp_servers": servers if servers is not None else {"fault": fault},
                "permissions": {"mode": mode},
            }
        )
    )
    return cfg


def test_a_stdio_server_never_sees_mentras_provider_keys(mentra: Any, tmp_path: Path) -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant-AUDITSECRET", "OPENAI_API_KEY": "sk-AUDIT2"}
    done = mentra(
        "run",
        "-c",
        str(agent(tmp_path, "mcp__fault__env")),
        "go",
        "--ephemeral",
        cwd=tmp_path,
        env=env,
        timeout=90,
    )
    assert done.code == 0, done.stderr
    evs = done.events
    (result,) = [e for e in evs if e["type"] == "tool_completed"]
    server_env, _ = json.JSONDecoder().raw_decode(result["output"])
    assert "PATH" in server_env  # the allow-list reached it
    assert not {"ANTHROPIC_API_KEY", "OPENAI_API_KEY"} & set(server_env)
    assert "AUDITSECRET" not in done.stdout + done.stderr


def test_an_untrusted_project_policy_cannot_add_servers(mentra: Any, tmp_path: Path) -> None:
    marker = tmp_path / "server-ran"
    (tmp_path / ".mentra").mkdir()
    (tmp_path / ".mentra" / "policy.yaml").write_text(
        "mcp_servers:\n"
        f'  evil: {{command: {sys.executable}, args: [-c, \'open("{marker}", "w")\']}}\n'
    )
    cfg = agent(tmp_path, "mcp__evil__anything", servers={})
    done = mentra("run", "-c", str(cfg), "go", "--ephemeral", cwd=tmp_path, timeout=90)
    assert done.code == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "policy.yaml:1:1" in done.stderr and "mcp_servers" in done.stderr
    assert not marker.exists()


def test_sigterm_of_a_run_mid_call_leaves_no_server_process(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [MENTRA, "run", "-c", str(agent(tmp_path, "mcp__fault__hang")), "go", "--ephemeral"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not [p for p in alive_with(str(tmp_path)) if p != proc.pid]:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        time.sleep(1.5)  # the call is in flight
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    last = json.loads(out.splitlines()[-1])
    assert last["type"] == "run_finished" and last["status"] == "interrupted"
    assert wait_gone(str(tmp_path)) == []


def _outcomes(mentra: Any, tmp_path: Path, *flags: str) -> dict[str, bool]:
    """Run one round of three fault-server calls; each tool's name -> whether it was refused."""
    calls = [
        {"name": "mcp__fault__peek", "input": {}},  # readOnlyHint: true
        {"name": "mcp__fault__env", "input": {}},
        {"name": "mcp__fault__hang", "input": {"seconds": 0.1}},
    ]
    cfg = agent(tmp_path, "unused", mode="default")
    script = {"turns": [{"text": "c", "tool_calls": calls}, {"text": "ok"}]}
    (tmp_path / "script.yaml").write_text(json.dumps(script))
    done = mentra("run", "-c", str(cfg), "go", "--ephemeral", *flags, cwd=tmp_path, timeout=90)
    assert done.code == 0, done.stderr
    evs = done.events
    results = {e["name"]: e for e in evs if e["type"] == "tool_completed"}
    assert len(results) == 3
    return {
        name.removeprefix("mcp__fault__"): "Permission denied" in e["output"]
        for name, e in results.items()
    }


def test_permission_modes_and_rules_name_mcp_tools(mentra: Any, tmp_path: Path) -> None:
    # the default mode runs the read-only tool and asks (so, headless, refuses) the others
    assert _outcomes(mentra, tmp_path) == {"peek": False, "env": True, "hang": True}
    # a glob over the name
    denied = _outcomes(mentra, tmp_path, "--permission-mode", "bypass", "--deny", "mcp__fault__*")
    assert denied == {"peek": True, "env": True, "hang": True}
    # a (PATTERN) over the canonical JSON input
    allowed = _outcomes(mentra, tmp_path, "--allow", 'mcp__fault__hang(*"seconds":0.1*)')
    assert allowed == {"peek": False, "env": True, "hang": False}


def test_a_large_mcp_result_is_shortened_and_kept_for_paging(
    mentra: Any, tmp_path: Path, everything_js: str
) -> None:
    message = "\n".join(f"line {i} " + "x" * 40 for i in range(3000))
    echo = {"name": "mcp__everything__echo", "input": {"message": message}}
    servers = {"everything": {"command": "node", "args": [everything_js]}}
    cfg = agent(tmp_path, "unused", servers=servers)
    script = {"turns": [{"text": "c", "tool_calls": [echo]}, {"text": "ok"}]}
    (tmp_path / "script.yaml").write_text(json.dumps(script))
    done = mentra("run", "-c", str(cfg), "go", "--ephemeral", cwd=tmp_path, timeout=90)
    assert done.code == 0, done.stderr
    evs = done.events
    (result,) = [e for e in evs if e["type"] == "tool_completed"]
    out = result["output"]
    assert out.startswith("Echo: line 0 ") and out.rstrip().endswith("line 2999 " + "x" * 40)
    assert "result shortened: 3000 lines" in out and "read_tool_result" in out
    assert len(out) < len(message) // 5


def test_legacy_http_sse_from_the_agent_yaml_and_a_claude_code_file(
    mentra: Any, tmp_path: Path, everything_sse: str
) -> None:
    url = everything_sse
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(json.dumps({"mcp_servers": {"legacy": {"url": url, "transport": "sse"}}}))
    claude = tmp_path / "mcp.json"
    claude.write_text(json.dumps({"mcpServers": {"legacy": {"type": "sse", "url": url}}}))
    for source in (["-c", str(cfg)], ["--mcp-config", str(claude)]):
        done = mentra("mcp", "call", "legacy", "echo", '{"message": "hi"}', *source, cwd=tmp_path)
        assert done.code == 0, done.stderr
        assert json.loads(done.stdout) == {"content": "Echo: hi", "is_error": False}


def test_http_headers_reach_the_server_with_variables_expanded(mentra: Any, tmp_path: Path) -> None:
    seen: list[str | None] = []

    class Refuse(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/mcp"
        headers = {"Authorization": "Bearer ${AUDIT_REMOTE_TOKEN}"}
        cfg = tmp_path / "agent.yaml"
        cfg.write_text(json.dumps({"mcp_servers": {"remote": {"url": url, "headers": headers}}}))
        done = mentra(
            "mcp",
            "list",
            "-c",
            str(cfg),
            "-o",
            "json",
            cwd=tmp_path,
            env={"AUDIT_REMOTE_TOKEN": "t0ken-123"},
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert done.code == 2  # refused: the server failed to start, and says who
    assert done.stderr.count("\n") == 1 and "'remote'" in done.stderr
    assert seen and seen[0] == "Bearer t0ken-123"


def test_a_stdio_server_starts_in_its_cwd_relative_to_the_workspace(
    mentra: Any, tmp_path: Path
) -> None:
    (tmp_path / "sub").mkdir()
    where = {"command": "sh", "args": ["-c", 'echo "cwd=$(pwd)" >&2; exit 1'], "cwd": "sub"}
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(json.dumps({"mcp_servers": {"where": where}}))
    done = mentra("mcp", "list", "-c", str(cfg), "-o", "json", cwd=tmp_path)
    assert done.code == 2  # its last stderr line is in the one-line error
    assert done.stderr.strip().endswith(f"cwd={tmp_path.resolve() / 'sub'}"), done.stderr
