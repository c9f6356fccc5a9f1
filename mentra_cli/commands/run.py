"""`mentra run` and `mentra resume`: one `RunRequest` from the flags (declared once, in
`run_options.RunFlags`), handed to the runtime; `run_driver` drives its `Session` and maps the
outcome to the exit status."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from mentra.errors import RunTimeoutError, UsageError
from mentra_cli._gc import settle_gc
from mentra_cli.commands import run_driver as d
from mentra_cli.commands import run_options as o
from mentra_cli.common import cli_errors, load_config, open_runtime, require_store, workspace_dir


def execute(flags: o.RunFlags, prompt: str | None, resume: str | None, fork: bool = False) -> int:
    """``resume`` is None (a new agent), an agent id, or ``""`` for ``--last``; ``fork``:
    resume a copy of it."""
    from mentra import RunRequest, TurnInputError

    overrides, fmt = o.overrides_from(flags), o.parse_output(flags.output)
    o.prepare_last_message(flags.output_last_message)
    workspace = workspace_dir(flags.cwd)
    config = o.absolute(flags.config) if flags.config is not None else None
    loaded, user = load_config(
        config, variables=flags.var or [], no_user_config=flags.no_user_config
    )
    if resume is not None and flags.ephemeral:
        raise UsageError("resume cannot be --ephemeral: it needs the store")
    if resume is not None:  # nothing to resume in a store that does not exist: make none
        missing = f"no agent {resume!r} in this store" if resume else None
        require_store(
            flags.store, workspace, missing or f"no agents in this workspace ({workspace})"
        )
    start: dict[str, Any] = {
        "fmt": fmt, "output_last_message": flags.output_last_message, "loaded": loaded,
        "overrides": overrides, "workspace": workspace, "agent_id": resume or None,
        "resumed": resume is not None,
    }  # fmt: skip
    read_from = time.monotonic()  # the deadline covers reading stdin (#13.12)
    timeout = overrides.timeout if overrides.timeout is not None else d.config_timeout(loaded)
    lines, scope = o.StdinLines.open(flags, prompt), o.parse_budget_scope(flags.budget_scope)
    text: str | None
    notices: list[str] = []
    try:  # before any agent exists: a prompt that cannot be read leaves nothing behind
        if lines is not None:  # --input-format jsonl: the first turn now, the others later
            first = lines.first_turn(base=Path.cwd())
            text, images = first.text, first.images
        else:
            text, notices = o.read_prompt(prompt, timeout=timeout, optional=resume is not None)
    except TurnInputError as exc:
        d.report_bad_line(exc, d.output_sink(fmt, flags), agent_id=resume)
        raise
    except RunTimeoutError as exc:  # a run was asked for: stdout still ends with run_finished
        from mentra_cli._failed_run import emit_failed_start

        elapsed = int((time.monotonic() - read_from) * 1000)
        emit_failed_start(exc.message, store_label=None, duration_ms=elapsed, status=exc.status,
                          exit_code=exc.exit_code, **start)  # fmt: skip
        raise
    if flags.image and text is None:
        raise UsageError("--image goes with a prompt: give one")
    if lines is None:
        from mentra.attachments import load_image

        images = [load_image(spec, base=Path.cwd()) for spec in flags.image or ()]
    request = RunRequest(
        overrides=overrides, config=loaded, config_given=config is not None, prompt=text,
        images=images, resume_id=resume or None, resume_last=resume == "", fork=fork,
    )  # fmt: skip
    from mentra_cli._failed_run import report_store_failure

    # a store failure at start-up still ends with run_finished
    with report_store_failure(store_flag=flags.store, ephemeral=flags.ephemeral, **start):
        runtime = open_runtime(
            workspace=workspace, store_flag=flags.store, ephemeral=flags.ephemeral,
            no_user_config=flags.no_user_config, user=user,
            interactive=o.is_tty(sys.stdin) and o.is_tty(sys.stderr),
        )  # fmt: skip
        try:
            session = runtime.session_for(request)
            d.start_clock_at(session, read_from)
            session.agent.setup.setup_notices.extend(notices)
            settle_gc()
            turns = lines.turns(first, base=Path.cwd()) if lines is not None else None
            sink = d.output_sink(fmt, flags)
            return d.run_session(session, request, sink, runtime.aclose, turns, scope)
        finally:
            runtime.close()


PromptArg = Annotated[str | None, typer.Argument(help="The prompt; '-' reads stdin.")]
AgentArg = Annotated[str | None, typer.Argument(help="Agent id (or a unique prefix).")]
ResumePromptArg = Annotated[
    str | None, typer.Argument(help="The prompt; omit to re-run a failed turn.")
]
LastOpt = Annotated[bool, typer.Option("--last", help="The newest agent of this workspace.")]
ForkOpt = Annotated[
    bool, typer.Option("--fork", help="Continue a copy (new id: --agent-id); the original stays.")
]


@o.with_run_flags
def run(prompt: PromptArg = None, *, flags: o.RunFlags) -> None:
    """Spawn an agent and send it one turn; JSONL events on stdout."""
    with cli_errors():
        code = execute(flags, prompt, None)
    raise typer.Exit(code)


@o.with_run_flags
def resume(
    agent: AgentArg = None, prompt: ResumePromptArg = None, last: LastOpt = False,
    fork: ForkOpt = False, *, flags: o.RunFlags,
) -> None:  # fmt: skip
    """Restore a persisted agent and continue it (or re-run its failed turn)."""
    with cli_errors():
        if last and agent is not None:  # `resume --last PROMPT`: the id slot is the prompt
            prompt, agent = agent if prompt is None else f"{agent} {prompt}", None
        if not last and agent is None:
            raise UsageError("give an AGENT_ID or --last")
        if flags.agent_id is not None and not fork:
            raise UsageError("--agent-id names a new agent: use it with run, or resume --fork")
        code = execute(flags, prompt, "" if last else agent, fork)
    raise typer.Exit(code)
