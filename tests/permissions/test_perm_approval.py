"""Approvers: `CommandApprover` through real subprocesses, and the terminal prompt."""

from __future__ import annotations

import io
import json
import shlex
import sys
import time
from pathlib import Path

import pytest

from mentra.permissions.approval import CommandApprover, parse_answer
from mentra.permissions.decide import ApprovalAnswer, Authorizer, PermissionRequest
from mentra.permissions.rules import parse_rule
from mentra_cli.render.approvals import TerminalApprover, parse_choice, terminal_approver_available

REQUEST = PermissionRequest(
    tool="shell",
    subjects=["git push origin main"],
    mutates=True,
    input={"command": "git push origin main"},
    call_id="call_1",
    kind="shell",
)


def script(tmp_path: Path, body: str, name: str = "approver.py") -> str:
    path = tmp_path / name
    path.write_text("import json, sys\n" + body)
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(path))}"


async def test_allow(tmp_path: Path) -> None:
    cmd = script(tmp_path, "json.load(sys.stdin)\nprint('allow')\n")
    answer = await CommandApprover(cmd, timeout_s=10).approve(REQUEST)
    assert answer == ApprovalAnswer(True, "approval command answered allow", None)


async def test_deny(tmp_path: Path) -> None:
    cmd = script(tmp_path, "sys.stdin.read()\nprint('  DENY  ')\n")
    answer = await CommandApprover(cmd, timeout_s=10).approve(REQUEST)
    assert not answer.allow


async def test_request_json_on_stdin(tmp_path: Path) -> None:
    seen = tmp_path / "seen.json"
    body = f"data = json.load(sys.stdin)\nopen({str(seen)!r}, 'w').write(json.dumps(data))\n"
    body += "print(json.dumps({'decision': 'allow', 'reason': 'ci says ok', 'scope': 'session'}))\n"
    answer = await CommandApprover(script(tmp_path, body), timeout_s=10, cwd=tmp_path).approve(
        REQUEST
    )
    assert answer == ApprovalAnswer(True, "ci says ok", "session")
    data = json.loads(seen.read_text())
    assert data["type"] == "permission_request" and data["version"] == 1
    assert data["tool"] == "shell" and data["subjects"] == ["git push origin main"]
    assert data["input"] == {"command": "git push origin main"}
    assert data["call_id"] == "call_1" and data["mutates"] is True
    assert data["cwd"] == str(tmp_path)


async def test_json_deny_with_reason(tmp_path: Path) -> None:
    body = "sys.stdin.read()\nprint(json.dumps({'decision': 'deny', 'reason': 'not on main'}))\n"
    answer = await CommandApprover(script(tmp_path, body), timeout_s=10).approve(REQUEST)
    assert answer == ApprovalAnswer(False, "not on main", None)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("print('yes please')\n", "expected allow or deny"),
        ("print('allow\\nallow')\n", "expected allow or deny"),
        ("pass\n", "no answer"),
        ("print(json.dumps({'decision': 'maybe'}))\n", "decision='maybe'"),
        ("print(json.dumps({'decision': 'allow', 'scope': 'forever'}))\n", "scope='forever'"),
        ("print(json.dumps({'decision': 'allow', 'reason': 3}))\n", "reason"),
        ("print(json.dumps(['allow']))\n", "expected allow or deny"),
        ("print('allow')\nsys.stderr.write('oops\\n')\nsys.exit(3)\n", "status 3: oops"),
        ("sys.stdout.buffer.write(b'\\xff\\xfe')\n", "expected allow or deny"),
    ],
)
async def test_garbage_and_failures_deny(tmp_path: Path, body: str, reason: str) -> None:
    answer = await CommandApprover(script(tmp_path, body), timeout_s=10).approve(REQUEST)
    assert not answer.allow
    assert answer.reason and reason in answer.reason


async def test_command_that_ignores_stdin(tmp_path: Path) -> None:
    answer = await CommandApprover("echo allow", timeout_s=10).approve(REQUEST)
    assert answer.allow


