"""`mentra permissions check` through CliRunner and one real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mentra_cli.app import app

runner = CliRunner()


def check(*args: str, cwd: Path) -> tuple[int, dict[str, Any] | None, str]:
    result = runner.invoke(app, ["permissions", "check", *args, "-C", str(cwd)])
    out = json.loads(result.stdout) if result.exit_code == 0 else None
    return result.exit_code, out, result.stderr


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


def test_allow_rule(ws: Path) -> None:
    code, out, _ = check(
        "shell", '{"command": "git status -s"}', "--allow", "shell(git status*)", cwd=ws
    )
    assert code == 0 and out is not None
    assert (out["decision"], out["decided_by"], out["rule"], out["source"]) == (
        "allow",
        "rule",
        "shell(git status*)",
        "--allow",
    )
    assert out["subjects"] == ["git status -s"] and out["mode"] == "default"


def test_chained_command_is_not_allowed(ws: Path) -> None:
    code, out, _ = check(
        "shell", '{"command": "git status; rm -rf x"}', "--allow", "shell(git status*)", cwd=ws
    )
    assert code == 0 and out is not None
    assert (out["decision"], out["decided_by"]) == ("ask", "mode")


def test_files_mixed_read_and_delete(ws: Path) -> None:
    call = '{"operations": [{"op": "read", "path": "a"}, {"op": "delete", "path": "b"}]}'
    code, out, _ = check(
        "files", call, "--allow", "files(read:**)", "--permission-mode", "read-only", cwd=ws
    )
    assert code == 0 and out is not None
    assert out["subjects"] == ["read:a", "delete:b"]
    assert (out["decision"], out["mode"]) == ("deny", "read-only")


def test_config_and_policy_file(ws: Path, tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("permissions:\n  allow: ['shell(make *)']\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text("deny: ['shell(make deploy*)']\n")
    code, out, _ = check(
        "shell", '{"command": "make deploy"}', "-c", str(config), "--policy", str(policy), cwd=ws
    )
    assert code == 0 and out is not None and out["decision"] == "deny"
    assert out["source"] == f"{policy}:1:8"
    code, out, _ = check("shell", '{"command": "make test"}', "-c", str(config), cwd=ws)
    assert code == 0 and out is not None and out["decision"] == "allow"


def test_untrusted_project_notice_and_trust_flag(ws: Path) -> None:
    (ws / ".mentra").mkdir()
    (ws / ".mentra" / "policy.yaml").write_text("allow: [shell]\n")
    code, out, _ = check("shell", '{"command": "make"}', "--no-user-config", cwd=ws)
    assert code == 0 and out is not None and out["decision"] == "ask"
    assert out["notices"] and "untrusted" in out["notices"][0]
    code, out, _ = check("shell", '{"command": "make"}', "--trust-project", cwd=ws)
    assert code == 0 and out is not None and out["decision"] == "allow" and out["notices"] == []


def test_unknown_tool_is_judged_as_mutating(ws: Path) -> None:
    code, out, _ = check(
        "mcp__gh__create_issue", '{"title": "x"}', "--allow", 'mcp__gh__*(*"title":"x"*)', cwd=ws
    )
    assert code == 0 and out is not None and out["known_tool"] is False
    assert out["subjects"] == ['{"title":"x"}'] and out["decision"] == "allow"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["shell", "{nope"], "not valid JSON"),
        (["shell", "[1]"], "JSON object"),
        (["shell", '{"cmd": "ls"}'], "Invalid input"),
        (["shell", '{"command": "ls"}', "--deny", "shell("], "--deny: malformed"),
        (["shell", '{"command": "ls"}', "--permission-mode", "yolo"], "--permission-mode"),
    ],
)
def test_usage_errors_exit_2(ws: Path, args: list[str], message: str) -> None:
    code, _, stderr = check(*args, cwd=ws)
    assert code == 2
    assert message in stderr


def test_malformed_policy_file_exit_2_with_location(ws: Path, tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("allow:\n  - shell(ok)\n  - 'files('\n")
    code, _, stderr = check("shell", '{"command": "ls"}', "--policy", str(policy), cwd=ws)
    assert code == 2 and f"{policy}:3:5" in stderr


def test_real_process(ws: Path) -> None:
    mentra = str(Path(sys.executable).parent / "mentra")
    proc = subprocess.run(
        [
            mentra,
            "permissions",
            "check",
            "shell",
            '{"command": "echo $(id)"}',
            "--allow",
            "shell(echo *)",
            "-C",
            str(ws),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["decision"] == "ask" and out["decided_by"] == "mode"
