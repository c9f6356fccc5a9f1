"""The flags of `mentra run` and `mentra resume` (declared once), and their parsing into the
pieces of a `RunRequest`: the prompt (argument, ``-`` or piped stdin), the output format, the
timeout, the JSON Schema file."""

from __future__ import annotations

import functools
import inspect
import json
import os
import select
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, cast, get_type_hints

import typer

from mentra._text import clean_text, decode_text
from mentra.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from mentra import RunOverrides, Turn
    from mentra_cli.render.sinks import OutputFormat

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
FailDenialOpt = Annotated[
    bool,
    typer.Option(
        "--fail-on-denial", help="End the run 'denied' (exit 8) once a tool call is denied."
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
AgentIdOpt = Annotated[
    str | None,
    typer.Option("--agent-id", help="Id for the new agent (a plain name; must be new)."),
]
AppendSystemOpt = Annotated[
    list[str] | None,
    typer.Option("--append-system", help="Text added to the system prompt (repeatable)."),
]
AppendSystemFileOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--append-system-file",
        dir_okay=False,
        metavar="FILE",
        help="A file's text added to the system prompt (repeatable).",
    ),
]
EffortOpt = Annotated[
    str | None, typer.Option("--effort", help="Reasoning effort: low | medium | high")
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="People's view on stderr.")]


def read_prompt(
    prompt: str | None, *, timeout: float | None = None, optional: bool = False
) -> tuple[str | None, list[str]]:
    """The prompt from the argument, ``-``/piped stdin, or both (stdin appended as context),
    and the notices to print with the run. ``optional`` (a prompt-less resume): piped stdin
    is the prompt if it has any, else None. Reading stdin stops at ``timeout`` seconds
    (`RunTimeoutError`). Text that is not valid UTF-8 is decoded with replacement characters,
    and a notice says so (#13.4)."""
    stdin = sys.stdin  # None when the process was started with stdin closed
    deadline = None if timeout is None else time.monotonic() + timeout
    replaced: list[str] = []
    if prompt == "-" or (prompt is None and not optional):
        if stdin is None or (prompt is None and stdin.isatty()):
            raise UsageError("no prompt: give one as an argument, or pipe it on stdin")
        prompt_text, bad = _read_stdin(deadline, timeout)
        replaced += ["stdin"] if bad else []
    elif prompt is None:  # a resume without a prompt: piped stdin, if any, is the prompt
        if stdin is None or stdin.isatty() or not _stdin_has_data():
            return None, []
        prompt_text, bad = _read_stdin(deadline, timeout)
        if not prompt_text.strip():
            return None, []
        replaced += ["stdin"] if bad else []
    else:
        prompt_text, bad = clean_text(prompt)
        replaced += ["the prompt argument"] if bad else []
        if stdin is not None and not stdin.isatty() and _stdin_has_data():
            stdin_text, bad = _read_stdin(deadline, timeout)
            if stdin_text.strip():
                prompt_text = f"{prompt_text}\n\n{stdin_text}"
                replaced += ["stdin"] if bad else []
    if not prompt_text.strip():
        raise UsageError("the prompt is empty")
    notices = [
        f"{where} is not valid UTF-8: its invalid bytes were replaced with U+FFFD in the prompt"
        for where in replaced
    ]
    return prompt_text, notices


def _read_stdin(deadline: float | None, timeout: float | None) -> tuple[str, bool]:
    """All of stdin (to EOF), decoded; `RunTimeoutError` if EOF has not come by ``deadline``."""
    stdin = sys.stdin
    try:
        fd = stdin.fileno()
    except (OSError, ValueError, AttributeError):  # not a real file (a test runner's buffer)
        return clean_text(stdin.read())
    chunks: list[bytes] = []
    while True:
        if deadline is not None:
            try:
                ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0.0))
            except (OSError, ValueError):
                ready = [fd]  # cannot wait on it: read it as before
            if not ready:
                from mentra.errors import RunTimeoutError

                raise RunTimeoutError(f"the run timed out after {timeout:g}s reading stdin")
        data = os.read(fd, 1 << 16)
        if not data:
            break
        chunks.append(data)
    return decode_text(b"".join(chunks))


def is_tty(stream: Any) -> bool:
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


def parse_output(value: str) -> OutputFormat:
    if value not in ("jsonl", "json", "text"):
        raise ConfigError(f"--output must be jsonl, json or text, got {value!r}")
    return value  # type: ignore[return-value]


def parse_timeout(value: str | None) -> float | None:
    if value is None:
        return None
    from mentra._duration import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"--timeout: {exc}") from None


def load_schema(path: Path | None) -> dict[str, Any] | None:
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


