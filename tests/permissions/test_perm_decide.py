"""The authorizer: precedence, modes, resolving asks, remembered answers."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mentra.permissions.decide import (
    ApprovalAnswer,
    Authorizer,
    PermissionDecision,
    PermissionRequest,
    PermissionsConfig,
    Scope,
    request_for,
)
from mentra.permissions.rules import parse_rule


def shell(cmd: str) -> PermissionRequest:
    return PermissionRequest(tool="shell", subjects=[cmd], mutates=True, kind="shell", call_id="c1")


def files(*subjects: str) -> PermissionRequest:
    mutates = any(not s.startswith(("read:", "list:", "search:")) for s in subjects)
    return PermissionRequest(
        tool="files",
        subjects=list(subjects),
        mutates=mutates,
        is_file_edit=mutates,
        kind="file_ops",
    )


def reader() -> PermissionRequest:
    return PermissionRequest(tool="check_background", subjects=["{}"], mutates=False)


def auth(
    mode: Any = "default", *, allow: Any = (), ask: Any = (), deny: Any = (), **kw: Any
) -> Authorizer:
    return Authorizer(
        mode=mode,
        allow=[parse_rule(r) for r in allow],
        ask=[parse_rule(r) for r in ask],
        deny=[parse_rule(r) for r in deny],
        **kw,
    )


# -- modes (no rules) ---------------------------------------------------------------------------

MODE_TABLE = [
    # mode,          request,                 outcome
    ("default", reader(), "allow"),
    ("default", shell("ls"), "ask"),
    ("default", files("create:a.py"), "ask"),
    ("read-only", reader(), "allow"),
    ("read-only", shell("ls"), "deny"),
    ("read-only", files("create:a.py"), "deny"),
    ("accept-edits", reader(), "allow"),
    ("accept-edits", files("create:a.py"), "allow"),
    ("accept-edits", shell("ls"), "ask"),
    ("bypass", shell("rm -rf x"), "allow"),
    ("bypass", files("delete:a.py"), "allow"),
]


@pytest.mark.parametrize(("mode", "request_", "outcome"), MODE_TABLE)
def test_mode_defaults(mode: str, request_: PermissionRequest, outcome: str) -> None:
    decision = auth(mode).evaluate(request_)
    assert (decision.outcome, decision.decided_by, decision.rule) == (outcome, "mode", None)


# -- precedence ---------------------------------------------------------------------------------

PRECEDENCE = [
    # deny > ask > allow > mode
    (
        {"allow": ["shell"], "ask": ["shell"], "deny": ["shell(rm *)"]},
        "rm -rf x",
        "deny",
        "shell(rm *)",
    ),
    ({"allow": ["shell"], "ask": ["shell(git push*)"]}, "git push", "ask", "shell(git push*)"),
    ({"allow": ["shell(git *)"]}, "git push", "allow", "shell(git *)"),
    ({"mode": "bypass", "deny": ["shell(curl *)"]}, "curl x", "deny", "shell(curl *)"),
    ({"mode": "bypass", "ask": ["shell(curl *)"]}, "curl x", "ask", "shell(curl *)"),
    (
        {"mode": "read-only", "allow": ["shell(git status)"]},
        "git status",
        "allow",
        "shell(git status)",
    ),
    ({"mode": "read-only", "allow": ["shell(git status*)"]}, "git status; rm x", "deny", None),
    ({"allow": ["shell(git status*)"]}, "git status; rm x", "ask", None),
    ({"mode": "bypass", "allow": ["shell(git status*)"]}, "git status; rm x", "allow", None),
    (
        {"allow": ["shell(git status*)"], "deny": ["shell(rm *)"]},
        "git status; rm x",
        "deny",
        "shell(rm *)",
    ),
    (
        {"allow": ["shell(git status)", "shell(ls*)"]},
        "git status && ls -la",
        "allow",
        "shell(git status), shell(ls*)",
    ),
]


@pytest.mark.parametrize(("rules", "cmd", "outcome", "rule"), PRECEDENCE)
def test_precedence(rules: dict[str, Any], cmd: str, outcome: str, rule: str | None) -> None:
    decision = auth(**rules).evaluate(shell(cmd))
    assert decision.outcome == outcome
    assert decision.rule == rule
    assert decision.decided_by == ("rule" if rule else "mode")


def test_files_read_rule_with_a_delete_falls_to_the_mode() -> None:
    a = auth(allow=["files(read:**)"])
    assert a.evaluate(files("read:a", "read:b")).outcome == "allow"
    mixed = a.evaluate(files("read:a", "delete:b"))
    assert (mixed.outcome, mixed.decided_by) == ("ask", "mode")
    assert (
        auth("read-only", allow=["files(read:**)"]).evaluate(files("read:a", "delete:b")).outcome
        == "deny"
    )


def test_rule_source_is_reported() -> None:
    a = Authorizer(deny=[parse_rule("shell(rm *)", source="policy.yaml:4:5")])
    assert a.evaluate(shell("rm x")).source == "policy.yaml:4:5"


def test_unknown_mode_rejected() -> None:
    with pytest.raises(ValueError):
        Authorizer(mode="yolo")  # type: ignore[arg-type]


def test_permissions_config_validates_rules_and_keys() -> None:
    PermissionsConfig.model_validate({"mode": "bypass", "allow": ["shell(ls)"]})
    with pytest.raises(ValidationError):
        PermissionsConfig.model_validate({"allow": ["shell("]})
    with pytest.raises(ValidationError):
        PermissionsConfig.model_validate({"mode": "yolo"})
    with pytest.raises(ValidationError):
        PermissionsConfig.model_validate({"alow": []})


# -- resolving asks -----------------------------------------------------------------------------


class FakeApprover:
    kind = "prompt"

    def __init__(self, *answers: ApprovalAnswer) -> None:
        self.answers = list(answers)
        self.seen: list[PermissionRequest] = []

    async def approve(self, request: PermissionRequest) -> ApprovalAnswer:
        self.seen.append(request)
        return self.answers.pop(0)


class BrokenApprover:
    kind = "approval_command"

    async def approve(self, request: PermissionRequest) -> ApprovalAnswer:
        raise RuntimeError("boom")


class FakeMemory:
    def __init__(self, fail: bool = False) -> None:
        self.saved: list[tuple[str, str, str]] = []
        self.fail = fail

    def save(self, scope: Scope, rule: str, decision: str) -> None:
        if self.fail:
            raise OSError("disk full")
        self.saved.append((scope, rule, decision))


async def test_no_approver_means_deny() -> None:
    a = auth()
    request = shell("make")
    decision = await a.resolve(request, a.evaluate(request))
    assert (decision.outcome, decision.decided_by) == ("deny", "no_approver")
    assert decision.reason and "no --approval-command" in decision.reason


async def test_resolve_passes_non_asks_through() -> None:
    a = auth(deny=["shell"], approver=FakeApprover())
    decision = a.evaluate(shell("ls"))
    assert await a.resolve(shell("ls"), decision) is decision


async def test_allow_once_is_not_remembered() -> None:
    approver = FakeApprover(ApprovalAnswer(True, scope="once"), ApprovalAnswer(False))
    a = auth(approver=approver)
    first = await a.resolve(shell("make"), a.evaluate(shell("make")))
    assert (first.outcome, first.decided_by, first.scope, first.rule) == (
        "allow",
        "prompt",
        "once",
        None,
    )
    second = await a.resolve(shell("make"), a.evaluate(shell("make")))
    assert second.outcome == "deny"
    assert len(approver.seen) == 2


@pytest.mark.parametrize("scope", ["session", "project", "global"])
async def test_always_answers_are_remembered(scope: Scope) -> None:
    memory = FakeMemory()
    approver = FakeApprover(ApprovalAnswer(True, "ok", scope=scope))
    a = auth(approver=approver, memory=memory)
    request = shell("make test && make lint")
    decision = await a.resolve(request, a.evaluate(request))
    assert (decision.outcome, decision.scope) == ("allow", scope)
    assert decision.rule == "shell(make test), shell(make lint)"
    again = a.evaluate(shell("make lint; make test"))
    assert (again.outcome, again.decided_by, again.scope) == ("allow", "remembered", scope)
    assert a.evaluate(shell("make deploy")).outcome == "ask"
    expected = (
        []
        if scope == "session"
        else [
            (scope, "shell(make test)", "allow"),
            (scope, "shell(make lint)", "allow"),
        ]
    )
    assert memory.saved == expected


async def test_remembered_allow_never_lifts_a_deny() -> None:
    a = auth(deny=["shell(rm *)"], approver=FakeApprover(ApprovalAnswer(True, scope="session")))
    request = shell("rm -rf build")
    a.remember(request, "allow", "session")
    assert a.evaluate(request).outcome == "deny"


async def test_remembered_allow_answers_an_ask_rule() -> None:
    approver = FakeApprover(ApprovalAnswer(True, scope="session"))
    a = auth(ask=["shell(git push*)"], approver=approver)
    request = shell("git push origin main")
    await a.resolve(request, a.evaluate(request))
    assert a.evaluate(request).decided_by == "remembered"
    assert a.evaluate(shell("git push --force")).outcome == "ask"


async def test_always_deny_is_remembered() -> None:
    a = auth(approver=FakeApprover(ApprovalAnswer(False, "no", scope="session")))
    request = shell("make deploy")
    decision = await a.resolve(request, a.evaluate(request))
    assert (decision.outcome, decision.reason) == ("deny", "no")
    again = a.evaluate(request)
    assert (again.outcome, again.decided_by) == ("deny", "remembered")


async def test_unsplittable_command_cannot_be_remembered() -> None:
    a = auth(approver=FakeApprover(ApprovalAnswer(True, scope="global")), memory=FakeMemory())
    request = shell("echo $(date)")
    decision = await a.resolve(request, a.evaluate(request))
    assert (decision.outcome, decision.scope) == ("allow", "once")
    assert decision.reason and "not remembered" in decision.reason
    assert a.evaluate(request).outcome == "ask"


async def test_broken_approver_denies() -> None:
    a = auth(approver=BrokenApprover())
    decision = await a.resolve(shell("make"), a.evaluate(shell("make")))
    assert (decision.outcome, decision.decided_by) == ("deny", "approval_command")
    assert decision.reason and "boom" in decision.reason


async def test_memory_failure_keeps_the_answer_for_the_session() -> None:
    a = auth(approver=FakeApprover(ApprovalAnswer(True, scope="project")), memory=FakeMemory(True))
    decision = await a.resolve(shell("make"), a.evaluate(shell("make")))
    assert decision.outcome == "allow"
    assert decision.reason and "session only" in decision.reason
    assert a.evaluate(shell("make")).decided_by == "remembered"


def test_request_for_a_real_tool(tmp_path: Any) -> None:
    from mentra.tools.builtin import builtin_tools

    tools = {t.name: t for t in builtin_tools(tmp_path)}
    ftool = tools["files"]
    args = ftool.parse_input(
        {"operations": [{"op": "read", "path": "a.py"}, {"op": "delete", "path": "b.py"}]}
    )
    request = request_for(ftool, args, call_id="x")
    assert request.subjects == ["read:a.py", "delete:b.py"]
    assert request.mutates and request.is_file_edit
    decision = auth(allow=["files(read:**)"]).evaluate(request)
    assert decision.outcome == "ask"
    sh = tools["shell"]
    request = request_for(sh, sh.parse_input({"command": "git status; rm -rf x"}))
    assert request.subjects == ["git status; rm -rf x"]
    assert auth(allow=["shell(git status*)"]).evaluate(request).outcome == "ask"


def test_decision_json() -> None:
    d = PermissionDecision("allow", "rule", rule="shell", reason="r", source="--allow")
    assert d.to_json() == {
        "outcome": "allow",
        "decided_by": "rule",
        "rule": "shell",
        "reason": "r",
        "scope": None,
        "source": "--allow",
    }
