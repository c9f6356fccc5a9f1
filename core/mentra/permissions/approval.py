"""`CommandApprover`: ``--approval-command CMD`` answers asks in headless runs.

The command (a shell string) gets one JSON object on stdin::

    {"type": "permission_request", "version": 1, "tool": "shell",
     "subjects": ["git push"], "mutates": true, "is_file_edit": false,
     "call_id": "…", "input": {"command": "git push"}, "cwd": "/path/to/workspace"}

and answers on stdout with ``allow`` or ``deny``, or a JSON object
``{"decision": "allow" | "deny", "reason": "…", "scope": "once" | "session" | "project" |
"global"}``. Anything else — a non-zero exit, a timeout, no answer, garbage — is a deny whose
reason says what went wrong. The command runs in its own session with stdin a pipe, so it can
neither read the terminal nor outlive its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
from pathlib import Path
from typing import Any

from mentra.errors import ConfigError
from mentra.permissions.decide import SCOPES, ApprovalAnswer, PermissionRequest, Scope

REQUEST_VERSION = 1
_MAX_ANSWER_BYTES = 65536


# words the shell runs itself: a command line starting with one needs no program on PATH
_SHELL_WORDS = frozenset(
    [
        ".",
        ":",
        "[",
        "alias",
        "case",
        "cd",
        "command",
        "eval",
        "exec",
        "exit",
        "export",
        "for",
        "if",
        "printf",
        "read",
        "set",
        "test",
        "true",
        "false",
        "echo",
        "type",
        "ulimit",
        "umask",
        "unset",
        "until",
        "wait",
        "while",
        "{",
        "(",
        "!",
    ]
)


def check_approval_command(command: str, cwd: Path | None = None) -> None:
    """Refuse, before a run, an ``--approval-command`` whose program cannot run: otherwise
    every ask would be denied ("could not start", exit 127) and the run would still succeed.

    The command is a shell string; its program is the first word after any ``NAME=value``
    assignments. A word with a slash is a path (relative to ``cwd``) that must be an executable
    file; a bare word must be a shell builtin or found on ``PATH``. Raises `ConfigError`."""
    label = f"--approval-command {command!r}"
    try:
        words = shlex.split(command, comments=True)
    except ValueError as exc:
        raise ConfigError(f"{label}: cannot be parsed as a shell command ({exc})") from None
    while words and "=" in words[0] and words[0].split("=", 1)[0].isidentifier():
        words.pop(0)
    if not words:
        raise ConfigError(f"{label}: names no command")
    program = words[0]
    if program in _SHELL_WORDS or program.startswith(("(", "{")):
        return
    if "/" not in program:
        if shutil.which(program) is None:
            raise ConfigError(f"{label}: {program}: command not found on PATH")
        return
    path = Path(program).expanduser()
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    if not path.exists():
        raise ConfigError(f"{label}: {program}: no such file")
    if path.is_dir():
        raise ConfigError(f"{label}: {program}: is a directory")
    if not os.access(path, os.X_OK):
        raise ConfigError(f"{label}: {program}: not executable (chmod +x it)")


class CommandApprover:
    kind = "approval_command"

    def __init__(self, command: str, timeout_s: float = 60.0, *, cwd: Path | None = None) -> None:
        self.command = command
        self.timeout_s = timeout_s
        self.cwd = cwd

    def payload(self, request: PermissionRequest) -> bytes:
        body: dict[str, Any] = {"type": "permission_request", "version": REQUEST_VERSION}
        body.update(request.to_json())
        body["cwd"] = str(self.cwd or Path.cwd())
        return (json.dumps(body, ensure_ascii=False, default=str) + "\n").encode()

    async def approve(self, request: PermissionRequest) -> ApprovalAnswer:
        try:
            proc = await asyncio.create_subprocess_shell(
                self.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.cwd,
                start_new_session=True,
            )
        except OSError as exc:
            return _deny(f"approval command could not start: {exc}")
        try:
            out, err = await asyncio.wait_for(
                proc.communicate(self.payload(request)), timeout=self.timeout_s
            )
        except TimeoutError:
            await _kill(proc)
            return _deny(f"approval command gave no answer within {self.timeout_s:g}s")
        except BaseException:
            await _kill(proc)
            raise
        if proc.returncode != 0:
            tail = _tail(err)
            return _deny(
                f"approval command exited with status {proc.returncode}"
                + (f": {tail}" if tail else "")
            )
        return parse_answer(out[:_MAX_ANSWER_BYTES].decode("utf-8", errors="replace"))


def parse_answer(text: str) -> ApprovalAnswer:
    """``allow``/``deny`` or a JSON object; anything else is a deny saying why."""
    stripped = text.strip()
    word = stripped.lower()
    if word in ("allow", "deny"):
        return ApprovalAnswer(allow=word == "allow", reason=f"approval command answered {word}")
    if not stripped:
        return _deny("approval command printed no answer (expected allow or deny)")
    try:
        data = json.loads(stripped)
    except ValueError:
        return _deny(f"approval command answered {_clip(stripped)!r} (expected allow or deny)")
    if not isinstance(data, dict):
        return _deny(f"approval command answered {_clip(stripped)!r} (expected allow or deny)")
    decision = data.get("decision")
    reason = data.get("reason")
    scope = data.get("scope")
    if decision not in ("allow", "deny"):
        return _deny(f"approval command answered decision={decision!r} (expected allow or deny)")
    if reason is not None and not isinstance(reason, str):
        return _deny("approval command answered a reason that is not a string")
    if scope is not None and scope not in SCOPES:
        return _deny(f"approval command answered scope={scope!r} (one of {', '.join(SCOPES)})")
    checked: Scope | None = scope
    return ApprovalAnswer(
        allow=decision == "allow",
        reason=reason or f"approval command answered {decision}",
        scope=checked,
    )


def _deny(reason: str) -> ApprovalAnswer:
    return ApprovalAnswer(allow=False, reason=reason)


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _tail(err: bytes) -> str:
    lines = err.decode("utf-8", errors="replace").strip().splitlines()
    return _clip(lines[-1].strip()) if lines else ""


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(proc.wait(), timeout=5)