def prepare_last_message(path: Path | None) -> None:
    """Refuse, before the run, an ``--output-last-message`` path that cannot be written (its
    folder missing or not writable, the path a directory), and empty the regular file an
    earlier run left there: after this run it holds this run's final text, or nothing. A
    device or pipe (``/dev/stdout``) is left alone; it is only written at the end."""
    if path is None:
        return
    label = f"--output-last-message {path}"
    folder = path.parent
    if path.is_dir():
        raise ConfigError(f"{label}: is a directory")
    if not folder.is_dir():
        what = "is not a directory" if folder.exists() else "does not exist"
        raise ConfigError(f"{label}: the folder {folder} {what}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{label}: the folder {folder} is not writable")
    if path.is_file():
        try:
            with path.open("w", encoding="utf-8"):
                pass
        except OSError as exc:
            raise ConfigError(f"{label}: cannot write it: {exc.strerror}") from None


def absolute(path: Path) -> Path:
    """A path flag relative to the current directory (not the workspace)."""
    return path if path.is_absolute() else Path.cwd() / path


McpConfigOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--mcp-config",
        dir_okay=False,
        metavar="FILE",
        help="MCP servers from a Claude Code style JSON file (repeatable).",
    ),
]
StrictMcpOpt = Annotated[
    bool, typer.Option("--strict-mcp-config", help="Only the servers of --mcp-config files.")
]
InputFormatOpt = Annotated[
    str,
    typer.Option(
        "--input-format",
        metavar="FORMAT",
        help="text | jsonl (one turn per line of stdin, answered in order by one agent)",
    ),
]
BudgetScopeOpt = Annotated[
    str,
    typer.Option(
        "--budget-scope",
        metavar="SCOPE",
        help="turn | session: what --timeout and the budgets cover with --input-format jsonl",
    ),
]
FallbackModelOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--fallback-model",
        metavar="PROVIDER:MODEL",
        help="Model tried next when a request fails overloaded or unreachable (repeatable).",
    ),
]


CompactAtOpt = Annotated[
    float | None,
    typer.Option(
        "--compact-at",
        help="Compact the context past this fraction of the window (0.8), or this many "
        "estimated tokens (50000).",
    ),
]


@dataclass
class RunFlags:
    """The flags `run` and `resume` share, declared once: one field per flag, in help order.
    `with_run_flags` gives both commands these parameters; a new flag is one field here
    (and, if it overrides the config, its line in `overrides_from`)."""

    config: ConfigOpt = None
    model: ModelOpt = None
    system: SystemOpt = None
    allow: AllowOpt = None
    deny: DenyOpt = None
    ask: AskOpt = None
    policy: PolicyOpt = None
    permission_mode: ModeOpt = None
    approval_command: ApprovalOpt = None
    fail_on_denial: FailDenialOpt = False
    trust_project: TrustOpt = False
    max_rounds: RoundsOpt = None
    max_tool_calls: ToolCallsOpt = None
    max_tokens: TokensOpt = None
    max_cost: CostOpt = None
    timeout: TimeoutOpt = None
    output: OutputOpt = "jsonl"
    include_deltas: DeltasOpt = False
    output_last_message: LastMsgOpt = None
    json_schema: SchemaOpt = None
    store: StoreOpt = None
    ephemeral: EphemeralOpt = False
    var: VarOpt = None
    cwd: CwdOpt = None
    no_user_config: NoUserOpt = False
    verbose: VerboseOpt = False
    image: ImageOpt = None
    mcp_config: McpConfigOpt = None
    strict_mcp_config: StrictMcpOpt = False
    agent_id: AgentIdOpt = None
    append_system: AppendSystemOpt = None
    append_system_file: AppendSystemFileOpt = None
    effort: EffortOpt = None
    input_format: InputFormatOpt = "text"
    budget_scope: BudgetScopeOpt = "turn"
    compact_at: CompactAtOpt = None
    fallback_model: FallbackModelOpt = None


_Command = TypeVar("_Command", bound=Callable[..., None])


def with_run_flags(command: _Command) -> _Command:
    """``command(own..., *, flags: RunFlags)`` as typer sees it: its own parameters, then one
    per `RunFlags` field (typer reads ``__signature__``, so help, parsing and shell completion
    are typer's own); the wrapper gathers the flags into one `RunFlags`."""
    resolved = get_type_hints(command, include_extras=True)  # its own, unquoted
    own = [
        p.replace(annotation=resolved[p.name])
        for p in inspect.signature(command).parameters.values()
        if p.name != "flags"
    ]
    hints = get_type_hints(RunFlags, include_extras=True)
    shared = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                          annotation=hints[f.name])
        for f in fields(RunFlags)
    ]  # fmt: skip
    names = [p.name for p in shared]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        flags = RunFlags(**{name: kwargs.pop(name) for name in names if name in kwargs})
        command(*args, flags=flags, **kwargs)

    params = [*own, *shared]
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return cast("_Command", wrapper)


