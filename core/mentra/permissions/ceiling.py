"""A subagent's permission engine: its parent's, with the profile's narrowing on top.

A child can never do what its parent could not: every call is decided by the parent's
`Authorizer` first, and the profile's own rules can only make the answer stricter (deny over
ask over allow). The profile's allow rules, and a mode wider than the parent's, are ignored
with a notice. Asks go to the parent's approver (the same prompt or ``--approval-command``),
and "always" answers are remembered where the parent remembers them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from mentra.permissions.decide import (
    MODE_ORDER,
    Authorizer,
    PermissionDecision,
    PermissionMode,
    PermissionRequest,
    RememberedRule,
    Scope,
    _by_rule,
)
from mentra.permissions.rules import Rule, first_hit, parse_rule

if TYPE_CHECKING:
    from mentra.permissions.decide import PermissionsConfig

_STRICTNESS = {"allow": 0, "ask": 1, "deny": 2}


class NarrowedAuthorizer(Authorizer):
    """``parent``'s decisions, made stricter by ``ask``/``deny`` rules and a narrower mode."""

    def __init__(
        self,
        parent: Authorizer,
        *,
        mode: PermissionMode | None = None,
        ask: Sequence[Rule] = (),
        deny: Sequence[Rule] = (),
        fail_on_denial: bool = False,
    ) -> None:
        narrower = mode is not None and MODE_ORDER[mode] < MODE_ORDER[parent.mode]
        super().__init__(
            mode=mode if narrower and mode is not None else parent.mode,
            allow=parent.rules.allow,
            ask=[*parent.rules.ask, *ask],
            deny=[*parent.rules.deny, *deny],
            approver=parent.approver,
            memory=parent.memory,
            fail_on_denial=parent.fail_on_denial or fail_on_denial,
        )
        self.parent = parent
        self.narrowing_mode = narrower
        self.extra_ask = list(ask)
        self.extra_deny = list(deny)

    def _loaded(self) -> list[RememberedRule]:
        # one list with the parent's: an "always" answered in a child holds in the parent
        self.remembered = self.parent._loaded()
        return self.remembered

    def remember(
        self, request: PermissionRequest, decision: Literal["allow", "deny"], scope: Scope
    ) -> list[str] | None:
        """Into the parent's list (and its memory): `evaluate` asks the parent first, so an
        answer kept only here would be asked again, by this child and by the parent."""
        return self.parent.remember(request, decision, scope)

    def evaluate(self, request: PermissionRequest) -> PermissionDecision:
        decision = self.parent.evaluate(request)
        own = self._own(request)
        if own is not None and _STRICTNESS[own.outcome] > _STRICTNESS[decision.outcome]:
            return own
        return decision

    def _own(self, request: PermissionRequest) -> PermissionDecision | None:
        """What the profile alone says of the call; None when it has no opinion."""
        tool, subjects, kind = request.tool, list(request.subjects), request.kind
        hit = first_hit(self.extra_deny, tool, subjects, kind)
        if hit is not None:
            return _by_rule("deny", hit, f"denied by the subagent profile's rule {hit.text}")
        hit = first_hit(self.extra_ask, tool, subjects, kind)
        if hit is not None:
            return _by_rule("ask", hit, f"the subagent profile's rule {hit.text} asks")
        if self.narrowing_mode:
            return self._mode_default(request)
        return None


def narrowed_authorizer(
    parent: Authorizer, profile_name: str, permissions: PermissionsConfig | None
) -> tuple[Authorizer, list[str]]:
    """The engine of a child of ``profile_name``, and notices of what its profile could not
    widen."""
    if permissions is None:
        return NarrowedAuthorizer(parent), []
    where = f"agents.{profile_name}.permissions"
    notices: list[str] = []
    ignored: list[str] = []
    if permissions.allow:
        n = len(permissions.allow)
        ignored.append(f"{n} allow rule{'s' if n != 1 else ''}")
    explicit_mode = "mode" in permissions.model_fields_set
    mode: PermissionMode | None = permissions.mode if explicit_mode else None
    if mode is not None and MODE_ORDER[mode] > MODE_ORDER[parent.mode]:
        ignored.append(f"mode {mode}")
        mode = None
    if ignored:
        notices.append(
            f"ignored {' and '.join(ignored)} in {where}: a subagent profile may only narrow "
            "its parent's permissions"
        )

    def rules(kind: str, texts: list[str]) -> list[Rule]:
        return [parse_rule(t, source=f"{where}.{kind}[{i}]") for i, t in enumerate(texts)]

    child = NarrowedAuthorizer(
        parent,
        mode=mode,
        ask=rules("ask", permissions.ask),
        deny=rules("deny", permissions.deny),
        fail_on_denial=permissions.fail_on_denial,
    )
    return child, notices
