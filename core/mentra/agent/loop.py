"""The agent loop (reference: mentra 0.6.0 ``Agent::run``): rounds until a reply has no calls.

A round is: one model request (streamed, retried on transient faults), the reply committed,
the tool calls answered, the results committed. Budgets are checked between rounds. Whatever
ends the run — answer, limit, timeout, signal, provider failure — `run` returns a
`RunOutcome` and emits ``run_finished`` last.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mentra._version import __version__
from mentra.agent.emitter import Emitter
from mentra.agent.tool_runner import INTERRUPTED_RESULT, ToolRoundStats, ToolRunner
from mentra.errors import (
    InterruptedRunError,
    InvalidOutputError,
    LimitReachedError,
    MentraError,
    ProviderError,
    RunTimeoutError,
    UsageError,
)
from mentra.events import (
    AssistantMessageCompleted,
    AssistantTokenDelta,
    ErrorEvent,
    Notice,
    PermissionDenial,
    RetryAttempt,
    RunFinished,
    SessionStarted,
    ToolCallSummary,
    UserMessage,
)
from mentra.messages import (
    ContentBlock,
    ImageBlock,
    Message,
    ReasoningBlock,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from mentra.providers.base import (
    BlockDelta,
    ModelOptions,
    ModelRequest,
    Provider,
    ReplyBuilder,
    ToolSpec,
)
from mentra.providers.settings import Retries
from mentra.store.base import LeaseHolder, RunRecord, Store


@dataclass(slots=True)
class Limits:
    max_rounds: int | None = None
    max_tool_calls: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    timeout: float | None = None


@dataclass(slots=True)
class RunOutcome:
    status: str
    exit_code: int
    final_text: str | None
    structured_output: Any
    usage: Usage
    cost_usd: float | None
    rounds: int
    tool_calls: int
    error: str | None = None


@dataclass
class AgentSetup:
    """Everything one agent needs to run; built by the `Runtime` from config and flags."""

    agent_id: str
    name: str
    provider: Provider
    provider_name: str
    model: str
    system: str | None
    tool_runner_factory: Callable[[Emitter], ToolRunner]
    tool_specs: list[ToolSpec]
    permission_mode: str
    cwd: str
    options: ModelOptions = field(default_factory=ModelOptions)
    retries: Retries = field(default_factory=Retries)
    limits: Limits = field(default_factory=Limits)
    store: Store | None = None
    store_label: str | None = None
    include_deltas: bool = False
    json_schema: dict[str, Any] | None = None
    json_schema_retries: int = 2
    cost_fn: Callable[[str, str, Usage], float | None] | None = None
    pending_notices: Callable[[], list[str]] | None = None
    lease_ttl_s: float = 30.0
    start_notices: list[str] = field(default_factory=list)  # warnings said after session_started
    task_board: Any = None  # taskboard: mentra.tasks.tools.TaskBoard (begin_run/end_run)


class Agent:
    """One conversation. `run` sends one user turn (or continues a resumable one)."""

    def __init__(self, setup: AgentSetup, history: list[Message] | None = None) -> None:
        self.setup = setup
        self.history: list[Message] = list(history or [])

    @property
    def id(self) -> str:
        return self.setup.agent_id

    async def run(
        self,
        prompt: str | None,
        *,
        run_id: str,
        sink: Callable[[Any], None],
        resumed: bool = False,
        signal_holder: list[int] | None = None,
        images: list[ImageBlock] | None = None,
    ) -> RunOutcome:
        """Run to completion. Never raises for run failures: they become the outcome.
        ``images`` go with the prompt, after its text."""
        s = self.setup
        emitter = Emitter(sink, agent_id=s.agent_id, run_id=run_id)
        state = _RunState(started=time.monotonic())
        record = RunRecord(id=run_id, agent_id=s.agent_id, prompt=prompt)
        emitter.emit(
            SessionStarted,
            mentra_version=__version__,
            agent_name=s.name,
            model=f"{s.provider_name}:{s.model}",
            provider=s.provider_name,
            cwd=s.cwd,
            tools=[t.name for t in s.tool_specs],
            permission_mode=s.permission_mode,
            resumed=resumed,
            store=s.store_label,
        )
        for notice in s.start_notices:
            emitter.emit(Notice, level="warning", message=notice)
        outcome: RunOutcome
        holder: LeaseHolder | None = None
        heartbeat: asyncio.Task[None] | None = None
        detail: str | None = None
        try:
            if s.store is not None:
                candidate = LeaseHolder(pid=os.getpid(), host=socket.gethostname(), run_id=run_id)
                s.store.acquire_lease(s.agent_id, candidate, s.lease_ttl_s)
                holder = candidate
                s.store.interrupt_stale_runs(
                    s.agent_id, reason="the process running it stopped before it finished"
                )
                heartbeat = asyncio.create_task(self._heartbeat(holder))
                s.store.begin_run(record)  # the agent becomes running with it
            if s.task_board is not None:  # taskboard: the board as this run began
                s.task_board.begin_run()
            self._repair_dangling_calls(record)
            if prompt is not None:
                emitter.emit(UserMessage, text=prompt, images=len(images or ()))
                content: list[ContentBlock] = [TextBlock(text=prompt), *(images or ())]
                if s.pending_notices is not None:  # e.g. background jobs that finished since
                    content.extend(TextBlock(text=n) for n in s.pending_notices())
                self._commit([Message(role="user", content=content)], record, state)
            elif not self.history or self.history[-1].role != "user":
                raise UsageError("nothing to continue: give a prompt")
            coro = self._rounds(emitter, state, record)
            if s.limits.timeout is not None:
                try:
                    async with asyncio.timeout(s.limits.timeout):
                        await coro
                except TimeoutError:
                    self._answer_interrupted(state, record)  # calls cut off get their results
                    raise RunTimeoutError(
                        f"the run timed out after {s.limits.timeout:g}s"
                    ) from None
            else:
                await coro
            outcome = state.outcome("success", 0)
        except asyncio.CancelledError:
            signum = signal_holder[0] if signal_holder else 2
            err = InterruptedRunError(
                f"interrupted by signal {signum} ({_signal_name(signum)})", signal_number=signum
            )
            self._answer_interrupted(state, record)
            outcome = state.outcome(err.status, err.signal_exit_code, err.message)
        except MentraError as exc:
            outcome = state.outcome(exc.status, exc.exit_code, exc.message)
            detail = getattr(exc, "detail", None)  # prov-reliab: a provider's whole error body
        except Exception as exc:  # the run must still finish with an event
            outcome = state.outcome("error", 1, f"internal error: {type(exc).__name__}: {exc}")
        if outcome.error:
            state.errors.append(outcome.error)
            emitter.emit(ErrorEvent, status=outcome.status, message=outcome.error, detail=detail)
        if s.task_board is not None and (err := s.task_board.end_run(outcome.status)):
            state.errors.append(err)  # taskboard: a failed run leaves the board as it found it
        record.status = outcome.status  # type: ignore[assignment]
        record.error = outcome.error
        record.usage = state.usage
        record.cost_usd = state.cost
        record.rounds = state.rounds
        record.tool_calls = state.tool_calls
        if heartbeat is not None:
            heartbeat.cancel()
        if s.store is not None and holder is not None:
            try:
                s.store.finish_run(record)  # the agent's status follows the run's
                s.store.release_lease(s.agent_id, holder)
            except MentraError as exc:
                state.errors.append(exc.message)
                if outcome.exit_code == 0:
                    outcome = state.outcome(exc.status, exc.exit_code, exc.message)
        emitter.emit(
            RunFinished,
            status=outcome.status,
            exit_code=outcome.exit_code,
            final_text=outcome.final_text,
            structured_output=outcome.structured_output,
            usage=state.usage.model_copy(),
            cost_usd=state.cost,
            duration_ms=int((time.monotonic() - state.started) * 1000),
            rounds=state.rounds,
            tool_calls=state.tool_calls,
            permission_denials=state.denials,
            errors=state.errors,
        )
        return outcome

    async def _heartbeat(self, holder: LeaseHolder) -> None:
        store, ttl = self.setup.store, self.setup.lease_ttl_s
        assert store is not None
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                store.renew_lease(self.setup.agent_id, holder, ttl)
            except MentraError:
                return

    async def _rounds(self, emitter: Emitter, state: _RunState, record: RunRecord) -> None:
        s = self.setup
        schema_retries = 0
        while True:
            if s.limits.max_rounds is not None and state.rounds >= s.limits.max_rounds:
                raise LimitReachedError(
                    f"max_rounds reached ({s.limits.max_rounds}) before a final answer",
                    limit="max_rounds",
                )
            reply = await self._request(emitter, state)
            state.rounds += 1
            message = reply.message()
            usage = reply.usage
            cost = s.cost_fn(s.provider_name, s.model, usage) if s.cost_fn else None
            state.add_usage(usage, cost)
            uses = _unique_ids(message.tool_uses, state.rounds)
            if uses != message.tool_uses:
                message = _with_ids(message, uses)
            emitter.emit(
                AssistantMessageCompleted,
                round=state.rounds,
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
            self._commit([message], record, state)
            if not uses:
                state.final_text = message.text
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
                self._commit(
                    [
                        Message.user_text(
                            f"Your answer is not valid for the required JSON schema: {problem}. "
                            "Reply with only a JSON value that matches the schema."
                        )
                    ],
                    record,
                    state,
                )
                continue
            await self._answer_calls(uses, emitter, state, record)
            self._check_budgets(state)

    async def _answer_calls(
        self, uses: list[ToolUseBlock], emitter: Emitter, state: _RunState, record: RunRecord
    ) -> None:
        s = self.setup
        limit = s.limits.max_tool_calls
        if limit is not None and state.tool_calls + len(uses) > limit:
            blocks: list[ContentBlock] = [
                ToolResultBlock(
                    tool_use_id=u.id,
                    content="Not run: the run's tool-call limit was reached.",
                    is_error=True,
                )
                for u in uses
            ]
            self._commit([Message(role="user", content=blocks)], record, state)
            raise LimitReachedError(f"max_tool_calls reached ({limit})", limit="max_tool_calls")
        runner = s.tool_runner_factory(emitter)
        stats = ToolRoundStats()
        state.pending_uses = uses
        state.runner = runner
        results = await runner.run(uses, stats)
        state.pending_uses = None
        state.tool_calls += stats.calls
        state.denials.extend(stats.denials)
        content: list[ContentBlock] = list(results)
        if s.pending_notices is not None:
            content.extend(TextBlock(text=n) for n in s.pending_notices())
        self._commit([Message(role="user", content=content)], record, state)

    async def _request(self, emitter: Emitter, state: _RunState) -> ReplyBuilder:
        s = self.setup
        request = ModelRequest(
            model=s.model,
            messages=self.history,
            system=s.system,
            tools=s.tool_specs,
            options=s.options,
        )
        attempt = 1
        deltas = s.include_deltas
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
                if not exc.transient or attempt >= s.retries.max_attempts:
                    if exc.transient:
                        raise ProviderError(
                            f"{exc.message} (gave up after {attempt} attempts)",
                            provider=exc.provider,
                            status_code=exc.status_code,
                            detail=exc.detail,
                        ) from exc
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

    def _check_budgets(self, state: _RunState) -> None:
        limits = self.setup.limits
        if limits.max_tokens is not None and state.usage.total_tokens >= limits.max_tokens:
            raise LimitReachedError(
                f"max_tokens reached ({state.usage.total_tokens} of {limits.max_tokens})",
                limit="max_tokens",
            )
        if (
            limits.max_cost_usd is not None
            and state.cost is not None
            and state.cost >= limits.max_cost_usd
        ):
            raise LimitReachedError(
                f"max_cost_usd reached (${state.cost:.4f} of ${limits.max_cost_usd:.4f})",
                limit="max_cost_usd",
            )

    def _commit(self, messages: list[Message], record: RunRecord, state: _RunState) -> None:
        record.usage = state.usage
        record.cost_usd = state.cost
        record.rounds = state.rounds
        record.tool_calls = state.tool_calls
        if self.setup.store is not None:
            self.setup.store.commit_round(self.setup.agent_id, record.id, messages, record)
        self.history.extend(messages)

    def _repair_dangling_calls(self, record: RunRecord) -> None:
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
        message = Message(role="user", content=blocks)
        if self.setup.store is not None:
            self.setup.store.commit_round(self.setup.agent_id, record.id, [message], record)
        self.history.append(message)

    def _answer_interrupted(self, state: _RunState, record: RunRecord) -> None:
        """On a signal mid-tools, commit results for every call so history stays valid."""
        uses = state.pending_uses
        if not uses:
            return
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
            self._commit([Message(role="user", content=blocks)], record, state)
        except MentraError:
            pass  # resume repairs dangling calls


@dataclass
class _RunState:
    started: float
    rounds: int = 0
    tool_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    cost: float | None = 0.0
    final_text: str | None = None
    structured: Any = None
    denials: list[PermissionDenial] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    pending_uses: list[ToolUseBlock] | None = None
    runner: ToolRunner | None = None

    def add_usage(self, usage: Usage, cost: float | None) -> None:
        self.usage.add(usage)
        if cost is None:
            self.cost = None  # one unknown price makes the total unknown
        elif self.cost is not None:
            self.cost += cost

    def outcome(self, status: str, exit_code: int, error: str | None = None) -> RunOutcome:
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


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return "unknown signal"


def _backoff(attempt: int, retry_after: float | None, retries: Retries) -> float:
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


def _check_json(text: str, schema: dict[str, Any], state: _RunState) -> str | None:
    candidate = text.strip()
    if candidate.startswith("```"):
        candidate = candidate.strip("`")
        candidate = candidate.split("\n", 1)[1] if "\n" in candidate else candidate
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
