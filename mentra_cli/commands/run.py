"""`mentra run` and `mentra resume`: one `RunRequest` from the flags, its `Session` driven
under signal handling, the events on stdout, the outcome as the exit code."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mentra.errors import RunTimeoutError, UsageError
from mentra_cli._gc import settle_gc
from mentra_cli.commands import run_options as o
from mentra_cli.common import cli_errors, load_config, open_runtime, workspace_dir

if TYPE_CHECKING:
    from mentra import RunOverrides, RunRequest, Session
    from mentra_cli.render.sinks import OutputSink


def execute(overrides: RunOverrides, edge: o.Edge, prompt: str | None, resume: str | None) -> int:
    """``resume`` is None (a new agent), an agent id, or ``""`` for ``--last``."""
    from mentra import RunRequest

    fmt = o.parse_output(edge.output)
    o.prepare_last_message(edge.output_last_message)
    workspace = workspace_dir(edge.cwd)
    config = o.absolute(edge.config) if edge.config is not None else None
    loaded, user = load_config(config, variables=edge.var or [], no_user_config=edge.no_user_config)
    if resume is not None and edge.ephemeral:
        raise UsageError("resume cannot be --ephemeral: it needs the store")
    read_from = time.monotonic()  # the deadline covers reading stdin (#13.12)
    timeout = overrides.timeout if overrides.timeout is not None else _config_timeout(loaded)
    try:  # before any agent exists: a prompt that cannot be read leaves nothing behind
        text, notices = o.read_prompt(prompt, timeout=timeout, optional=resume is not None)
    except RunTimeoutError as exc:  # a run was asked for: stdout still ends with run_finished
        from mentra_cli._failed_run import emit_failed_start

        emit_failed_start(
            exc.message,
            fmt=fmt,
            output_last_message=edge.output_last_message,
            loaded=loaded,
            overrides=overrides,
            workspace=workspace,
            store_label=None,
            agent_id=resume or None,
            resumed=resume is not None,
            duration_ms=int((time.monotonic() - read_from) * 1000),
            status=exc.status,
            exit_code=exc.exit_code,
        )
        raise
    if edge.image and text is None:
        raise UsageError("--image goes with a prompt: give one")
    from mentra.attachments import load_image

    request = RunRequest(
        overrides=overrides,
        config=loaded,
        config_given=config is not None,
        prompt=text,
        images=[load_image(spec, base=Path.cwd()) for spec in edge.image or ()],
        resume_id=resume or None,
        resume_last=resume == "",
    )
    from mentra_cli._failed_run import report_store_failure

    with report_store_failure(  # a store failure at start-up still ends with run_finished
        fmt=fmt,
        output_last_message=edge.output_last_message,
        loaded=loaded,
        overrides=overrides,
        workspace=workspace,
        store_flag=edge.store,
        ephemeral=edge.ephemeral,
        agent_id=resume or None,
        resumed=resume is not None,
    ):
        runtime = open_runtime(
            workspace=workspace,
            store_flag=edge.store,
            ephemeral=edge.ephemeral,
            no_user_config=edge.no_user_config,
            user=user,
            interactive=o.is_tty(sys.stdin) and o.is_tty(sys.stderr),
        )
        try:
            session = runtime.session_for(request)
            _start_clock_at(session, read_from)
            session.agent.setup.setup_notices.extend(notices)
            settle_gc()
            console = None
            if edge.verbose or o.is_tty(sys.stderr):
                from mentra_cli.render.console import ConsoleView

                console = ConsoleView()
            from mentra_cli.render.sinks import OutputSink

            sink = OutputSink(fmt, last_message_file=edge.output_last_message, console=console)
            import asyncio

            code = asyncio.run(_drive(session, request, sink, runtime.aclose))
            if sink.last_message_error is not None:  # the run ended well, its output did not
                sys.stderr.write(f"mentra: error: {sink.last_message_error}\n")
                code = code or 1
        finally:
            runtime.close()
    return code


def _config_timeout(loaded: Any) -> float | None:
    limits = getattr(getattr(loaded, "config", None), "limits", None)
    value = getattr(limits, "timeout", None)
    return float(value) if value is not None else None


def _start_clock_at(session: Session, started: float) -> None:
    """The run's deadline counts from when mentra began reading the prompt."""
    budget = session.budget
    if budget.deadline is not None and budget.limits.timeout is not None:
        budget.deadline = min(budget.deadline, started + budget.limits.timeout)


async def _drive(session: Session, request: RunRequest, sink: OutputSink, aclose: Any) -> int:
    """Signals become a cancel; the outcome becomes the exit code."""
    import asyncio

    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if session.budget.cancel_token.cancelled:  # a second signal: stop now
            os._exit(128 + signum)
        session.cancel(signum)

    for sig in _STOP_SIGNALS:
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
        task = asyncio.ensure_future(
            session.drive(request.prompt, images=request.images, sink=sink)
        )
        try:
            outcome = await task
        except asyncio.CancelledError:  # a cancel that came as the run was finishing
            if session.outcome is None:
                raise
            outcome = session.outcome
    finally:
        for sig in _STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        await aclose()
    if outcome.exit_code != 0 and outcome.error:
        sys.stderr.write(f"mentra: {outcome.status}: {outcome.error}\n")
    if sink.closed:  # some events had nowhere to go: the exit status says so, as SIGPIPE would
        return 128 + signal.SIGPIPE
    return int(outcome.exit_code)


