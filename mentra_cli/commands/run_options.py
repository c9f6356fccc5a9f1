"""The flags of `mentra run` and `mentra resume` (declared once), and their parsing into the
pieces of a `RunRequest`: the prompt (argument, ``-`` or piped stdin), the output format, the
timeout, the JSON Schema file."""

from __future__ import annotations

import json
import os
import select
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mentra._text import clean_text, decode_text
from mentra.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from mentra import RunOverrides
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


@dataclass
class Edge:
    """The flags that are the CLI's own: where the store is, how the events are written."""

    config: Path | None
    var: list[str] | None
    image: list[str] | None
    cwd: Path | None
    store: str | None
    ephemeral: bool
    no_user_config: bool
    output: str
    output_last_message: Path | None
    verbose: bool


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


def overrides_from(
    *, model: str | None, system: str | None, allow: list[str] | None, ask: list[str] | None,
    deny: list[str] | None, policy: list[Path] | None, permission_mode: str | None,
    approval_command: str | None, trust_project: bool, max_rounds: int | None,
    max_tool_calls: int | None, max_tokens: int | None, max_cost: float | None,
    timeout: str | None, include_deltas: bool, json_schema: Path | None,
    mcp_config: list[Path] | None = None, strict_mcp_config: bool = False,
    fail_on_denial: bool = False, agent_id: str | None = None,
    append_system: list[str] | None = None, append_system_file: list[Path] | None = None,
    effort: str | None = None, compact_at: float | None = None,
) -> RunOverrides:  # fmt: skip
    from mentra import RunOverrides

    return RunOverrides(
        model=model, system=system, allow=allow or [], ask=ask or [], deny=deny or [],
        policy_files=[absolute(p) for p in policy or []], permission_mode=permission_mode,
        approval_command=approval_command, trust_project=trust_project, max_rounds=max_rounds,
        max_tool_calls=max_tool_calls, max_tokens=max_tokens, max_cost_usd=max_cost,
        timeout=parse_timeout(timeout), include_deltas=include_deltas,
        json_schema=load_schema(json_schema),
        mcp_config_files=[absolute(p) for p in mcp_config or []],
        strict_mcp_config=strict_mcp_config,
        fail_on_denial=fail_on_denial, agent_id=agent_id,
        append_system=[*(append_system or []), *map(read_system_file, append_system_file or [])],
        effort=effort, compact_at=compact_at,
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


CompactAtOpt = Annotated[
    float | None,
    typer.Option(
        "--compact-at",
        help="Compact the context past this fraction of the window (0.8), or this many "
        "estimated tokens (50000).",
    ),
]
