"""`mentra run` and `mentra resume`: spawn or restore an agent, send one turn, stream events."""

from __future__ import annotations

import json
import os
import select
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mentra.errors import ConfigError, UsageError
from mentra_cli.common import cli_errors, load_config, open_runtime, workspace_dir
from mentra_cli.entry import settle_gc

if TYPE_CHECKING:
    from mentra_cli.render.sinks import OutputFormat, OutputSink

# -- options shared by run and resume (declared once) -------------------------------------------
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="Agent config YAML.", dir_okay=False)
]
ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="PROVIDER:MODEL")]
SystemOpt = Annotated[
    str | None, typer.Option("--system", help="System prompt (overrides config).")
]
AllowOpt = Annotated[
    list[str] | None, typer.Option("--allow", help="Allow rule, e.g. 'shell(git *)'.")
]
DenyOpt = Annotated[list[str] | None, typer.Option("--deny", help="Deny rule (repeatable).")]
AskOpt = Annotated[list[str] | None, typer.Option("--ask", help="Ask rule (repeatable).")]
PolicyOpt = Annotated[list[Path] | None, typer.Option("--policy", help="Policy file (repeatable).")]
ModeOpt = Annotated[
    str | None,
    typer.Option("--permission-mode", help="default | read-only | accept-edits | bypass"),
]
ApprovalOpt = Annotated[
    str | None,
    typer.Option(
        "--approval-command", help="Command that answers permission requests (JSON on stdin)."
    ),
]
TrustOpt = Annotated[
    bool, typer.Option("--trust-project", help="Trust the project's .mentra/policy.yaml.")
]
RoundsOpt = Annotated[int | None, typer.Option("--max-rounds", min=1)]
ToolCallsOpt = Annotated[int | None, typer.Option("--max-tool-calls", min=0)]
TokensOpt = Annotated[int | None, typer.Option("--max-tokens", min=1)]
CostOpt = Annotated[float | None, typer.Option("--max-cost", help="USD", min=0.0)]
TimeoutOpt = Annotated[str | None, typer.Option("--timeout", help="e.g. 90s, 15m")]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help="jsonl | json | text")]
DeltasOpt = Annotated[bool, typer.Option("--include-deltas", help="Emit assistant_token_delta.")]
LastMsgOpt = Annotated[Path | None, typer.Option("--output-last-message", dir_okay=False)]
SchemaOpt = Annotated[
    Path | None, typer.Option("--json-schema", help="JSON Schema the final answer must match.")
]
StoreOpt = Annotated[str | None, typer.Option("--store", help="Store path (or MENTRA_STORE).")]
EphemeralOpt = Annotated[bool, typer.Option("--ephemeral", help="Keep nothing.")]
VarOpt = Annotated[list[str] | None, typer.Option("--var", help="KEY=VALUE for {{KEY}}.")]
CwdOpt = Annotated[Path | None, typer.Option("--cwd", "-C", help="Workspace directory.")]
NoUserOpt = Annotated[bool, typer.Option("--no-user-config", help="Ignore ~/.config/mentra.")]
ImageOpt = Annotated[
    list[str] | None,
    typer.Option("--image", "-i", help="Image file or https URL to send with the prompt."),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="People's view on stderr.")]


def _read_prompt(prompt: str | None) -> str:
    """The prompt from the argument, ``-``/piped stdin, or both (stdin appended as context)."""
    stdin = sys.stdin  # None when the process was started with stdin closed
    if prompt == "-" or prompt is None:
        if stdin is None or (prompt is None and stdin.isatty()):
            raise UsageError("no prompt: give one as an argument, or pipe it on stdin")
        prompt_text = stdin.read()
    else:
        prompt_text = prompt
        if stdin is not None and not stdin.isatty() and _stdin_has_data():
            stdin_text = stdin.read()
            if stdin_text.strip():
                prompt_text = f"{prompt}\n\n{stdin_text}"
    if not prompt_text.strip():
        raise UsageError("the prompt is empty")
    return prompt_text


def _is_tty(stream: Any) -> bool:
    return stream is not None and bool(stream.isatty())


def _stdin_has_data() -> bool:
    """True if piped stdin has data (or EOF) within a moment: an open, silent pipe is never
    waited on, so a run in CI never hangs on input that cannot come."""
    try:
        fd = sys.stdin.fileno()
    except (OSError, ValueError, AttributeError):
        return True  # not a real file (a test runner's buffer): reading cannot block
    try:
        ready, _, _ = select.select([fd], [], [], 0.05)
    except (OSError, ValueError):
        return False
    return bool(ready)


def _parse_output(value: str) -> OutputFormat:
    if value not in ("jsonl", "json", "text"):
        raise ConfigError(f"--output must be jsonl, json or text, got {value!r}")
    return value  # type: ignore[return-value]


def _parse_timeout(value: str | None) -> float | None:
    if value is None:
        return None
    from mentra._duration import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"--timeout: {exc}") from None