# a closed terminal or a CI runner cancelling a step sends SIGHUP: handled like SIGTERM (#13.10)
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run(
    prompt: Annotated[str | None, typer.Argument(help="The prompt; '-' reads stdin.")] = None,
    config: o.ConfigOpt = None, model: o.ModelOpt = None, system: o.SystemOpt = None,
    allow: o.AllowOpt = None, deny: o.DenyOpt = None, ask: o.AskOpt = None,
    policy: o.PolicyOpt = None,
    permission_mode: o.ModeOpt = None, approval_command: o.ApprovalOpt = None,
    fail_on_denial: o.FailDenialOpt = False,
    trust_project: o.TrustOpt = False, max_rounds: o.RoundsOpt = None,
    max_tool_calls: o.ToolCallsOpt = None, max_tokens: o.TokensOpt = None,
    max_cost: o.CostOpt = None, timeout: o.TimeoutOpt = None, output: o.OutputOpt = "jsonl",
    include_deltas: o.DeltasOpt = False,
    output_last_message: o.LastMsgOpt = None, json_schema: o.SchemaOpt = None,
    store: o.StoreOpt = None, ephemeral: o.EphemeralOpt = False, var: o.VarOpt = None,
    cwd: o.CwdOpt = None, no_user_config: o.NoUserOpt = False, verbose: o.VerboseOpt = False,
    image: o.ImageOpt = None,
    mcp_config: o.McpConfigOpt = None, strict_mcp_config: o.StrictMcpOpt = False,
    agent_id: o.AgentIdOpt = None, append_system: o.AppendSystemOpt = None,
    append_system_file: o.AppendSystemFileOpt = None, effort: o.EffortOpt = None,
    compact_at: o.CompactAtOpt = None,
) -> None:  # fmt: skip
    """Spawn an agent and send it one turn; JSONL events on stdout."""
    with cli_errors():
        overrides = o.overrides_from(
            model=model, system=system, allow=allow, ask=ask, deny=deny, policy=policy,
            permission_mode=permission_mode, approval_command=approval_command,
            trust_project=trust_project, max_rounds=max_rounds, max_tool_calls=max_tool_calls,
            max_tokens=max_tokens, max_cost=max_cost, timeout=timeout,
            include_deltas=include_deltas, json_schema=json_schema,
            mcp_config=mcp_config, strict_mcp_config=strict_mcp_config,
            fail_on_denial=fail_on_denial, agent_id=agent_id, append_system=append_system,
            append_system_file=append_system_file, effort=effort, compact_at=compact_at,
        )  # fmt: skip
        edge = o.Edge(
            config, var, image, cwd, store, ephemeral, no_user_config, output,
            output_last_message, verbose,
        )  # fmt: skip
        code = execute(overrides, edge, prompt, None)
    raise typer.Exit(code)


def resume(
    agent_id: Annotated[str | None, typer.Argument(help="Agent id (or a unique prefix).")] = None,
    prompt: Annotated[
        str | None, typer.Argument(help="The prompt; omit to re-run a failed turn.")
    ] = None,
    last: Annotated[
        bool, typer.Option("--last", help="The newest agent of this workspace.")
    ] = False,
    config: o.ConfigOpt = None, model: o.ModelOpt = None, system: o.SystemOpt = None,
    allow: o.AllowOpt = None, deny: o.DenyOpt = None, ask: o.AskOpt = None,
    policy: o.PolicyOpt = None,
    permission_mode: o.ModeOpt = None, approval_command: o.ApprovalOpt = None,
    fail_on_denial: o.FailDenialOpt = False,
    trust_project: o.TrustOpt = False, max_rounds: o.RoundsOpt = None,
    max_tool_calls: o.ToolCallsOpt = None, max_tokens: o.TokensOpt = None,
    max_cost: o.CostOpt = None, timeout: o.TimeoutOpt = None, output: o.OutputOpt = "jsonl",
    include_deltas: o.DeltasOpt = False,
    output_last_message: o.LastMsgOpt = None, json_schema: o.SchemaOpt = None,
    store: o.StoreOpt = None, ephemeral: o.EphemeralOpt = False, var: o.VarOpt = None,
    cwd: o.CwdOpt = None, no_user_config: o.NoUserOpt = False, verbose: o.VerboseOpt = False,
    image: o.ImageOpt = None,
    mcp_config: o.McpConfigOpt = None, strict_mcp_config: o.StrictMcpOpt = False,
    append_system: o.AppendSystemOpt = None, append_system_file: o.AppendSystemFileOpt = None,
    effort: o.EffortOpt = None, compact_at: o.CompactAtOpt = None,
) -> None:  # fmt: skip
    """Restore a persisted agent and continue it (or re-run its failed turn)."""
    with cli_errors():
        if last and agent_id is not None:  # `resume --last PROMPT`: the id slot is the prompt
            prompt, agent_id = agent_id if prompt is None else f"{agent_id} {prompt}", None
        if not last and agent_id is None:
            raise UsageError("give an AGENT_ID or --last")
        overrides = o.overrides_from(
            model=model, system=system, allow=allow, ask=ask, deny=deny, policy=policy,
            permission_mode=permission_mode, approval_command=approval_command,
            trust_project=trust_project, max_rounds=max_rounds, max_tool_calls=max_tool_calls,
            max_tokens=max_tokens, max_cost=max_cost, timeout=timeout,
            include_deltas=include_deltas, json_schema=json_schema,
            mcp_config=mcp_config, strict_mcp_config=strict_mcp_config,
            fail_on_denial=fail_on_denial, append_system=append_system,
            append_system_file=append_system_file, effort=effort, compact_at=compact_at,
        )  # fmt: skip
        edge = o.Edge(
            config, var, image, cwd, store, ephemeral, no_user_config, output,
            output_last_message, verbose,
        )  # fmt: skip
        code = execute(overrides, edge, prompt, "" if last else agent_id)
    raise typer.Exit(code)
