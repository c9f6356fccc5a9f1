"""`Session`: the unit of a run. ``async for event in session.run(prompt)`` yields its events.

The session owns the frame around the rounds: the lease and its heartbeat, stale-run and
dangling-call repair, setup notices (right after ``session_started``), the deadline,
cancellation (``session.cancel(signum)``: the run ends ``interrupted`` with that signal's
number), turning whatever ended the run into a `RunOutcome`, and ``run_finished`` last. The
rounds themselves are `Agent.rounds` (`mentra.agent.loop`).

A caller that only writes events out (the CLI) passes a sink to `drive` and skips the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, Literal

from mentra._version import __version__
from mentra.agent.budget import Budget
from mentra.agent.emitter import Emitter
from mentra.agent.loop import Agent, RunOutcome, RunState
from mentra.errors import (
    InterruptedRunError,
    MentraError,
    RunEndStatus,
    RunTimeoutError,
    UsageError,
)
from mentra.events import ErrorEvent, Event, Notice, RunFinished, SessionStarted, UserMessage
from mentra.messages import ContentBlock, ImageBlock, Message, TextBlock, ToolResultBlock

if TYPE_CHECKING:
    from mentra.agent.turns import Turn
    from mentra.events import ModelUsage, PermissionDenial
    from mentra.store.async_store import AsyncStore
    from mentra.store.base import CompactionMarker, LeaseHolder, RunRecord, Store

EventSink = Callable[[Event], None]


class _StoreLog:
    """`RunLog` over the agent's store: each commit also records the run's counters."""

    __slots__ = ("agent_id", "budget", "record", "store")

    def __init__(self, store: AsyncStore, agent_id: str, record: RunRecord, budget: Budget) -> None:
        self.store = store
        self.agent_id = agent_id
        self.record = record
        self.budget = budget

    async def commit(self, messages: list[Message]) -> None:
        record, budget = self.record, self.budget
        record.usage = budget.usage
        record.cost_usd = budget.cost
        record.rounds = budget.rounds
        record.tool_calls = budget.tool_calls
        await self.store.commit_round(self.agent_id, record.id, messages, record)

    async def commit_call_result(self, result: ToolResultBlock) -> None:
        await self.store.commit_tool_result(
            self.agent_id, self.record.id, result.tool_use_id, result
        )

    async def keep_committed(self, blocks: list[ContentBlock]) -> list[ContentBlock]:
        from mentra.store.fencing import committed_results

        return committed_results(await self.store.pending_tool_results(self.agent_id), blocks)

    async def commit_compaction(self, marker: CompactionMarker) -> None:
        record, budget = self.record, self.budget
        record.usage = budget.usage
        record.cost_usd = budget.cost
        await self.store.commit_compaction(self.agent_id, record.id, marker, record)


class Session:
    """One run of one agent: a prompt (or the continuation of a failed turn) to its outcome."""

    def __init__(
        self,
        agent: Agent,
        *,
        run_id: str | None = None,
        resumed: bool = False,
        budget: Budget | None = None,
        parent_emitter: Emitter | None = None,
    ) -> None:
        if run_id is None:
            from mentra.ids import new_id

            run_id = new_id()
        self.agent = agent
        self.run_id = run_id
        self.resumed = resumed
        self.budget = budget if budget is not None else Budget(agent.setup.limits)
        # a subagent's session (`mentra.agent.subagents`): its events go into the parent's
        # stream, with no session_started and no run_finished of its own
        self.parent_emitter = parent_emitter
        self.outcome: RunOutcome | None = None
        self.usage_by_model: dict[str, ModelUsage] = {}
        self.denials: list[PermissionDenial] = []
        self._task: asyncio.Task[Any] | None = None
        self._held_toolsets: AsyncExitStack | None = None  # entered for a stream's next turn
        # a stream's lease and its heartbeat, held from its first turn to its end (`close`):
        # its history lives in this process, so no other may run the agent between turns
        self._held_lease: tuple[LeaseHolder, asyncio.Task[None]] | None = None
        self._seq = 0  # the last seq emitted: a stream's later turns count on from it
        self.default_signum = int(signal.SIGINT)  # for a cancel from outside (task.cancel())
        self.budget.cancel_token.on_cancel(self._on_cancel)

    @property
    def agent_id(self) -> str:
        return self.agent.id

    def cancel(self, signum: int = signal.SIGINT) -> None:
        """Stop the run: it ends ``interrupted`` with ``signum``, its state saved."""
        self.budget.cancel_token.cancel(int(signum))

    def _on_cancel(self, signum: int) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def run(
        self, prompt: str | None, *, images: list[ImageBlock] | None = None
    ) -> AsyncIterator[Event]:
        """The run's events as they happen, ``run_finished`` last; then `outcome` is set."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()

        async def drive() -> None:
            try:
                await self.drive(prompt, images=images, sink=queue.put_nowait)
            finally:
                queue.put_nowait(None)

        task = asyncio.ensure_future(drive())
        try:
            while True:
                event = await queue.get()
                if event is None:
                    break
                yield event
            await task
        finally:
            if not task.done():  # the caller stopped reading: stop the run, keep its state
                self.cancel(signal.SIGINT)
                await asyncio.gather(task, return_exceptions=True)

    async def drive(
        self,
        prompt: str | None,
        *,
        images: list[ImageBlock] | None = None,
        sink: EventSink,
        announce: bool = True,
        keep_open: bool = False,
    ) -> RunOutcome:
        """Run to completion, events to ``sink``; the outcome. Never raises for run failures.
        ``images`` go with the prompt, after its text. A later turn of a stream
        (`drive_turns`) passes ``announce=False`` (no second ``session_started``) and
        ``keep_open`` (the tool sets stay entered and the lease held for the next turn, until
        a turn fails or `close`)."""
        self._task = asyncio.current_task()
        agent, s, budget = self.agent, self.agent.setup, self.budget
        emitter: Emitter
        if self.parent_emitter is not None:
            from mentra.agent.emitter import ChildEmitter

            emitter = ChildEmitter(self.parent_emitter, agent_id=s.agent_id, run_id=self.run_id)
        else:
            emitter = Emitter(sink, agent_id=s.agent_id, run_id=self.run_id)
            if not announce:  # a later turn of a stream: one stdout, one count
                emitter.seq = self._seq
        state = RunState(started=time.monotonic(), budget=budget)
        held = self._held_toolsets
        toolsets = held if held is not None else AsyncExitStack()
        self._held_toolsets = toolsets if keep_open else None
        setup_error: BaseException | None = None
        if s.toolset is not None and held is None:
            try:  # a tool set backed by a server starts here, and lists its tools
                await toolsets.enter_async_context(s.toolset)
                if s.list_tools_at_start:
                    await s.list_tools()
            except Exception as exc:  # reported after session_started, as the run's end
                setup_error = exc
        # a subagent's session has no session_started (nor run_finished) of its own
        emit_frame: Callable[..., object] = emitter.emit if self.parent_emitter is None else _silent
        if announce:  # a later turn of a stream (`drive_turns`) has no second session_started
            emit_frame(
                SessionStarted,
                mentra_version=__version__,
                agent_name=s.name,
                model=f"{s.provider_name}:{s.model}",
                provider=s.provider_name,
                cwd=s.cwd,
                tools=[t.name for t in s.tool_specs],
                permission_mode=s.permission_mode,
                resumed=self.resumed,
                store=s.store_label,
            )
            for notice in s.setup_notices:  # right after session_started, whatever happens
                emitter.emit(Notice, level="warning", message=notice)
            for notice in s.toolset.take_notices() if s.toolset is not None else ():
                emitter.emit(Notice, level="warning", message=notice)  # an optional server failed
        if s.memory is not None:  # memory's events go out through this run's emitter
            s.memory.bind(emitter)
        if s.task_board is not None:  # and the board's task_updated events
            s.task_board.bind(emitter)
        if s.subagents is not None:  # the `task` tool's children draw on this run
            s.subagents.bind(emitter, budget, state.denials)
        store = s.store
        from mentra.store.base import LeaseHolder, RunRecord

        record = RunRecord(id=self.run_id, agent_id=s.agent_id, prompt=prompt)
        log = _StoreLog(store, s.agent_id, record, budget)
        held_lease, self._held_lease = self._held_lease, None
        opened: list[str] = []  # what the store has done of opening the run: lease, run
        heartbeat: asyncio.Task[None] | None = None
        if held_lease is not None:  # a later turn of a stream: the lease is still ours
            holder, heartbeat = held_lease
            opened.append("lease")
        else:
            holder = LeaseHolder(pid=os.getpid(), host=socket.gethostname(), run_id=self.run_id)
        outcome: RunOutcome
        detail: str | None = None  # a provider's whole error body, for the `error` event
        try:
            if setup_error is not None:
                raise setup_error
            if budget.cancel_token.cancelled:
                raise asyncio.CancelledError

            def open_run(sync: Store) -> None:  # one hop; a cancel lands after it, not inside
                if "lease" not in opened:  # held since a stream's first turn: nothing stale
                    sync.acquire_lease(s.agent_id, holder, s.lease_ttl_s)
                    opened.append("lease")
                    stale = sync.interrupt_stale_runs(
                        s.agent_id, reason="the process running it stopped before it finished"
                    )
                    if stale:  # that process's subagents died with it: their records say so
                        _interrupt_orphaned_children(sync, s.agent_id)
                sync.begin_run(record)  # the agent becomes running with it
                opened.append("run")

            await store.call(open_run)
            if heartbeat is None:
                heartbeat = asyncio.create_task(self._heartbeat(store, holder))
            if s.task_board is not None:  # the board as this run began
                s.task_board.begin_run()
            if s.compactor is not None:  # compaction: its events, markers and usage go here
                s.compactor.begin_run(owner=agent, log=log, emitter=emitter, charges=budget)
            await agent.repair_dangling_calls(log)
            state.run_start = len(agent.history)
            if s.user_hooks is not None:  # session_start, then user_prompt (may refuse it)
                from mentra.user_hooks import gates

                await gates.start_run(s.user_hooks, emitter, prompt, session_start=announce)
            if prompt is not None:
                emitter.emit(UserMessage, text=prompt, images=len(images or ()))
                content: list[ContentBlock] = [TextBlock(text=prompt), *(images or ())]
                # e.g. background jobs that finished since
                content.extend(TextBlock(text=n) for n in s.hooks.notes())
                await agent.commit_prompt(content, log, state)
                if s.memory is not None:  # auto-recall: added to this run's requests, not stored
                    state.recall_at = len(agent.history) - 1
                    state.recall = await s.memory.recall(prompt)
            elif not agent.history or agent.history[-1].role != "user":
                raise UsageError("nothing to continue: give a prompt")
            coro = agent.rounds(emitter, state, log)
            remaining = budget.remaining_time()
            if remaining is not None:
                try:
                    async with asyncio.timeout(max(remaining, 0.0)):
                        await coro
                except TimeoutError:
                    await agent.answer_interrupted(state, log)  # cut-off calls get results
                    if s.limits.timeout is None and self.parent_emitter is not None:
                        # a subagent's deadline is its parent's: say whose it was
                        raise RunTimeoutError("the parent's run timed out") from None
                    timeout = s.limits.timeout if s.limits.timeout is not None else remaining
                    raise RunTimeoutError(f"the run timed out after {timeout:g}s") from None
            else:
                await coro
            outcome = state.outcome("success", 0)
        except asyncio.CancelledError:
            self._task = None  # ending now: a second signal must not cut the writes below short
            signum = budget.cancel_token.signum or self.default_signum
            err = InterruptedRunError(
                f"interrupted by signal {signum} ({_signal_name(signum)})", signal_number=signum
            )
            await agent.answer_interrupted(state, log)
            outcome = state.outcome(err.status, err.signal_exit_code, err.message)
        except MentraError as exc:
            outcome = state.outcome(exc.status, exc.exit_code, exc.message)
            detail = getattr(exc, "detail", None)
        except Exception as exc:  # the run must still finish with an event
            outcome = state.outcome("error", 1, f"internal error: {type(exc).__name__}: {exc}")
        # the outcome is decided: a cancel from now on (a reader of the events that went away
        # while they are written) must not cancel the task and lose run_finished (#13.9)
        self._task = None
        if outcome.error:
            state.errors.append(outcome.error)
            emitter.emit(ErrorEvent, status=outcome.status, message=outcome.error, detail=detail)
        if s.task_board is not None and (err := s.task_board.end_run(outcome.status)):
            state.errors.append(err)  # a failed run leaves the board as it found it
        # a stream's next turn runs under this lease; a failed turn ends the stream
        keep_lease = keep_open and outcome.exit_code == 0 and "lease" in opened
        if heartbeat is not None and not keep_lease:
            heartbeat.cancel()
        record.status = outcome.status
        record.error = outcome.error
        record.usage = state.usage
        record.cost_usd = state.cost
        record.rounds = state.rounds
        record.tool_calls = state.tool_calls

        def close_run(sync: Store) -> None:  # one hop
            if "run" in opened:
                sync.finish_run(record)  # the agent's status follows the run's
            if "lease" in opened and not keep_lease:  # one taken over since is not ours
                sync.release_lease(s.agent_id, holder)  # and the call leaves it

        try:
            if opened:
                await store.call(close_run)
            if keep_lease and heartbeat is not None:
                self._held_lease = (holder, heartbeat)
        except MentraError as exc:
            if keep_lease and heartbeat is not None:  # the turn failed after all: let go
                with contextlib.suppress(MentraError):
                    await self._let_go(holder, heartbeat)
            state.errors.append(exc.message)
            if outcome.exit_code == 0:
                outcome = state.outcome(exc.status, exc.exit_code, exc.message)
        if not keep_open or outcome.exit_code != 0:  # a failed turn ends its stream
            self._held_toolsets = None
            try:
                await toolsets.aclose()
            except Exception as exc:
                state.errors.append(f"closing tool sets: {type(exc).__name__}: {exc}")
        if s.memory is not None and outcome.exit_code == 0:  # one episode per successful run
            try:
                s.memory.ingest_episode(
                    agent.history[state.run_start :],
                    revision=len(agent.history),
                    run_id=self.run_id,
                )
            except MentraError as exc:
                emitter.emit(Notice, level="warning", message=f"memory: {exc.message}")
        s.hooks.run_end(outcome)
        emit_frame(
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
            subagents=list(s.subagents.summaries) if s.subagents is not None else [],
            usage_by_model=s.subagents.with_children(state.by_model)
            if s.subagents is not None
            else state.by_model,
        )
        self.outcome = outcome
        self._seq = emitter.seq
        self.usage_by_model = state.by_model  # a subagent's, for its parent's usage_by_model
        self.denials = state.denials  # and its denials, for its parent's
        return outcome

    async def drive_turns(
        self,
        turns: AsyncIterable[Turn],
        *,
        sink: EventSink,
        budget_scope: Literal["turn", "session"] = "turn",
    ) -> RunOutcome | None:
        """Each turn of ``turns`` in order, as a run of its own (its own ``run_id`` and
        ``run_finished``) after one ``session_started``; the tool sets stay entered between
        turns. The first turn that fails ends the stream, and so does a line that is no turn
        (`TurnInputError` from ``turns``: an ``error`` event, no run). ``budget_scope``:
        the timeout and budgets cover each turn, or the whole stream. The outcome of the
        stream's end (None if ``turns`` was empty)."""
        from mentra.agent.budget import Limits
        from mentra.agent.turns import TurnInputError

        limits, token = self.agent.setup.limits, self.budget.cancel_token
        stream = Budget(limits, cancel_token=token) if budget_scope == "session" else None
        outcome: RunOutcome | None = None
        iterator = aiter(turns)
        try:
            while not token.cancelled:
                self._task = asyncio.current_task()  # a signal while waiting ends the stream
                try:
                    turn = await _next_turn(iterator, stream)
                except StopAsyncIteration:
                    break
                except (TurnInputError, RunTimeoutError) as exc:  # no run began for this line
                    from mentra.ids import new_id

                    emitter = Emitter(sink, agent_id=self.agent.id, run_id=new_id())
                    emitter.seq = self._seq
                    emitter.emit(ErrorEvent, status=exc.status, message=exc.message)
                    return _ended(exc.status, exc.exit_code, exc.message)
                if outcome is not None:  # a later turn: a run of its own
                    # what the last turn's end set off runs first (the reader of stdout gone,
                    # found as its run_finished was written, cancels the stream)
                    await asyncio.sleep(0)
                    if token.cancelled:
                        break
                    from mentra.ids import new_id

                    self.run_id = new_id()
                self.budget = (
                    Budget(limits, cancel_token=token)
                    if stream is None
                    else Budget(Limits(), parent=stream, cancel_token=token)
                )
                first = outcome is None
                outcome = await self.drive(
                    turn.text, images=turn.images, sink=sink, announce=first, keep_open=True
                )
                if outcome.exit_code != 0:
                    return outcome
        except asyncio.CancelledError:
            if not token.cancelled:
                raise
        finally:
            self._task = None
            with contextlib.suppress(Exception):  # every run has finished: none to report to
                await self.close()
        if token.cancelled:  # a signal between turns: the stream stops with its number
            signum = token.signum or self.default_signum
            err = InterruptedRunError(
                f"interrupted by signal {signum} ({_signal_name(signum)})", signal_number=signum
            )
            return _ended(err.status, err.signal_exit_code, err.message)
        return outcome

    async def close(self) -> None:
        """Let go of what a stream kept between its turns: the lease, the tool sets."""
        lease, self._held_lease = self._held_lease, None
        held, self._held_toolsets = self._held_toolsets, None
        try:
            if lease is not None:
                await self._let_go(*lease)
        finally:
            if held is not None:
                await held.aclose()

    async def _let_go(self, holder: LeaseHolder, heartbeat: asyncio.Task[None]) -> None:
        """A stream's lease, released: its heartbeat stops first."""
        heartbeat.cancel()
        await self.agent.setup.store.release_lease(self.agent.id, holder)

    async def _heartbeat(self, store: AsyncStore, holder: LeaseHolder) -> None:
        ttl, agent_id = self.agent.setup.lease_ttl_s, self.agent.id
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                await store.renew_lease(agent_id, holder, ttl)
            except MentraError:
                return


