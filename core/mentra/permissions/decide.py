"""The per-call decision: rules, then the mode's default; an ``ask`` goes to an `Approver`.

Order of evaluation (`Authorizer.evaluate`, synchronous and side-effect free):

1. a **deny** rule hits any part of the call -> deny;
2. a **remembered** answer ("always" at a prompt) covers the call -> that answer;
3. an **ask** rule hits any part -> ask;
4. **allow** rules cover every part -> allow;
5. the **mode**: ``default`` allows read-only calls and asks for mutating ones; ``read-only``
   denies mutating calls; ``accept-edits`` allows file edits and asks for other mutating calls;
   ``bypass`` allows everything.

A remembered answer sits above ask rules because it *is* the answer to an earlier ask; it never
lifts a deny rule. `Authorizer.resolve` turns an ``ask`` into allow or deny through the approver;
with no approver, ask means deny (``decided_by="no_approver"``): a run never waits on input that
cannot come.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mentra.permissions.rules import (
    WRITE_SUBJECT_PREFIX,
    PermissionKind,
    Rule,
    check_rule,
    covering_rules,
    exact_rules,
    first_hit,
    is_file_edit,
    parse_rule,
)

PermissionMode = Literal["default", "read-only", "accept-edits", "bypass"]
Outcome = Literal["allow", "deny", "ask"]
Scope = Literal["once", "session", "project", "global"]
MODES: tuple[str, ...] = get_args(PermissionMode)
SCOPES: tuple[str, ...] = get_args(Scope)
# narrowest first: an untrusted project file may only move the mode to the left
MODE_ORDER: dict[str, int] = {"read-only": 0, "default": 1, "accept-edits": 2, "bypass": 3}
RuleText = Annotated[str, AfterValidator(check_rule)]


class PermissionsConfig(BaseModel):
    """The ``permissions:`` block of an agent config (and the body of a policy file)."""

    model_config = ConfigDict(extra="forbid")

    mode: PermissionMode = "default"
    allow: list[RuleText] = Field(default_factory=list)
    ask: list[RuleText] = Field(default_factory=list)
    deny: list[RuleText] = Field(default_factory=list)
    # a run with any denied call ends ``denied`` (exit 8) after the round of the denial
    fail_on_denial: bool = False


@dataclass(frozen=True, slots=True)
class PermissionRequest:
    """One tool call as the permission layer sees it."""

    tool: str
    subjects: Sequence[str]
    mutates: bool
    input: Any = None
    call_id: str = ""
    is_file_edit: bool = False
    kind: PermissionKind = "json"

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "kind": self.kind,
            "subjects": list(self.subjects),
            "mutates": self.mutates,
            "is_file_edit": self.is_file_edit,
            "call_id": self.call_id,
            "input": self.input,
        }


@dataclass(frozen=True, slots=True)
class PermissionDecision:
    """What was decided and by whom: ``decided_by`` is ``rule``, ``mode``, ``remembered``,
    ``prompt``, ``approval_command`` or ``no_approver``; ``rule`` the rule text that decided
    (several joined by ``", "`` when allow rules covered the parts), ``source`` where it was
    written, ``scope`` how long an approver's answer is remembered."""

    outcome: Outcome
    decided_by: str
    rule: str | None = None
    reason: str | None = None
    scope: Scope | None = None
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "decided_by": self.decided_by,
            "rule": self.rule,
            "reason": self.reason,
            "scope": self.scope,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class ApprovalAnswer:
    allow: bool
    reason: str | None = None
    scope: Scope | None = None  # None or "once": not remembered


class Approver(Protocol):
    """Answers an ``ask``. ``kind`` becomes the decision's ``decided_by``."""

    kind: str

    async def approve(self, request: PermissionRequest) -> ApprovalAnswer: ...


@dataclass(frozen=True, slots=True)
class RememberedRule:
    rule: Rule
    decision: Literal["allow", "deny"]
    scope: Scope


class RuleMemory(Protocol):
    """Where "always" answers for the project and global scopes persist (see `layers`)."""

    def save(self, scope: Scope, rule: str, decision: Literal["allow", "deny"]) -> None: ...


@dataclass(slots=True)
class _RuleSet:
    allow: list[Rule] = field(default_factory=list)
    ask: list[Rule] = field(default_factory=list)
    deny: list[Rule] = field(default_factory=list)


