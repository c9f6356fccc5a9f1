"""Runs the tool calls of one reply: validate, authorize, schedule, and always answer.

Read-only calls that follow each other run concurrently; a mutating call is a barrier and runs
alone, so calls keep their order where order can matter. Every call gets exactly one result —
malformed JSON, an unknown tool, invalid input, a denial or a crash included — so no provider
ever sees a tool call without its result.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from mentra.agent.emitter import Emitter
from mentra.agent.hooks import HookPipeline, ToolCall
from mentra.events import (
    PermissionDenial,
    ToolCompleted,
    ToolProgress,
    ToolQueued,
    ToolStarted,
)
from mentra.messages import ToolResultBlock, ToolUseBlock
from mentra.permissions.policy import PolicyViolationError, RuntimePolicy
from mentra.tools.base import Tool, ToolContext, ToolInputError, ToolResult
from mentra.tools.services import ToolServices

EVENT_OUTPUT_LIMIT = 16_384
INTERRUPTED_RESULT = (
    "The tool call was interrupted before it finished; it was not re-run. "
    "Check the current state before trying again."
)


class CallResultLog(Protocol):
    """Where each call's result is committed as soon as it is known (before ``tool_completed``),
    so a crash later in the round cannot make a finished call look unfinished."""

    async def commit_call_result(self, result: ToolResultBlock) -> None: ...


class _NoResultLog:
    """A runner built without a log (a test's): results are kept in the round's message only."""

    async def commit_call_result(self, result: ToolResultBlock) -> None:
        return None


@dataclass(slots=True)
class ToolRoundStats:
    calls: int = 0
    denials: list[PermissionDenial] = field(default_factory=list)


@dataclass(slots=True)
class _Planned:
    use: ToolUseBlock
    tool: Tool | None = None
    args: Any = None
    mutating: bool = True
    result: ToolResult | None = None  # set when decided before running (errors, denials)


class ToolRunner:
    """The calls of one reply, through the hook pipeline (permissions, audit, shrinking)."""

    def __init__(
        self,
        *,
        tools: dict[str, Tool],
        policy: RuntimePolicy,
        emitter: Emitter,
        hooks: HookPipeline | None = None,
        services: ToolServices | None = None,
        log: CallResultLog | None = None,
    ) -> None:
        self.tools = tools
        self.policy = policy
        self.emitter = emitter
        self.hooks = hooks if hooks is not None else HookPipeline()
        self.services = services if services is not None else ToolServices()
        self.log: CallResultLog = log if log is not None else _NoResultLog()
        # on interruption: a result for every call of the round, finished or not
        self.partial: list[ToolResultBlock] | None = None

    async def run(self, uses: list[ToolUseBlock], stats: ToolRoundStats) -> list[ToolResultBlock]:
        planned = [self._plan(use) for use in uses]
        for item in planned:  # permissions in call order: prompts never overlap
            if item.result is None:
                await self._authorize(item, stats)
        results: dict[str, ToolResult] = {}
        batch: list[_Planned] = []

        async def flush() -> None:
            if batch:
                outs = await asyncio.gather(*(self._execute(p) for p in batch))
                for p, out in zip(batch, outs, strict=True):
                    results[p.use.id] = out
                batch.clear()

        try:
            for item in planned:
                stats.calls += 1
                if item.result is not None:
                    results[item.use.id] = await self._complete_early(item)
                elif item.mutating:
                    await flush()
                    results[item.use.id] = await self._execute(item)
                else:
                    batch.append(item)
            await flush()
        except asyncio.CancelledError:
            # interrupted: answer what did not finish, then let the cancellation go on
            self.partial = [
                ToolResultBlock(
                    tool_use_id=p.use.id,
                    content=results[p.use.id].content
                    if p.use.id in results
                    else INTERRUPTED_RESULT,
                    is_error=results[p.use.id].is_error if p.use.id in results else True,
                    images=results[p.use.id].images if p.use.id in results else (),
                )
                for p in planned
            ]
            raise
        return [
            ToolResultBlock(
                tool_use_id=p.use.id,
                content=results[p.use.id].content,
                is_error=results[p.use.id].is_error,
                images=results[p.use.id].images,
            )
            for p in planned
        ]

    def _plan(self, use: ToolUseBlock) -> _Planned:
        item = _Planned(use=use)
        tool = self.tools.get(use.name)
        if use.raw_input is not None:
            item.result = ToolResult(
                f"The arguments for tool `{use.name}` were not valid JSON, so the tool did not "
                f"run. Received: {use.raw_input[:500]!r}. Call it again with a JSON object "
                "that matches its input schema.",
                is_error=True,
            )
        elif tool is None:
            names = ", ".join(sorted(self.tools)) or "(none)"
            item.result = ToolResult(
                f"Unknown tool `{use.name}`; it did not run. Available tools: {names}.",
                is_error=True,
            )
        else:
            item.tool = tool
            try:
                item.args = tool.parse_input(use.input)
                item.mutating = tool.is_mutating(item.args)
            except ToolInputError as exc:
                item.result = ToolResult(
                    f"{exc.message}. The tool did not run; fix the input and call it again.",
                    is_error=True,
                )
        self.emitter.emit(
            ToolQueued,
            call_id=use.id,
            name=use.name,
            input=use.input if use.raw_input is None else None,
            mutating=item.mutating,
        )
        return item

    async def _authorize(self, item: _Planned, stats: ToolRoundStats) -> None:
        if not self.hooks.before_tool:
            return
        assert item.tool is not None
        call = ToolCall(item.use, item.tool, item.args, item.mutating, self.emitter)
        await self.hooks.tool_call(call)
        item.use, item.args, item.mutating = call.use, call.args, call.mutating  # a hook's rewrite
        if call.denial is not None:
            stats.denials.append(call.denial)
        if call.result is not None:
            item.result = call.result

    async def _complete_early(self, item: _Planned) -> ToolResult:
        assert item.result is not None
        await self._emit_completed(item.use, item.result, 0)
        return item.result

    async def _execute(self, item: _Planned) -> ToolResult:
        assert item.tool is not None
        use = item.use
        self.emitter.emit(ToolStarted, call_id=use.id, name=use.name)
        started = time.perf_counter()

        def progress(message: str, stream: str) -> None:
            self.emitter.emit(
                ToolProgress, call_id=use.id, name=use.name, stream=stream, message=message
            )

        ctx = ToolContext(
            policy=self.policy,
            agent_id=self.emitter.agent_id,
            run_id=self.emitter.run_id,
            call_id=use.id,
            progress=progress,
            services=self.services,  # shared by the round's calls, read-only to them
        )
        try:
            result = await item.tool.run(item.args, ctx)
        except PolicyViolationError as exc:
            result = ToolResult(f"Refused by policy: {exc.message}", is_error=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a tool crash is the model's business, not the run's end
            result = ToolResult(
                f"Tool `{use.name}` failed: {type(exc).__name__}: {exc}", is_error=True
            )
        if self.services.user_hooks is not None:  # post_tool hook commands
            from mentra.user_hooks import gates

            result = await gates.after_call(self.services.user_hooks, self.emitter, item, result)
        if self.hooks.after_tool:
            call = ToolCall(use, item.tool, item.args, item.mutating, self.emitter)
            result = self.hooks.tool_result(call, result)
        await self._emit_completed(use, result, int((time.perf_counter() - started) * 1000))
        return result

    async def _emit_completed(
        self, use: ToolUseBlock, result: ToolResult, duration_ms: int
    ) -> None:
        await self.log.commit_call_result(  # each call's result is committed first
            ToolResultBlock(tool_use_id=use.id, content=result.content, is_error=result.is_error)
        )
        output = result.content
        if len(output) > EVENT_OUTPUT_LIMIT:
            output = output[:EVENT_OUTPUT_LIMIT] + f"\n[… {len(result.content)} characters in all]"
        self.emitter.emit(
            ToolCompleted,
            call_id=use.id,
            name=use.name,
            is_error=result.is_error,
            output=output,
            duration_ms=duration_ms,
        )
