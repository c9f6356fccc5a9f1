"""The ``task`` tool: delegate a prompt to a child agent that runs inside the parent's run.

A child is a stored agent (``parent_id`` set) with an empty history, built by the runtime (the
composition root hands `Subagents` a ``spawn`` callable, so nothing here imports the runtime)
and driven as a `Session` whose budget is ``parent_budget.child(...)``: what the child spends
counts against the parent's limits, the parent's cancel token stops it, and the parent's
deadline is its deadline. Its events go into the parent's stream through a `ChildEmitter`
(one ``seq``, ``parent_run_id`` set; no ``session_started``, no ``run_finished``), framed by
``subagent_started`` and ``subagent_finished`` from the parent.

A limit of the parent's that a child uses up makes the child fail and is remembered on the
parent's budget (`Budget.limit_hit`): the parent's next check ends the whole run with it
(exit 4), after every call of the round has its result.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mentra.events import (
    ModelUsage,
    PermissionDenial,
    SubagentFinished,
    SubagentStarted,
    SubagentSummary,
)
from mentra.tasks.profiles import SubagentProfile, task_tool_description, task_tool_schema
from mentra.tools.base import SchemaTool, ToolContext, ToolResult

if TYPE_CHECKING:
    from mentra.agent.budget import Budget
    from mentra.agent.emitter import Emitter
    from mentra.agent.loop import Agent
    from mentra.agent.outcome import RunOutcome

TASK_TOOL_NAME = "task"
SERVICE_KEY = "subagents"
NO_SUMMARY = "(no summary)"
# how long a child whose deadline is the parent's may take to notice it and save its state
_DEADLINE_GRACE_S = 5.0

SpawnChild = Callable[[str | None], "Agent"]
"""``spawn(profile)``: a new stored child agent of this parent (the runtime builds it);
raises `MentraError` when it cannot be built (its message becomes the tool's error)."""


class Subagents:
    """One parent's children: how to make them, how many may run at once, what they did."""

    def __init__(
        self,
        spawn: SpawnChild,
        *,
        profiles: dict[str, SubagentProfile] | None = None,
        max_parallel: int = 4,
    ) -> None:
        self.spawn = spawn
        self.profiles = dict(profiles or {})
        self.max_parallel = max_parallel
        self.summaries: list[SubagentSummary] = []
        self.by_model: dict[str, ModelUsage] = {}  # the children's usage, by model
        self._emitter: Emitter | None = None
        self._budget: Budget | None = None
        self._slots: asyncio.Semaphore | None = None
        self._denials: list[PermissionDenial] = []

    def bind(
        self, emitter: Emitter, budget: Budget, denials: list[PermissionDenial] | None = None
    ) -> None:
        """Attach to the parent's run that is starting (its events, its budget, and its list
        of denials: a child's go there too, for ``run_finished`` and ``--fail-on-denial``)."""
        self._emitter, self._budget = emitter, budget
        self._denials = denials if denials is not None else []
        self._slots = asyncio.Semaphore(self.max_parallel)
        self.summaries = []
        self.by_model = {}

    def with_children(self, own: dict[str, ModelUsage]) -> dict[str, ModelUsage]:
        """The parent's ``usage_by_model`` with its children's added, so it sums to the
        run's ``usage`` (which already holds theirs)."""
        merged = {name: entry.model_copy() for name, entry in own.items()}
        for name, child in self.by_model.items():
            _add_model_usage(merged, name, child)
        return merged

    async def run_task(self, prompt: str, profile: str | None, *, call_id: str) -> ToolResult:
        """Run one child to its end; its final text (or why it failed) is the result."""
        emitter, budget, slots = self._emitter, self._budget, self._slots
        if emitter is None or budget is None or slots is None:
            return ToolResult("Subagent failed: the task tool is not bound to a run", True)
        from mentra.agent.session import Session
        from mentra.errors import MentraError

        async with slots:
            try:
                agent = self.spawn(profile)
            except MentraError as exc:
                return ToolResult(f"Subagent failed: {exc.message}", is_error=True)
            session = Session(
                agent, budget=budget.child(agent.setup.limits), parent_emitter=emitter
            )
            emitter.emit(
                SubagentStarted,
                child_agent_id=agent.id,
                profile=profile,
                prompt=prompt,
                call_id=call_id,
            )
            child = asyncio.ensure_future(session.drive(prompt, sink=emitter.sink))
            try:
                # shielded: a cancel of the parent's call must not cut the child off before
                # it has saved its state and said how it ended
                outcome = await asyncio.shield(child)
            except asyncio.CancelledError:
                await self._stop(session, child, budget)
                if child.done() and not child.cancelled() and child.exception() is None:
                    self._finished(agent, profile, child.result(), session, call_id)
                raise
        return self._finished(agent, profile, outcome, session, call_id)

    async def _stop(self, session: Any, child: asyncio.Future[Any], budget: Budget) -> None:
        """The parent's call was cancelled: a signal (its token has told the child already),
        the parent's deadline (the child's too: it ends ``timeout`` by itself), or a cancel
        from outside; wait for the child to finish."""
        remaining = budget.remaining_time()
        if not (remaining is not None and remaining <= 0.05):
            session.cancel(budget.cancel_token.signum or signal.SIGINT)
        done, _ = await asyncio.wait({child}, timeout=_DEADLINE_GRACE_S)
        if not done:
            session.cancel(budget.cancel_token.signum or signal.SIGINT)
            await asyncio.wait({child}, timeout=_DEADLINE_GRACE_S)

    def _finished(
        self,
        agent: Agent,
        profile: str | None,
        outcome: RunOutcome,
        session: Any,
        call_id: str,
    ) -> ToolResult:
        assert self._emitter is not None
        usage = session.budget.usage.model_copy()
        cost = session.budget.cost
        for name, entry in session.usage_by_model.items():
            _add_model_usage(self.by_model, name, entry)
        self._denials.extend(  # marked with the child's id: its call ids are its own
            d if d.agent_id is not None else d.model_copy(update={"agent_id": agent.id})
            for d in session.denials
        )
        self._emitter.emit(
            SubagentFinished,
            child_agent_id=agent.id,
            status=outcome.status,
            final_text=outcome.final_text,
            usage=usage,
            cost_usd=cost,
            call_id=call_id,
            error=outcome.error,
        )
        self.summaries.append(
            SubagentSummary(
                agent_id=agent.id,
                profile=profile,
                status=outcome.status,
                usage=usage,
                cost_usd=cost,
            )
        )
        if outcome.status != "success":
            return ToolResult(f"Subagent failed: {outcome.error or outcome.status}", True)
        return ToolResult(outcome.final_text or NO_SUMMARY)


class TaskTool(SchemaTool):
    """``task {prompt, agent?}``. Not mutating: the call itself changes nothing (each of the
    child's calls is decided on its own), so several ``task`` calls of one reply run at once,
    up to ``limits.max_parallel_subagents``."""

    def __init__(self, profiles: dict[str, SubagentProfile] | None = None) -> None:
        profiles = dict(profiles or {})
        super().__init__(
            name=TASK_TOOL_NAME,
            description=task_tool_description(profiles),
            schema=task_tool_schema(profiles),
            mutates=False,
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        subagents = ctx.services.subagents
        if not isinstance(subagents, Subagents):
            return ToolResult("Subagent failed: subagents are not available here", True)
        profile = args.get("agent")
        return await subagents.run_task(
            str(args["prompt"]), str(profile) if profile is not None else None, call_id=ctx.call_id
        )


def _add_model_usage(into: dict[str, ModelUsage], model: str, entry: ModelUsage) -> None:
    total = into.setdefault(model, ModelUsage())
    total.add(entry)
    cost = entry.cost_usd
    total.cost_usd = None if cost is None or total.cost_usd is None else total.cost_usd + cost


# -- what a child is made of (the runtime's `_child_agent` builds it from these) --------------


def child_tools(parent_tools: dict[str, Any], profile: SubagentProfile | None) -> dict[str, Any]:
    """The parent's tools minus ``task`` (no nesting), narrowed by the profile's only/hide."""
    from mentra.errors import ConfigError

    tools = {name: t for name, t in parent_tools.items() if name != TASK_TOOL_NAME}
    if profile is None or profile.tools is None:
        return tools
    wanted = [*(profile.tools.only or []), *profile.tools.hide]
    unknown = [n for n in wanted if n not in tools]
    if unknown:
        raise ConfigError(
            f"subagent profile names unknown tool{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(unknown)} (the parent's tools are: {', '.join(sorted(tools))})"
        )
    if profile.tools.only is not None:
        tools = {n: t for n, t in tools.items() if n in profile.tools.only}
    return {n: t for n, t in tools.items() if n not in profile.tools.hide}


def child_system(parent_system: str | None, profile: SubagentProfile | None) -> str:
    """The profile's system prompt (else the parent's), then the reference's subagent note."""
    from mentra.tasks.profiles import SUBAGENT_SYSTEM_SUFFIX

    base = profile.system if profile is not None and profile.system else parent_system
    return f"{base}\n\n{SUBAGENT_SYSTEM_SUFFIX}" if base else SUBAGENT_SYSTEM_SUFFIX


def child_config(
    parent: dict[str, Any],
    *,
    name: str,
    model: str,
    system: str,
    tools: list[str],
    max_rounds: int,
    profile: SubagentProfile | None,
) -> dict[str, Any]:
    """The config a child is stored with: its parent's (as written, secrets unexpanded) made
    into what the child ran with, so `mentra show`/`resume` see the same agent."""
    config = {k: v for k, v in parent.items() if k != "agents"}
    config.update(name=name, model=model, system=system)
    custom = (parent.get("tools") or {}).get("custom") or []
    config["tools"] = {"only": tools, **({"custom": custom} if custom else {})}
    config["limits"] = {
        k: v
        for k, v in {**(parent.get("limits") or {}), "max_rounds": max_rounds}.items()
        if k != "timeout"
    }
    if profile is not None and profile.permissions is not None:
        perms = dict(parent.get("permissions") or {})
        for kind in ("ask", "deny"):
            perms[kind] = [*perms.get(kind, []), *getattr(profile.permissions, kind)]
        config["permissions"] = perms
    return config
