"""The process side of a run: the output sink, signals turned into a cancel, the session
driven in its own task, and its outcome turned into the exit status. `commands/run.py` builds
the request; this drives it."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Literal

from mentra_cli.commands import run_options as o

if TYPE_CHECKING:
    from mentra import RunOutcome, RunRequest, Session, Turn, TurnInputError
    from mentra_cli.render.sinks import OutputFormat, OutputSink

# a closed terminal or a CI runner cancelling a step sends SIGHUP: handled like SIGTERM (#13.10)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def output_sink(fmt: OutputFormat, flags: o.RunFlags) -> OutputSink:
    """Events to stdout as ``--output`` says; a people's view on stderr for a terminal."""
    console = None
    if flags.verbose or o.is_tty(sys.stderr):
        from mentra_cli.render.console import ConsoleView

        console = ConsoleView()
    from mentra_cli.render.sinks import OutputSink

    return OutputSink(fmt, last_message_file=flags.output_last_message, console=console)


def config_timeout(loaded: Any) -> float | None:
    limits = getattr(getattr(loaded, "config", None), "limits", None)
    value = getattr(limits, "timeout", None)
    return float(value) if value is not None else None


def start_clock_at(session: Session, started: float) -> None:
    """The run's deadline counts from when mentra began reading the prompt."""
    budget = session.budget
    if budget.deadline is not None and budget.limits.timeout is not None:
        budget.deadline = min(budget.deadline, started + budget.limits.timeout)


def run_session(
    session: Session,
    request: RunRequest,
    sink: OutputSink,
    aclose: Callable[[], Awaitable[None]],
    turns: AsyncIterable[Turn] | None = None,
    budget_scope: Literal["turn", "session"] = "turn",
) -> int:
    """Drive ``session`` to its end in a fresh event loop (one turn: the request's prompt;
    or each of ``turns``, a stream); the process's exit status."""
    import asyncio

    def work() -> Coroutine[Any, Any, RunOutcome | None]:
        if turns is None:
            return session.drive(request.prompt, images=request.images, sink=sink)
        return session.drive_turns(turns, sink=sink, budget_scope=budget_scope)

    code = asyncio.run(_drive(session, work, sink, aclose))
    if sink.last_message_error is not None:  # the run ended well, its output did not
        sys.stderr.write(f"mentra: error: {sink.last_message_error}\n")
        code = code or 1
    return code


def report_bad_line(exc: TurnInputError, sink: OutputSink, agent_id: str | None) -> None:
    """A first line that is no turn: its ``error`` event (no agent was made, no run began)."""
    from datetime import UTC, datetime

    from mentra.events import ErrorEvent

    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    sink(ErrorEvent(seq=1, ts=now, agent_id=agent_id or "", run_id="", status=exc.status,
                    message=exc.message))  # fmt: skip


async def _drive(
    session: Session,
    work: Callable[[], Coroutine[Any, Any, RunOutcome | None]],
    sink: OutputSink,
    aclose: Callable[[], Awaitable[None]],
) -> int:
    """Signals become a cancel; the outcome becomes the exit code."""
    import asyncio

    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if session.budget.cancel_token.cancelled:  # a second signal: stop now
            os._exit(128 + signum)
        session.cancel(signum)

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)

    def on_closed() -> None:
        if not session.budget.cancel_token.cancelled:
            on_signal(signal.SIGPIPE)

    # the reader of stdout went away (`mentra run | head -1`): stop as SIGPIPE would (exit
    # 141). The sink finds out while the run writes an event, inside the run's own task: the
    # cancel waits for that task to yield, so it lands on an `await` of the run (#13.9)
    def on_closed_soon() -> None:
        loop.call_soon(on_closed)

    sink.on_closed = on_closed_soon
    try:
        # its own task, so a cancel stops the run and not this frame (which still has to
        # restore the handlers and close the providers)
        task = asyncio.ensure_future(work())
        try:
            outcome = await task
        except asyncio.CancelledError:  # a cancel that came as the run was finishing
            if session.outcome is None:
                raise
            outcome = session.outcome
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        await aclose()
    if outcome is None:  # a stream without turns
        return 0
    if outcome.exit_code != 0 and outcome.error:
        sys.stderr.write(f"mentra: {outcome.status}: {outcome.error}\n")
    if sink.closed:  # some events had nowhere to go: the exit status says so, as SIGPIPE would
        return 128 + signal.SIGPIPE
    return int(outcome.exit_code)