def request_for(
    tool: Any,
    args: Any,
    *,
    call_id: str = "",
    input: Any = None,
    mutates: bool | None = None,
    policy: Any = None,
) -> PermissionRequest:
    """Build the request for a parsed call of a `Tool`: its subjects read by the tool's
    ``permission_kind`` (default ``json``), its lane, the file-edit flag. With ``policy`` (a
    `RuntimePolicy`), a shell line's redirections to files outside the write roots become
    ``write:PATH`` subjects of their own."""
    kind: PermissionKind = getattr(tool, "permission_kind", "json")
    if kind not in ("shell", "file_ops", "json"):
        kind = "json"
    mutating = bool(tool.is_mutating(args)) if mutates is None else mutates
    subjects = list(tool.permission_subjects(args))
    if kind == "shell" and policy is not None:
        cwd = getattr(args, "workingDirectory", None) or getattr(args, "cwd", None)
        subjects += outside_writes(subjects, policy, cwd)
    return PermissionRequest(
        tool=tool.name,
        subjects=subjects,
        mutates=mutating,
        input=input,
        call_id=call_id,
        is_file_edit=is_file_edit(kind, mutating),
        kind=kind,
    )


def outside_writes(commands: Sequence[str], policy: Any, cwd: str | None = None) -> list[str]:
    """``write:PATH`` for each file a redirection in ``commands`` writes outside the policy's
    write roots (``PATH`` absolute and normalised; a target that is not literal text counts
    as outside, as written)."""
    import os
    from pathlib import Path

    from mentra.permissions.shell_parse import analyze

    base = Path(policy.working_dir)
    if cwd:
        base = base / cwd
    out: list[str] = []
    for command in commands:
        for target in analyze(command).writes:
            if any(c in target for c in "$`*?[{"):
                out.append(f"{WRITE_SUBJECT_PREFIX}{target}")
                continue
            path = Path(target).expanduser()
            real = Path(os.path.realpath(path if path.is_absolute() else base / path))
            if not policy.is_inside(real, write=True):
                out.append(f"{WRITE_SUBJECT_PREFIX}{real}")
    return list(dict.fromkeys(out))