def _load_schema(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--json-schema: cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"--json-schema: {path} is not JSON ({exc})") from None
    if not isinstance(schema, dict):
        raise ConfigError(f"--json-schema: {path} must hold a JSON object")
    from jsonschema import Draft202012Validator, SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ConfigError(
            f"--json-schema: {path} is not a valid JSON Schema: {exc.message}"
        ) from None
    return schema


def execute(
    *,
    prompt: str | None,
    resume_id: str | None,
    resume_last: bool,
    config: Path | None,
    model: str | None,
    system: str | None,
    allow: list[str] | None,
    deny: list[str] | None,
    ask: list[str] | None,
    policy: list[Path] | None,
    permission_mode: str | None,
    approval_command: str | None,
    trust_project: bool,
    max_rounds: int | None,
    max_tool_calls: int | None,
    max_tokens: int | None,
    max_cost: float | None,
    timeout: str | None,
    output: str,
    include_deltas: bool,
    output_last_message: Path | None,
    json_schema: Path | None,
    store: str | None,
    ephemeral: bool,
    var: list[str] | None,
    cwd: Path | None,
    no_user_config: bool,
    verbose: bool,
    image: list[str] | None,
) -> int:
    from mentra.runtime import RunOverrides

    fmt = _parse_output(output)
    if permission_mode is not None and permission_mode not in (
        "default",
        "read-only",
        "accept-edits",
        "bypass",
    ):
        raise ConfigError(
            f"--permission-mode must be default, read-only, accept-edits or bypass, "
            f"got {permission_mode!r}"
        )
    workspace = workspace_dir(cwd)
    if config is not None and not config.is_absolute():
        config = Path.cwd() / config
    loaded, user = load_config(config, variables=var or [], no_user_config=no_user_config)
    overrides = RunOverrides(
        model=model,
        system=system,
        allow=allow or [],
        ask=ask or [],
        deny=deny or [],
        policy_files=[p if p.is_absolute() else Path.cwd() / p for p in policy or []],
        permission_mode=permission_mode,
        approval_command=approval_command,
        trust_project=trust_project,
        max_rounds=max_rounds,
        max_tool_calls=max_tool_calls,
        max_tokens=max_tokens,
        max_cost_usd=max_cost,
        timeout=_parse_timeout(timeout),
        include_deltas=include_deltas,
        json_schema=_load_schema(json_schema),
    )
    if model is not None and model.startswith("scripted:"):
        script = Path(model.partition(":")[2])
        if not script.is_absolute():
            overrides.model = f"scripted:{Path.cwd() / script}"
    resuming = resume_id is not None or resume_last
    if resuming and ephemeral:
        raise UsageError("resume cannot be --ephemeral: it needs the store")
    text = _read_prompt(prompt) if (prompt is not None or not resuming) else None
    if image and text is None:
        raise UsageError("--image goes with a prompt: give one")
    from mentra.attachments import load_image

    images = [load_image(spec, base=Path.cwd()) for spec in image or ()]
    interactive = _is_tty(sys.stdin) and _is_tty(sys.stderr)
    from mentra_cli._failed_run import report_store_failure

    with report_store_failure(  # wiring: a store failure at start-up still ends with run_finished
        fmt=fmt,
        output_last_message=output_last_message,
        loaded=loaded,
        overrides=overrides,
        workspace=workspace,
        store_flag=store,
        ephemeral=ephemeral,
        agent_id=resume_id,
        resumed=resuming,
    ):
        runtime = open_runtime(
            workspace=workspace,
            store_flag=store,
            ephemeral=ephemeral,
            no_user_config=no_user_config,
            user=user,
            interactive=interactive,
        )
        try:
            return _start(
                runtime,
                loaded if config is not None else None,
                loaded,
                overrides,
                text=text,
                images=images,
                resume_id=resume_id,
                resume_last=resume_last,
                fmt=fmt,
                output_last_message=output_last_message,
                verbose=verbose,
            )
        finally:
            runtime.close()


def _start(
    runtime: Any,
    resume_config: Any,
    loaded: Any,
    overrides: Any,
    *,
    text: str | None,
    images: list[Any],
    resume_id: str | None,
    resume_last: bool,
    fmt: OutputFormat,
    output_last_message: Path | None,
    verbose: bool,
) -> int:
    """Spawn or restore the agent and run it under signal handling; the exit code."""
    import asyncio

    from mentra.ids import new_id
    from mentra_cli.render.sinks import OutputSink

    resuming = resume_id is not None or resume_last
    if resuming:
        agent_id = runtime.latest_agent_id() if resume_last else resume_id
        agent, _record = runtime.resume_agent(agent_id, overrides, resume_config)
        if text is None and not _resumable(agent.history):
            from mentra.store.recovery import unsaved_prompt_message

            raise UsageError(  # wiring: a last turn whose prompt was lost is named
                unsaved_prompt_message(runtime.store, agent.id)
                or f"agent {agent.id} has nothing to re-run (its last turn finished); give a prompt"
            )
    else:
        agent = runtime.spawn(loaded, overrides)
    settle_gc()
    console = None
    if verbose or _is_tty(sys.stderr):
        from mentra_cli.render.console import ConsoleView

        console = ConsoleView()
    sink = OutputSink(fmt, last_message_file=output_last_message, console=console)
    return asyncio.run(
        _run_with_signals(
            agent, text, images, run_id=new_id(), sink=sink, resumed=resuming, runtime=runtime
        )
    )


