"""Redirections outside the write roots (issue #12.8): a ``write:PATH`` subject the rules see,
asked for in default and accept-edits modes; and subject kinds declared by tools (#11)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mentra.permissions.decide import Authorizer, outside_writes, request_for
from mentra.permissions.policy import RuntimePolicy
from mentra.permissions.rules import parse_rule
from mentra.tools.base import SchemaTool
from mentra.tools.builtin.background import BackgroundRunTool
from mentra.tools.builtin.files import FilesTool
from mentra.tools.builtin.shell import ShellTool

MENTRA = str(Path(sys.executable).parent / "mentra")


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


def test_outside_writes_are_subjects(ws: Path) -> None:
    policy = RuntimePolicy(working_dir=ws)
    outside = os.path.realpath(ws.parent / "o.txt")
    assert outside_writes(["echo x > ../o.txt"], policy) == [f"write:{outside}"]
    assert outside_writes(["echo x >> /etc/passwd 2>&1"], policy) == ["write:/etc/passwd"]
    assert outside_writes(["echo x > in.txt; ls >/dev/null; cat < ../r.txt"], policy) == []
    assert outside_writes(["(echo x) > ../o.txt"], policy) == [f"write:{outside}"]
    assert outside_writes(['echo x > "$OUT"'], policy) == ['write:"$OUT"']
    assert outside_writes(["echo $(echo x > ../o.txt)"], policy) == [f"write:{outside}"]
    assert outside_writes(["echo x > sub/../../o.txt"], policy) == [f"write:{outside}"]


def test_redirections_are_resolved_from_the_working_directory(ws: Path) -> None:
    (ws / "sub").mkdir()
    tool, policy = ShellTool(), RuntimePolicy(working_dir=ws)
    inside = tool.parse_input({"command": "echo x > ../o.txt", "workingDirectory": "sub"})
    assert request_for(tool, inside, policy=policy).subjects == ["echo x > ../o.txt"]
    outside = tool.parse_input({"command": "echo x > ../../o.txt", "workingDirectory": "sub"})
    assert request_for(tool, outside, policy=policy).subjects == [
        "echo x > ../../o.txt",
        f"write:{os.path.realpath(ws.parent / 'o.txt')}",
    ]


@pytest.mark.parametrize(
    ("mode", "rules", "expected"),
    [
        ("default", ["shell"], "ask"),
        ("accept-edits", ["shell"], "ask"),
        ("bypass", [], "allow"),
        ("read-only", ["shell(echo *)"], "deny"),
        ("default", ["shell", "shell(write:/etc/**)"], "allow"),
    ],
)
def test_outside_write_decision_by_mode(
    ws: Path, mode: str, rules: list[str], expected: str
) -> None:
    tool = ShellTool()
    args = tool.parse_input({"command": "echo x >> /etc/motd"})
    request = request_for(tool, args, policy=RuntimePolicy(working_dir=ws))
    auth = Authorizer(mode=mode, allow=[parse_rule(r) for r in rules])  # type: ignore[arg-type]
    assert auth.evaluate(request).outcome == expected


def test_deny_rule_on_a_write_subject(ws: Path) -> None:
    tool = ShellTool()
    args = tool.parse_input({"command": "echo x > /etc/motd"})
    request = request_for(tool, args, policy=RuntimePolicy(working_dir=ws))
    auth = Authorizer(mode="bypass", deny=[parse_rule("shell(write:/etc/**)")])
    assert auth.evaluate(request).outcome == "deny"


def test_tools_declare_their_subject_kind(ws: Path) -> None:
    assert (ShellTool.permission_kind, BackgroundRunTool.permission_kind) == ("shell", "shell")
    assert FilesTool.permission_kind == "file_ops"

    class RemoteShell(SchemaTool):  # an MCP-style tool that opts in by kind, not by name
        permission_kind = "shell"

        def permission_subjects(self, args: dict[str, str]) -> list[str]:
            return [args["cmd"]]

    schema = {"type": "object", "properties": {"cmd": {"type": "string"}}}
    remote = RemoteShell(name="remote_exec", description="", schema=schema, mutates=True)
    request = request_for(remote, {"cmd": "timeout 5 rm -rf build"})
    assert (request.kind, request.is_file_edit) == ("shell", False)
    auth = Authorizer(mode="bypass", deny=[parse_rule("remote_exec(rm *)")])
    assert auth.evaluate(request).outcome == "deny"
    plain = SchemaTool(name="remote_exec", description="", schema=schema, mutates=True)
    assert request_for(plain, {"cmd": "x"}).kind == "json"
    files = FilesTool()
    edit = files.parse_input({"operations": [{"op": "create", "path": "a.txt", "content": ""}]})
    assert request_for(files, edit).is_file_edit


def test_run_asks_for_a_write_outside_the_roots(ws: Path, tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text(
        "turns:\n  - text: writing\n    tool_calls:\n"
        '      - {name: shell, input: {command: "echo x > ../outside.txt"}}\n'
        '      - {name: shell, input: {command: "echo x > inside.txt"}}\n'
        "  - text: done\n"
    )
    argv = [MENTRA, "run", "-m", f"scripted:{script}", "go", "--ephemeral", "--allow", "shell"]
    proc = subprocess.run(
        argv, cwd=ws, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[-1]["type"] == "run_finished", proc.stderr
    resolved = [e for e in events if e["type"] == "permission_resolved"]
    assert [(e["outcome"], e["decided_by"]) for e in resolved] == [("deny", "no_approver")]
    done = [e for e in events if e["type"] == "tool_completed"]
    assert [e["is_error"] for e in done] == [True, False]
    assert not (tmp_path / "outside.txt").exists() and (ws / "inside.txt").exists()