def overrides_from(flags: RunFlags) -> RunOverrides:
    """The flags that override the agent config, parsed (paths absolute, files read)."""
    from mentra import RunOverrides

    f = flags
    files = [read_system_file(p) for p in f.append_system_file or []]
    return RunOverrides(
        model=f.model, system=f.system, allow=f.allow or [], ask=f.ask or [], deny=f.deny or [],
        policy_files=[absolute(p) for p in f.policy or []], permission_mode=f.permission_mode,
        approval_command=f.approval_command, trust_project=f.trust_project,
        max_rounds=f.max_rounds, max_tool_calls=f.max_tool_calls, max_tokens=f.max_tokens,
        max_cost_usd=f.max_cost, timeout=parse_timeout(f.timeout),
        include_deltas=f.include_deltas, json_schema=load_schema(f.json_schema),
        mcp_config_files=[absolute(p) for p in f.mcp_config or []],
        strict_mcp_config=f.strict_mcp_config, fail_on_denial=f.fail_on_denial,
        agent_id=f.agent_id, effort=f.effort, compact_at=f.compact_at,
        fallback_models=f.fallback_model or [],
        append_system=[*(f.append_system or []), *files],
    )  # fmt: skip


def read_system_file(path: Path) -> str:
    """The text of an ``--append-system-file``, refused (exit 2) when unreadable or empty."""
    label = f"--append-system-file {path}"
    try:
        data = absolute(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read it: {exc.strerror}") from None
    text, _bad = decode_text(data)
    if not text.strip():
        raise ConfigError(f"{label}: the file is empty")
    return text


def parse_input_format(value: str) -> bool:
    """True for ``jsonl`` (a stream of turns on stdin), False for ``text``."""
    if value not in ("text", "jsonl"):
        raise ConfigError(f"--input-format must be text or jsonl, got {value!r}")
    return value == "jsonl"


def parse_budget_scope(value: str) -> Literal["turn", "session"]:
    if value not in ("turn", "session"):
        raise ConfigError(f"--budget-scope must be turn or session, got {value!r}")
    return value  # type: ignore[return-value]


class StdinLines:
    """The lines of stdin as bytes, numbered from 1. The first turn is read before the agent
    exists (`first_turn`, blocking); later lines wait in the event loop (`read`), so a signal
    that comes while mentra waits for the next turn is handled at once."""

    @classmethod
    def open(cls, flags: RunFlags, prompt: str | None) -> StdinLines | None:
        """The turn stream of ``--input-format jsonl`` (None for ``text``)."""
        if not parse_input_format(flags.input_format):
            return None
        if prompt is not None:
            raise UsageError("--input-format jsonl reads the turns from stdin: give no PROMPT")
        if flags.image:
            raise UsageError('--image goes with a text prompt; a JSONL turn has "images"')
        return cls()

    def __init__(self) -> None:
        stdin = sys.stdin
        if stdin is None:
            raise UsageError("--input-format jsonl reads turns from stdin, which is closed")
        try:
            self.fd = stdin.fileno()
        except (OSError, ValueError, AttributeError):
            self.fd = -1  # not a real file (a test runner's buffer): read it as text
        self.number = 0
        self._buffer = b""
        self._eof = False

    def _take(self) -> bytes | None:
        if b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
        elif self._eof and self._buffer:
            line, self._buffer = self._buffer, b""
        else:
            return None
        self.number += 1
        return line

    def _fill(self) -> None:
        data = sys.stdin.read().encode() if self.fd < 0 else os.read(self.fd, 1 << 16)
        if data:
            self._buffer += data
        else:
            self._eof = True

    def read_blocking(self) -> bytes | None:
        """The next line, or None at EOF."""
        while (line := self._take()) is None and not self._eof:
            self._fill()
        return line

    async def read(self) -> bytes | None:
        """The next line, waiting in the event loop; None at EOF."""
        while (line := self._take()) is None and not self._eof:
            if self.fd >= 0:
                await _readable(self.fd)
            self._fill()
        return line

    def first_turn(self, base: Path) -> Turn:
        """The first turn (blank lines skipped); `TurnInputError` for a line that is none,
        `UsageError` when stdin ends before any."""
        from mentra import parse_turn

        while (raw := self.read_blocking()) is not None:
            turn = parse_turn(raw, self.number, base=base)
            if turn is not None:
                return turn
        raise UsageError("no turns on stdin: --input-format jsonl reads one JSON line per turn")

    async def turns(self, first: Turn, base: Path) -> AsyncIterator[Turn]:
        """``first``, then one turn per line as the lines come."""
        from mentra import parse_turn

        yield first
        while (raw := await self.read()) is not None:
            turn = parse_turn(raw, self.number, base=base)
            if turn is not None:
                yield turn


async def _readable(fd: int) -> None:
    """Until ``fd`` has data (or EOF); at once for a regular file, which never blocks."""
    import asyncio

    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    try:
        loop.add_reader(fd, wake)
    except (OSError, ValueError):
        return
    try:
        await ready
    finally:
        loop.remove_reader(fd)