def _resumable(history: list[Any]) -> bool:
    """A turn to re-run: the history ends with a user message, or a reply whose calls never
    got results (a crash mid-tool)."""
    if not history:
        return False
    last = history[-1]
    return bool(last.role == "user" or last.tool_uses)


async def _run_with_signals(
    agent: Any,
    text: str | None,
    images: list[Any],
    *,
    run_id: str,
    sink: OutputSink,
    resumed: bool,
    runtime: Any,
) -> int:
    import asyncio

    loop = asyncio.get_running_loop()
    received: list[int] = []
    inner = asyncio.ensure_future(
        agent.run(
            text,
            run_id=run_id,
            sink=sink,
            resumed=resumed,
            signal_holder=received,
            images=images,
        )
    )

    def on_signal(signum: int) -> None:
        if received:  # a second signal: stop now, state of committed rounds is safe
            os._exit(128 + signum)
        received.append(signum)
        inner.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    # the reader of stdout went away (`mentra run | head -1`): stop as SIGPIPE would, keeping
    # what was committed (exit 141)
    sink.on_closed = lambda: None if received else on_signal(signal.SIGPIPE)
    try:
        outcome = await inner
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runtime.aclose()
    if outcome.exit_code != 0 and outcome.error:
        sys.stderr.write(f"mentra: {outcome.status}: {outcome.error}\n")
    return int(outcome.exit_code)


def run(
    prompt: Annotated[str | None, typer.Argument(help="The prompt; '-' reads stdin.")] = None,
    config: ConfigOpt = None,
    model: ModelOpt = None,
    system: SystemOpt = None,
    allow: AllowOpt = None,
    deny: DenyOpt = None,
    ask: AskOpt = None,
    policy: PolicyOpt = None,
    permission_mode: ModeOpt = None,
    approval_command: ApprovalOpt = None,
    trust_project: TrustOpt = False,
    max_rounds: RoundsOpt = None,
    max_tool_calls: ToolCallsOpt = None,
    max_tokens: TokensOpt = None,
    max_cost: CostOpt = None,
    timeout: TimeoutOpt = None,
    output: OutputOpt = "jsonl",
    include_deltas: DeltasOpt = False,
    output_last_message: LastMsgOpt = None,
    json_schema: SchemaOpt = None,
    store: StoreOpt = None,
    ephemeral: EphemeralOpt = False,
    var: VarOpt = None,
    cwd: CwdOpt = None,
    no_user_config: NoUserOpt = False,
    verbose: VerboseOpt = False,
    image: ImageOpt = None,
) -> None:
    """Spawn an agent and send it one turn; JSONL events on stdout."""
    with cli_errors():
        code = execute(resume_id=None, resume_last=False, **locals())
    raise typer.Exit(code)


def resume(
    agent_id: Annotated[str | None, typer.Argument(help="Agent id (or a unique prefix).")] = None,
    prompt: Annotated[
        str | None, typer.Argument(help="The prompt; omit to re-run a failed turn.")
    ] = None,
    last: Annotated[
        bool, typer.Option("--last", help="The newest agent of this workspace.")
    ] = False,
    config: ConfigOpt = None,
    model: ModelOpt = None,
    system: SystemOpt = None,
    allow: AllowOpt = None,
    deny: DenyOpt = None,
    ask: AskOpt = None,
    policy: PolicyOpt = None,
    permission_mode: ModeOpt = None,
    approval_command: ApprovalOpt = None,
    trust_project: TrustOpt = False,
    max_rounds: RoundsOpt = None,
    max_tool_calls: ToolCallsOpt = None,
    max_tokens: TokensOpt = None,
    max_cost: CostOpt = None,
    timeout: TimeoutOpt = None,
    output: OutputOpt = "jsonl",
    include_deltas: DeltasOpt = False,
    output_last_message: LastMsgOpt = None,
    json_schema: SchemaOpt = None,
    store: StoreOpt = None,
    ephemeral: EphemeralOpt = False,
    var: VarOpt = None,
    cwd: CwdOpt = None,
    no_user_config: NoUserOpt = False,
    verbose: VerboseOpt = False,
    image: ImageOpt = None,
) -> None:
    """Restore a persisted agent and continue it (or re-run its failed turn)."""
    with cli_errors():
        params = dict(locals())
        agent, text, use_last = params.pop("agent_id"), params.pop("prompt"), params.pop("last")
        if use_last and agent is not None:
            text, agent = agent if text is None else f"{agent} {text}", None
        if not use_last and agent is None:
            raise UsageError("give an AGENT_ID or --last")
        code = execute(prompt=text, resume_id=agent, resume_last=use_last, **params)
    raise typer.Exit(code)