class Authorizer:
    """Decides tool calls from layered rules and a mode; resolves asks through an approver."""

    def __init__(
        self,
        *,
        mode: PermissionMode = "default",
        allow: Sequence[Rule] = (),
        ask: Sequence[Rule] = (),
        deny: Sequence[Rule] = (),
        approver: Approver | None = None,
        remembered: Sequence[RememberedRule] = (),
        memory: RuleMemory | None = None,
        load_remembered: Callable[[], Sequence[RememberedRule]] | None = None,
        fail_on_denial: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown permission mode {mode!r}")
        self.mode: PermissionMode = mode
        self.rules = _RuleSet(list(allow), list(ask), list(deny))
        self.approver = approver
        self.fail_on_denial = fail_on_denial  # the run ends `denied` after a denied call
        self.remembered: list[RememberedRule] = list(remembered)
        self.memory = memory
        # remembered answers read on first use (a run that makes no call opens no store)
        self._load_remembered = load_remembered

    def _loaded(self) -> list[RememberedRule]:
        if self._load_remembered is not None:
            load, self._load_remembered = self._load_remembered, None
            self.remembered[:0] = list(load())
        return self.remembered

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate(self, request: PermissionRequest) -> PermissionDecision:
        tool, subjects, kind = request.tool, list(request.subjects), request.kind
        hit = first_hit(self.rules.deny, tool, subjects, kind)
        if hit is not None:
            return _by_rule("deny", hit, f"denied by rule {hit.text}")
        remembered = self._remembered(request)
        if remembered is not None:
            return remembered
        hit = first_hit(self.rules.ask, tool, subjects, kind)
        if hit is not None:
            return _by_rule("ask", hit, f"rule {hit.text} asks for approval")
        covering = covering_rules(self.rules.allow, tool, subjects, kind)
        if covering:
            text = ", ".join(r.text for r in covering)
            sources = {r.source for r in covering if r.source}
            return PermissionDecision(
                "allow",
                "rule",
                rule=text,
                reason=f"allowed by {text}",
                source=", ".join(sorted(sources)) or None,
            )
        return self._mode_default(request)

    def _remembered(self, request: PermissionRequest) -> PermissionDecision | None:
        if not self._loaded():
            return None
        tool, subjects, kind = request.tool, list(request.subjects), request.kind
        denies = [m.rule for m in self.remembered if m.decision == "deny"]
        hit = first_hit(denies, tool, subjects, kind)
        if hit is not None:
            scope = next(m.scope for m in self.remembered if m.rule == hit)
            return PermissionDecision(
                "deny", "remembered", rule=hit.text, reason="denied earlier", scope=scope
            )
        allows = [m.rule for m in self.remembered if m.decision == "allow"]
        covering = covering_rules(allows, tool, subjects, kind)
        if covering:
            scopes = [m.scope for m in self.remembered if m.rule in covering]
            return PermissionDecision(
                "allow",
                "remembered",
                rule=", ".join(r.text for r in covering),
                reason="approved earlier",
                scope=scopes[0] if scopes else None,
            )
        return None

    def _mode_default(self, request: PermissionRequest) -> PermissionDecision:
        mode = self.mode
        if mode == "bypass":
            return PermissionDecision("allow", "mode", reason="mode bypass allows every call")
        if not request.mutates:
            return PermissionDecision("allow", "mode", reason=f"mode {mode}: read-only call")
        if mode == "read-only":
            return PermissionDecision(
                "deny", "mode", reason="mode read-only denies calls that change things"
            )
        if mode == "accept-edits" and request.is_file_edit:
            return PermissionDecision("allow", "mode", reason="mode accept-edits allows file edits")
        outside = [s for s in request.subjects if s.startswith(WRITE_SUBJECT_PREFIX)]
        if request.kind == "shell" and outside:
            where = ", ".join(s[len(WRITE_SUBJECT_PREFIX) :] for s in outside)
            return PermissionDecision(
                "ask", "mode", reason=f"mode {mode}: writes outside the write roots ({where})"
            )
        return PermissionDecision(
            "ask", "mode", reason=f"mode {mode}: no rule allows this mutating call"
        )

    # -- resolution ---------------------------------------------------------------------------

    async def resolve(
        self, request: PermissionRequest, decision: PermissionDecision
    ) -> PermissionDecision:
        """Turn an ``ask`` into allow or deny; other decisions pass through unchanged."""
        if decision.outcome != "ask":
            return decision
        if self.approver is None:
            return PermissionDecision(
                "deny",
                "no_approver",
                rule=decision.rule,
                reason=(
                    "approval required but nobody can answer (no terminal, no --approval-command)"
                ),
                source=decision.source,
            )
        kind = getattr(self.approver, "kind", "approver")
        try:
            answer = await self.approver.approve(request)
        except Exception as exc:  # an approver that breaks denies; it never allows
            return PermissionDecision("deny", kind, reason=f"approver failed: {exc}")
        outcome: Literal["allow", "deny"] = "allow" if answer.allow else "deny"
        scope = answer.scope if answer.scope in SCOPES else None
        reason = answer.reason or ("approved" if answer.allow else "denied by the approver")
        rule: str | None = None
        if scope is not None and scope != "once":
            try:
                texts = self.remember(request, outcome, scope)
            except Exception as exc:  # the answer holds for this session all the same
                texts = would_remember(request)
                reason += f" (remembered for this session only: {exc})"
            if texts is None:
                reason += " (not remembered: this call cannot be expressed as a rule)"
                scope = "once"
            else:
                rule = ", ".join(texts)
        return PermissionDecision(outcome, kind, rule=rule, reason=reason, scope=scope)

    def remember(
        self, request: PermissionRequest, decision: Literal["allow", "deny"], scope: Scope
    ) -> list[str] | None:
        """Remember ``decision`` for calls like ``request``; returns the rules, or None when
        the call cannot be pinned down by rules (an unsplittable shell command). Project and
        global answers go to ``memory`` too; its errors propagate after the session keeps them.
        """
        texts = exact_rules(request.tool, list(request.subjects), request.kind)
        if texts is None:
            return None
        for text in texts:
            self.remembered.append(RememberedRule(parse_rule(text), decision, scope))
        if scope in ("project", "global") and self.memory is not None:
            for text in texts:
                self.memory.save(scope, text, decision)
        return texts

    def describe(self) -> dict[str, Any]:
        """The effective rule set, for ``mentra permissions check`` and ``mentra tools``."""
        return {
            "mode": self.mode,
            "deny": [_rule_json(r) for r in self.rules.deny],
            "ask": [_rule_json(r) for r in self.rules.ask],
            "allow": [_rule_json(r) for r in self.rules.allow],
            "remembered": [
                {"rule": m.rule.text, "decision": m.decision, "scope": m.scope}
                for m in self._loaded()
            ],
        }


def would_remember(request: PermissionRequest) -> list[str] | None:
    """The rules an "always" answer to ``request`` would store (shown at the prompt)."""
    return exact_rules(request.tool, list(request.subjects), request.kind)


def _rule_json(rule: Rule) -> dict[str, Any]:
    return {"rule": rule.text, "source": rule.source}


def _by_rule(outcome: Outcome, rule: Rule, reason: str) -> PermissionDecision:
    return PermissionDecision(outcome, "rule", rule=rule.text, reason=reason, source=rule.source)