async def test_missing_command_denies() -> None:
    answer = await CommandApprover("/nonexistent/approver-xyz", timeout_s=10).approve(REQUEST)
    assert not answer.allow and answer.reason and "status 127" in answer.reason


async def test_timeout_denies_and_kills_the_whole_group(tmp_path: Path) -> None:
    marker = tmp_path / "late.txt"
    # the shell starts a grandchild; both must die at the timeout
    cmd = f"sleep 30; echo allow > {shlex.quote(str(marker))}"
    started = time.monotonic()
    answer = await CommandApprover(cmd, timeout_s=0.5).approve(REQUEST)
    assert time.monotonic() - started < 5
    assert not answer.allow and answer.reason and "within 0.5s" in answer.reason
    time.sleep(0.2)
    assert not marker.exists()


async def test_stdin_is_not_the_terminal(tmp_path: Path) -> None:
    body = "sys.stdin.read()\nprint('allow' if not sys.stdin.isatty() else 'deny')\n"
    answer = await CommandApprover(script(tmp_path, body), timeout_s=10).approve(REQUEST)
    assert answer.allow


async def test_authorizer_with_command_approver(tmp_path: Path) -> None:
    body = "req = json.load(sys.stdin)\n"
    body += "print('deny' if 'main' in req['subjects'][0] else 'allow')\n"
    authorizer = Authorizer(
        ask=[parse_rule("shell(git push*)")], approver=CommandApprover(script(tmp_path, body))
    )
    request = PermissionRequest(
        tool="shell", subjects=["git push origin dev"], mutates=True, kind="shell"
    )
    decision = await authorizer.resolve(request, authorizer.evaluate(request))
    assert (decision.outcome, decision.decided_by) == ("allow", "approval_command")
    decision = await authorizer.resolve(REQUEST, authorizer.evaluate(REQUEST))
    assert (decision.outcome, decision.decided_by) == ("deny", "approval_command")


def test_parse_answer_words() -> None:
    assert parse_answer("allow\n").allow
    assert parse_answer("Allow").allow
    assert not parse_answer("deny").allow
    assert not parse_answer("").allow


# -- terminal prompt ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "allow", "scope"),
    [
        ("y\n", True, "once"),
        ("yes", True, "once"),
        ("s", True, "session"),
        ("P", True, "project"),
        ("global", True, "global"),
        ("n", False, None),
    ],
)
def test_parse_choice(line: str, allow: bool, scope: str | None) -> None:
    answer = parse_choice(line)
    assert answer is not None and (answer.allow, answer.scope) == (allow, scope)


def test_parse_choice_deny_reason_and_junk() -> None:
    answer = parse_choice("n use the staging remote")
    assert answer == ApprovalAnswer(False, "use the staging remote")
    assert parse_choice("maybe") is None
    assert parse_choice("") is None


async def test_terminal_approver_reads_stdin_and_writes_stderr() -> None:
    stdin, stderr = io.StringIO("what\ns\n"), io.StringIO()
    answer = await TerminalApprover(stdin=stdin, stderr=stderr).approve(REQUEST)
    assert answer.allow and answer.scope == "session"
    shown = stderr.getvalue()
    assert "git push origin main" in shown and "shell(git push origin main)" in shown
    assert "answer y, s, p, g or n" in shown
    assert "choice [y/s/p/g/n]: " in shown  # the keys, not eaten as markup


async def test_terminal_approver_offers_only_once_or_deny_for_a_call_it_cannot_remember() -> None:
    request = PermissionRequest(tool="shell", subjects=["echo $(date)"], mutates=True, kind="shell")
    stderr = io.StringIO()
    answer = await TerminalApprover(stdin=io.StringIO("y\n"), stderr=stderr).approve(request)
    assert answer.allow
    shown = stderr.getvalue()
    assert "choice [y/n]: " in shown and "this project" not in shown


async def test_terminal_approver_end_of_input_denies() -> None:
    answer = await TerminalApprover(stdin=io.StringIO(""), stderr=io.StringIO()).approve(REQUEST)
    assert not answer.allow


def test_terminal_not_available_under_pytest() -> None:
    assert terminal_approver_available() is False  # pytest captures stdin