async def _next_turn(turns: AsyncIterator[Turn], stream: Budget | None) -> Turn:
    """The next turn of a stream. Under ``--budget-scope session`` the stream's deadline also
    bounds the wait for it: a producer that keeps stdin open and sends nothing more does not
    hold mentra past ``--timeout`` (`RunTimeoutError`)."""
    remaining = stream.remaining_time() if stream is not None else None
    if remaining is None:
        return await anext(turns)
    try:
        async with asyncio.timeout(max(remaining, 0.0)):
            return await anext(turns)
    except TimeoutError:
        assert stream is not None  # only a stream's budget has a deadline here
        timeout = stream.limits.timeout
        raise RunTimeoutError(
            f"the stream timed out after {timeout or remaining:g}s waiting for the next turn"
        ) from None


def _interrupt_orphaned_children(store: Store, parent_id: str) -> None:
    """A parent's run was found stale (its process died, ``kill -9``): the children it was
    running died with it, so their runs and records become ``interrupted`` as the parent's
    do. Called only then, so a healthy run never pays for the listing."""
    parent = store.get_agent(parent_id)
    if parent is None:
        return
    for agent in store.list_agents(parent.workspace):
        if agent.parent_id == parent_id and agent.status == "running":
            store.interrupt_stale_runs(
                agent.id, reason="its parent's process stopped before the subagent finished"
            )
            store.set_agent_status(agent.id, "interrupted")


def _silent(cls: object, **fields: Any) -> None:
    return None


def _ended(status: RunEndStatus, exit_code: int, error: str) -> RunOutcome:
    """How a stream ended between runs (a bad line, a signal): no run, nothing spent."""
    from mentra.messages import Usage

    return RunOutcome(status, exit_code, None, None, Usage(), None, 0, 0, error)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return "unknown signal"
