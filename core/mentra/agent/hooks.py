"""The hook pipeline: ordered, typed lists of what runs around requests, tool calls and runs.

The runtime's own behaviour is built from entries of this pipeline — permissions and audit
(`before_tool`), result shrinking (`after_tool`), background-job notices (`after_round`) — so a
user hook, compaction or a team mailbox is one more entry, not a new parameter:

    hooks.before_tool.append(my_check)       # async (ToolCall) -> None; set call.result to block

Order matters and is the list's: entries run first to last.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mentra.events import PermissionDenial, PermissionRequested, PermissionResolved
from mentra.tools.base import ToolResult

if TYPE_CHECKING:
    from mentra.agent.emitter import Emitter
    from mentra.agent.outcome import RunOutcome
    from mentra.messages import ToolUseBlock
    from mentra.permissions.decide import Authorizer, PermissionDecision, PermissionRequest
    from mentra.permissions.policy import RuntimePolicy
    from mentra.providers.base import ModelRequest
    from mentra.tools.base import Tool


@dataclass(slots=True)
class ToolCall:
    """One validated tool call on its way through the `before_tool` entries."""

    use: ToolUseBlock
    tool: Tool
    args: Any
    mutating: bool
    emitter: Emitter
    permission: PermissionRequest | None = None
    decision: PermissionDecision | None = None
    result: ToolResult | None = None  # set by an entry: the call does not run, this answers it
    denial: PermissionDenial | None = None


# an entry may be async (the compactor asks the model for a summary): `prepare` awaits it
BeforeRequest = Callable[["ModelRequest"], "ModelRequest | Awaitable[ModelRequest]"]
BeforeTool = Callable[[ToolCall], Awaitable[None]]
AfterTool = Callable[[ToolCall, "ToolResult"], "ToolResult"]
AfterRound = Callable[[], list[str]]  # notes that go with the next user-role message
OnRunEnd = Callable[["RunOutcome"], None]


@dataclass(slots=True)
class HookPipeline:
    before_request: list[BeforeRequest] = field(default_factory=list)
    before_tool: list[BeforeTool] = field(default_factory=list)
    after_tool: list[AfterTool] = field(default_factory=list)
    after_round: list[AfterRound] = field(default_factory=list)
    on_run_end: list[OnRunEnd] = field(default_factory=list)

    def request(self, request: ModelRequest) -> ModelRequest:
        """The synchronous entries only (an async one is an error here: use `prepare`)."""
        for hook in self.before_request:
            out = hook(request)
            if inspect.isawaitable(out):
                if inspect.iscoroutine(out):
                    out.close()
                raise TypeError("an async before_request entry needs HookPipeline.prepare")
            request = out
        return request

    async def prepare(self, request: ModelRequest) -> ModelRequest:
        """Every ``before_request`` entry in order, awaiting the async ones (the loop's)."""
        for hook in self.before_request:
            out = hook(request)
            request = await out if inspect.isawaitable(out) else out
        return request

    async def tool_call(self, call: ToolCall) -> None:
        for hook in self.before_tool:
            await hook(call)

    def tool_result(self, call: ToolCall, result: ToolResult) -> ToolResult:
        for hook in self.after_tool:
            result = hook(call, result)
        return result

    def notes(self) -> list[str]:
        """What the `after_round` entries have to say (also asked before the user's prompt)."""
        out: list[str] = []
        for hook in self.after_round:
            out.extend(hook())
        return out

    def run_end(self, outcome: RunOutcome) -> None:
        for hook in self.on_run_end:
            hook(outcome)


# -- built-in entries ---------------------------------------------------------------------------


class PermissionHook:
    """`before_tool`: ask the permission engine; a denial answers the call instead of it."""

    __slots__ = ("_request", "authorizer", "policy", "user_hooks")

    def __init__(
        self,
        authorizer: Authorizer,
        policy: RuntimePolicy | None = None,
        user_hooks: Any = None,
    ) -> None:
        from mentra.permissions.decide import request_for

        self.authorizer = authorizer
        self.policy = policy  # shell redirections outside its write roots are subjects too
        self.user_hooks = user_hooks  # pre_tool hook commands: after deny rules, before ask
        self._request = request_for

    def _make_request(self, tool: Tool, args: Any, use: ToolUseBlock, mutating: bool) -> Any:
        return self._request(
            tool, args, call_id=use.id, input=use.input, mutates=mutating, policy=self.policy
        )

    async def __call__(self, call: ToolCall) -> None:
        use = call.use
        request = self._request(
            call.tool,
            call.args,
            call_id=use.id,
            input=use.input,
            mutates=call.mutating,
            policy=self.policy,
        )
        decision = self.authorizer.evaluate(request)
        emitter = call.emitter
        if self.user_hooks is not None:  # a hook may deny, rewrite, or turn an ask into allow
            from mentra.user_hooks import gates

            request, decision = await gates.authorize_call(
                self.user_hooks,
                emitter,
                call,
                request,
                decision,
                make_request=self._make_request,
                authorizer=self.authorizer,
            )
            use = call.use
        call.permission = request
        if decision.outcome == "ask":
            emitter.emit(
                PermissionRequested, call_id=use.id, name=use.name, subjects=list(request.subjects)
            )
            decision = await self.authorizer.resolve(request, decision)
        call.decision = decision
        if decision.outcome == "allow" and decision.decided_by in ("rule", "mode"):
            return  # plain allows are audited, not announced
        emitter.emit(
            PermissionResolved,
            call_id=use.id,
            name=use.name,
            outcome="allow" if decision.outcome == "allow" else "deny",
            decided_by=decision.decided_by,
            rule=decision.rule,
            reason=decision.reason,
            scope=decision.scope,
        )
        if decision.outcome != "allow":
            reason = decision.reason or (
                f"denied by rule {decision.rule}" if decision.rule else "denied by permissions"
            )
            call.denial = PermissionDenial(
                call_id=use.id,
                tool=use.name,
                subjects=list(request.subjects),
                reason=reason,
                decided_by=decision.decided_by,
            )
            call.result = ToolResult(
                f"Permission denied for `{use.name}`: {reason}. The call did not run; "
                "do not retry it unchanged — choose another way or explain what you need.",
                is_error=True,
            )


AuditWriter = Callable[[str, str, str, list[str], "PermissionDecision"], None]


class AuditHook:
    """`before_tool`, after permissions: record what was decided for the call."""

    __slots__ = ("write",)

    def __init__(self, write: AuditWriter) -> None:
        self.write = write  # (run_id, call_id, tool, subjects, decision)

    async def __call__(self, call: ToolCall) -> None:
        if call.decision is None or call.permission is None:
            return
        self.write(
            call.emitter.run_id,
            call.use.id,
            call.use.name,
            list(call.permission.subjects),
            call.decision,
        )


class ShrinkHook:
    """`after_tool`: a result too large for the context is stored whole and shortened."""

    __slots__ = ("shrink",)

    def __init__(self, shrink: Callable[[str], str]) -> None:
        self.shrink = shrink

    def __call__(self, call: ToolCall, result: ToolResult) -> ToolResult:
        return ToolResult(self.shrink(result.content), result.is_error, result.images)
