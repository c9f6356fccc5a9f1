"""The round loop (reference: mentra 0.6.0 ``Agent::run``): rounds until a reply has no calls.

A round is: one model request (streamed, retried on transient faults), the reply committed,
the tool calls answered, the results committed. Budgets are checked between rounds. The frame
around the rounds — lease, stale-run repair, cancellation, deadline, outcome, ``run_finished``
— is the `Session`'s (`mentra.agent.session`). This module imports nothing from the store or
the provider registry: it commits through `RunLog` and retries as `RetryPolicy` says.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mentra.agent.budget import Budget, Limits
from mentra.agent.emitter import Emitter
from mentra.agent.outcome import RunOutcome
from mentra.agent.spec import AgentSetup
from mentra.agent.tool_runner import (
    INTERRUPTED_RESULT,
    CallResultLog,
    ToolRoundStats,
    ToolRunner,
)
from mentra.errors import (
    InvalidOutputError,
    LimitReachedError,
    MentraError,
    PermissionDeniedRunError,
    ProviderError,
    RunEndStatus,
)
from mentra.events import (
    AssistantMessageCompleted,
    AssistantTokenDelta,
    ModelSwitched,
    ModelUsage,
    Notice,
    PermissionDenial,
    RetryAttempt,
    ToolCallSummary,
)
from mentra.memory import with_recall
from mentra.messages import (
    ContentBlock,
    Message,
    ReasoningBlock,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from mentra.providers.base import BlockDelta, ModelRequest, ReplyBuilder, prompt_cache_key

if TYPE_CHECKING:
    from mentra.context.view import ContextView

__all__ = ["Agent", "AgentSetup", "Limits", "RetryPolicy", "RunLog", "RunOutcome", "RunState"]


class RunLog(CallResultLog, Protocol):
    """Where the loop commits what a round adds to the conversation (the Session's store).
    Awaitable: a store may do its writes off the event loop (SQLite on a worker thread)."""

    async def commit(self, messages: list[Message]) -> None: ...

    async def keep_committed(self, blocks: list[ContentBlock]) -> list[ContentBlock]:
        """``blocks`` (interrupted-call answers) with the results already committed call by
        call (`Store.commit_tool_result`) put back in their place."""
        ...


class RetryPolicy(Protocol):
    """How transient provider faults are retried (`ProviderSettings.retries`)."""

    @property
    def max_attempts(self) -> int: ...
    @property
    def base_delay(self) -> float: ...
    @property
    def max_delay(self) -> float: ...
    @property
    def max_retry_after(self) -> float: ...


class Agent:
    """One conversation: its setup and history. A `Session` runs one turn of it (`rounds`
    inside the session's frame)."""

    def __init__(
        self,
        setup: AgentSetup,
        history: list[Message] | None = None,
        context: ContextView | None = None,
    ) -> None:
        self.setup = setup
        self.history: list[Message] = list(history or [])  # every message, as stored
        # compaction: requests start from the latest marker's context, then history[start:]
        self.context: ContextView | None = context

    @property
    def id(self) -> str:
        return self.setup.agent_id

    async def rounds(self, emitter: Emitter, state: RunState, log: RunLog) -> None:
        """Rounds until a reply has no tool calls (or a limit, a fault, a cancel ends them)."""
        s = self.setup
        schema_retries = 0
        while True:
            state.budget.check_rounds()
            reply = await self._request(emitter, state)
            message = reply.message()
            usage = reply.usage
            cost = s.cost_fn(s.provider_name, s.model, usage) if s.cost_fn else None
            state.budget.charge_round(usage, cost)
            state.charge_model(f"{s.provider_name}:{s.model}", usage, cost)
            uses = _unique_ids(message.tool_uses, state.budget.own_rounds)
            if uses != message.tool_uses:
                message = _with_ids(message, uses)
            emitter.emit(
                AssistantMessageCompleted,
                round=state.budget.own_rounds,  # children's rounds are in state.rounds
                text=message.text,
                reasoning="".join(b.text for b in message.content if isinstance(b, ReasoningBlock))
                or None,
                tool_calls=[
                    ToolCallSummary(
                        id=u.id,
                        name=u.name,
                        input=u.input if u.raw_input is None else None,
                        raw_input=u.raw_input,
                    )
                    for u in uses
                ],
                stop_reason=reply.stop_reason,
                usage=usage.model_copy(),
                cost_usd=cost,
            )
            await self._commit([message], log, state)
            if not uses:
                state.final_text = message.text
                # user stop hooks may send the model on for one more round
                if s.user_hooks is not None:
                    from mentra.user_hooks import gates

                    if more := await gates.on_stop(s.user_hooks, emitter, message.text):
                        await self._commit([Message.user_text(more)], log, state)
                        continue
                if s.json_schema is None:
                    return
                problem = _check_json(message.text, s.json_schema, state)
                if problem is None:
                    return
                if schema_retries >= s.json_schema_retries:
                    raise InvalidOutputError(
                        f"final answer does not match --json-schema: {problem}"
                    )
                schema_retries += 1
                await self._commit(
                    [
                        Message.user_text(
                            f"Your answer is not valid for the required JSON schema: {problem}. "
                            "Reply with only a JSON value that matches the schema."
                        )
                    ],
                    log,
                    state,
                )
                continue
            await self._answer_calls(uses, emitter, state, log)
            if s.fail_on_denial and state.denials:  # the round's results are committed
                first = state.denials[0]
                call = (
                    f"{first.tool}({', '.join(first.subjects)})" if first.subjects else first.tool
                )
                raise PermissionDeniedRunError(
                    f"{call} was denied (by {first.decided_by or 'policy'}) and "
                    "fail_on_denial is set"
                )
            state.budget.check_spend()

    async def _answer_calls(
        self, uses: list[ToolUseBlock], emitter: Emitter, state: RunState, log: RunLog
    ) -> None:
        s = self.setup
        limit = state.budget.tool_calls_exceeded(len(uses))
        if limit is not None:
            blocks: list[ContentBlock] = [
                ToolResultBlock(
                    tool_use_id=u.id,
                    content="Not run: the run's tool-call limit was reached.",
                    is_error=True,
                )
                for u in uses
            ]
            await self._commit([Message(role="user", content=blocks)], log, state)
            raise LimitReachedError(f"max_tool_calls reached ({limit})", limit="max_tool_calls")
        # charged before they run: a `task` call's child draws on the same limit while the
        # call is still running, so the call must already count (#17: one budget)
        state.budget.charge_tool_calls(len(uses))
        runner = ToolRunner(
            tools=s.tools,
            policy=s.policy,
            emitter=emitter,
            hooks=s.hooks,
            services=s.services,
            log=log,
        )
        stats = ToolRoundStats()
        state.pending_uses = uses
        state.runner = runner
        results = await runner.run(uses, stats)
        state.pending_uses = None
        state.denials.extend(stats.denials)
        content: list[ContentBlock] = list(results)
        content.extend(TextBlock(text=n) for n in s.hooks.notes())
        await self._commit([Message(role="user", content=content)], log, state)

    async def _request(self, emitter: Emitter, state: RunState) -> ReplyBuilder:
        s = self.setup
        for notice in await s.sync_tools():  # MCP: a server gone, a tool list changed
            emitter.emit(Notice, level="warning", message=notice)
        # memory: the recalled text rides on this run's user message, in requests only
        messages = with_recall(self.history, state.recall_at, state.recall)
        view = self.context
        request = ModelRequest(
            model=s.model,
            messages=view.messages(messages) if view is not None else messages,
            system=s.system,
            tools=s.tool_specs,
            options=s.options,
            cache_key=prompt_cache_key(s.agent_id),  # one cache per agent, not per run
            folded_turns=view.folded_turns if view is not None else 0,
        )
        # before_request entries: the board's reminder, then the compactor (mentra.context)
        request = await s.hooks.prepare(request)
        attempt = 1
        deltas = s.include_deltas
        fell_from: list[str] = []  # "MODEL: error" of each model this request fell back from
        while True:
            reply = ReplyBuilder(s.provider_name)
            feed = reply.feed
            streamed = 0  # prov-reliab: chars of text/reasoning this attempt streamed (#14.5)
            try:
                async for event in s.provider.stream(request):
                    feed(event)
                    if (
                        type(event) is BlockDelta
                        and event.kind in ("text", "reasoning")
                        and event.text
                    ):
                        streamed += len(event.text)
                        if deltas:
                            emitter.emit(AssistantTokenDelta, kind=event.kind, delta=event.text)
                return reply
            except ProviderError as exc:
                if exc.transient and attempt >= s.retries.max_attempts and s.fallbacks:
                    fell_from.append(f"{s.provider_name}:{s.model}: {exc.message}")
                    self._fall_back(emitter, exc)  # the same request, to the next model
                    request.model = s.model
                    attempt = 1
                    continue
                if not exc.transient or attempt >= s.retries.max_attempts:
                    if fell_from:  # every model failed: errors name each, the last included
                        state.errors.extend(fell_from)
                        if not exc.transient:
                            raise _on_model(exc, f"{s.provider_name}:{s.model}", "") from exc
                    if exc.transient:
                        model = f"{s.provider_name}:{s.model}" if fell_from else None
                        raise _on_model(exc, model, f" (gave up after {attempt} attempts)") from exc
                    raise
                delay = _backoff(attempt, exc.retry_after, s.retries)
                attempt += 1
                emitter.emit(
                    RetryAttempt,
                    attempt=attempt,
                    max_attempts=s.retries.max_attempts,
                    delay_s=round(delay, 3),
                    status_code=exc.status_code,
                    reason=exc.message,
                    # prov-reliab (#14.5): the failed attempt's partial reply is thrown away;
                    # deltas after this event start the reply again from its first character
                    discarded_partial=streamed > 0,
                    discarded_chars=streamed,
                )
                await asyncio.sleep(delay)

    def _fall_back(self, emitter: Emitter, exc: ProviderError) -> None:
        """The agent moves to its next fallback model, for this request and later rounds."""
        s = self.setup
        route = s.fallbacks.pop(0)
        before = f"{s.provider_name}:{s.model}"
        s.provider, s.provider_name, s.model = route.provider, route.provider_name, route.model
        s.retries, s.cost_fn = route.retries, route.cost_fn
        after = f"{s.provider_name}:{s.model}"
        emitter.emit(
            Notice, level="warning", message=f"{before} failed ({exc.message}); using {after}"
        )
        emitter.emit(ModelSwitched, **{"from": before, "to": after, "reason": exc.message})

    async def _commit(self, messages: list[Message], log: RunLog, state: RunState) -> None:
        await log.commit(messages)
        self.history.extend(messages)

    async def repair_dangling_calls(self, log: RunLog) -> None:
        """A reply whose calls never got results (a crash mid-tool) gets error results now."""
        if not self.history or self.history[-1].role != "assistant":
            return
        uses = self.history[-1].tool_uses
        if not uses:
            return
        blocks: list[ContentBlock] = [
            ToolResultBlock(tool_use_id=u.id, content=INTERRUPTED_RESULT, is_error=True)
            for u in uses
        ]
        blocks = await log.keep_committed(blocks)  # calls whose results were committed keep them
        message = Message(role="user", content=blocks)
        await log.commit([message])
        self.history.append(message)

    async def commit_prompt(
        self, content: list[ContentBlock], log: RunLog, state: RunState
    ) -> None:
        await self._commit([Message(role="user", content=content)], log, state)

    async def answer_interrupted(self, state: RunState, log: RunLog) -> None:
        """On a signal mid-tools, commit results for every call so history stays valid."""
        uses = state.pending_uses
        if not uses:
            return
        state.pending_uses = None  # answered once, even if a timeout and a cancel both ask
        partial = state.runner.partial if state.runner is not None else None
        blocks: list[ContentBlock] = (
            list(partial)
            if partial
            else [
                ToolResultBlock(tool_use_id=u.id, content=INTERRUPTED_RESULT, is_error=True)
                for u in uses
            ]
        )
        try:
            await self._commit([Message(role="user", content=blocks)], log, state)
        except MentraError:
            pass  # resume repairs dangling calls


@dataclass
class RunState:
    """One run's progress: its budget (rounds, calls, usage, cost), answer, denials, errors."""

    started: float
    budget: Budget
    final_text: str | None = None
    structured: Any = None
    denials: list[PermissionDenial] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    pending_uses: list[ToolUseBlock] | None = None
    runner: ToolRunner | None = None
    run_start: int = 0  # memory: where this run's messages begin in the history
    recall_at: int | None = None  # memory: the index of the message the recall rides on
    recall: str | None = None  # memory: the auto-recalled text
    by_model: dict[str, ModelUsage] = field(default_factory=dict)  # run_finished.usage_by_model

    def charge_model(self, model: str, usage: Usage, cost: float | None) -> None:
        """Usage and cost of one reply, on the model that gave it."""
        entry = self.by_model.setdefault(model, ModelUsage())
        entry.add(usage)
        entry.cost_usd = None if cost is None or entry.cost_usd is None else entry.cost_usd + cost

    @property
    def rounds(self) -> int:
        return self.budget.rounds

    @property
    def tool_calls(self) -> int:
        return self.budget.tool_calls

    @property
    def usage(self) -> Usage:
        return self.budget.usage

    @property
    def cost(self) -> float | None:
        return self.budget.cost

    def outcome(self, status: RunEndStatus, exit_code: int, error: str | None = None) -> RunOutcome:
        return RunOutcome(
            status=status,
            exit_code=exit_code,
            final_text=self.final_text,
            structured_output=self.structured,
            usage=self.usage,
            cost_usd=self.cost,
            rounds=self.rounds,
            tool_calls=self.tool_calls,
            error=error,
        )


def _on_model(exc: ProviderError, model: str | None, tail: str) -> ProviderError:
    """The error a request ends with: ``exc``'s message, after the model it came from (when
    the request fell back, so the models' errors can be told apart), then ``tail``."""
    return ProviderError(
        f"{model}: {exc.message}{tail}" if model else f"{exc.message}{tail}",
        provider=exc.provider,
        status_code=exc.status_code,
        detail=exc.detail,
    )


def _backoff(attempt: int, retry_after: float | None, retries: RetryPolicy) -> float:
    if retry_after is not None:
        return min(retry_after, retries.max_retry_after)
    delay = min(retries.base_delay * 2.0 ** (attempt - 1), retries.max_delay)
    return delay * (0.5 + random.random() / 2)  # jitter in [delay/2, delay]


def _unique_ids(uses: list[ToolUseBlock], round_no: int) -> list[ToolUseBlock]:
    seen: set[str] = set()
    out = []
    for i, use in enumerate(uses):
        if not use.id or use.id in seen:
            use = use.model_copy(update={"id": f"call_r{round_no}_{i + 1}"})
        seen.add(use.id)
        out.append(use)
    return out


def _with_ids(message: Message, uses: list[ToolUseBlock]) -> Message:
    it = iter(uses)
    content = [next(it) if isinstance(b, ToolUseBlock) else b for b in message.content]
    return Message(role=message.role, content=content)


def _json_candidate(text: str) -> tuple[str | None, str | None]:
    """The text of the answer to parse as JSON, or a problem: the body of its one fenced block
    (```json or a bare ```, text around it allowed; blocks tagged with another language are
    not candidates), else the whole answer. Two or more such blocks are a problem: which one
    is the answer is not for mentra to guess."""
    blocks: list[str] = []
    body: list[str] | None = None
    candidate = False
    for line in text.splitlines():
        mark = line.strip()
        if body is None:
            if mark.startswith("```"):
                body, candidate = [], mark[3:].strip().lower() in ("", "json")
        elif mark == "```":
            if candidate:
                blocks.append("\n".join(body))
            body = None
        else:
            body.append(line)
    if body is not None and candidate:  # a fence the answer never closed runs to its end
        blocks.append("\n".join(body))
    if len(blocks) > 1:
        return None, f"{len(blocks)} fenced JSON blocks; give exactly one"
    if len(blocks) == 1:
        return blocks[0], None
    return text.strip(), None


def _check_json(text: str, schema: dict[str, Any], state: RunState) -> str | None:
    candidate, problem = _json_candidate(text)
    if candidate is None:
        return problem
    try:
        value = json.loads(candidate)
    except ValueError as exc:
        return f"not JSON ({exc})"
    from jsonschema import Draft202012Validator

    errors = list(Draft202012Validator(schema).iter_errors(value))
    if errors:
        return "; ".join(e.message for e in errors[:3])
    state.structured = value
    return None
