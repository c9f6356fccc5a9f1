"""A subagent's `NarrowedAuthorizer`: an "always" answered at a child's ask is remembered where
the parent remembers it, so neither the parent nor any child is asked for that call again."""

from __future__ import annotations

from typing import Literal

from mentra.permissions.ceiling import narrowed_authorizer
from mentra.permissions.decide import (
    ApprovalAnswer,
    Authorizer,
    PermissionRequest,
    Scope,
)

TOUCH = PermissionRequest(
    tool="shell", subjects=["touch made"], mutates=True, input={}, call_id="c1", kind="shell"
)


class Answers:
    """An approver that answers every ask the same way and counts the asks."""

    kind = "prompt"

    def __init__(self, allow: bool, scope: Scope) -> None:
        self.answer = ApprovalAnswer(allow, "at the prompt", scope)
        self.asked = 0

    async def approve(self, request: PermissionRequest) -> ApprovalAnswer:
        self.asked += 1
        return self.answer


class Saved:
    def __init__(self) -> None:
        self.rules: list[tuple[Scope, str, str]] = []

    def save(self, scope: Scope, rule: str, decision: Literal["allow", "deny"]) -> None:
        self.rules.append((scope, rule, decision))


async def test_a_childs_always_this_session_holds_for_the_parent_and_its_siblings() -> None:
    approver = Answers(True, "session")
    parent = Authorizer(approver=approver)
    child, _ = narrowed_authorizer(parent, "worker", None)
    decided = await child.resolve(TOUCH, child.evaluate(TOUCH))
    assert (decided.outcome, decided.decided_by, decided.scope) == ("allow", "prompt", "session")
    sibling, _ = narrowed_authorizer(parent, "worker", None)
    for engine in (parent, child, sibling):
        again = engine.evaluate(TOUCH)
        assert (again.outcome, again.decided_by) == ("allow", "remembered"), engine
    assert approver.asked == 1
    assert [r["rule"] for r in parent.describe()["remembered"]] == ["shell(touch made)"]


async def test_a_childs_always_deny_for_the_project_is_saved_once_and_holds() -> None:
    memory = Saved()
    parent = Authorizer(approver=Answers(False, "project"), memory=memory)
    child, _ = narrowed_authorizer(parent, "worker", None)
    decided = await child.resolve(TOUCH, child.evaluate(TOUCH))
    assert (decided.outcome, decided.scope) == ("deny", "project")
    assert memory.rules == [("project", "shell(touch made)", "deny")]
    assert parent.evaluate(TOUCH).decided_by == "remembered"
    assert parent.evaluate(TOUCH).outcome == "deny"


async def test_a_childs_allow_once_is_not_remembered() -> None:
    approver = Answers(True, "once")
    parent = Authorizer(approver=approver)
    child, _ = narrowed_authorizer(parent, "worker", None)
    await child.resolve(TOUCH, child.evaluate(TOUCH))
    assert child.evaluate(TOUCH).outcome == "ask" and parent.evaluate(TOUCH).outcome == "ask"
