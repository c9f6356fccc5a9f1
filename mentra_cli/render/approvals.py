"""`TerminalApprover`: the permission prompt, on stderr, answered on stdin.

Only used when stdin and stderr are both terminals (`terminal_approver_available`); a run never
waits on input that cannot come. rich is imported when the first prompt is shown.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import IO, Any

from mentra.permissions.decide import ApprovalAnswer, PermissionRequest, Scope, would_remember

_CHOICES: dict[str, tuple[bool, Scope | None, str]] = {
    "y": (True, "once", "allow once"),
    "s": (True, "session", "always allow, this session"),
    "p": (True, "project", "always allow, this project"),
    "g": (True, "global", "always allow, everywhere"),
    "n": (False, None, "deny (add a reason after n to tell the model why)"),
}


def terminal_approver_available() -> bool:
    """True when a person can answer: stdin and stderr are both terminals."""
    for stream in (sys.stdin, sys.stderr):
        try:
            if stream is None or stream.closed or not stream.isatty():
                return False
        except (AttributeError, ValueError, OSError):
            return False
    return True


class TerminalApprover:
    kind = "prompt"

    def __init__(self, *, stdin: IO[str] | None = None, stderr: IO[str] | None = None) -> None:
        self._stdin = stdin
        self._stderr = stderr
        # one prompt at a time: a run authorizes its calls in order, but subagents running
        # side by side share this approver (and the one terminal)
        self._turn = asyncio.Lock()

    async def approve(self, request: PermissionRequest) -> ApprovalAnswer:
        async with self._turn:
            return await self._ask(request)

    async def _ask(self, request: PermissionRequest) -> ApprovalAnswer:
        self._show(request)
        while True:
            line = await self._read_line_async()
            if line is None:
                return ApprovalAnswer(False, "no answer at the prompt (end of input)")
            answer = parse_choice(line)
            if answer is not None:
                return answer
            self._console().print("[yellow]answer y, s, p, g or n:[/yellow] ", end="")

    async def _read_line_async(self) -> str | None:
        """Read one line in a daemon thread: if the run is interrupted while the prompt waits,
        the process can still exit (the default executor would wait for the read to end)."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[str | None] = loop.create_future()

        def settle(line: str | None, error: BaseException | None) -> None:
            if answer.done():
                return
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(line)

        def read() -> None:
            try:
                line = self._read_line()
            except Exception as exc:
                loop.call_soon_threadsafe(settle, None, exc)
            else:
                loop.call_soon_threadsafe(settle, line, None)

        threading.Thread(target=read, name="mentra-approval", daemon=True).start()
        return await answer

    def _read_line(self) -> str | None:
        stream = self._stdin or sys.stdin
        line = stream.readline()
        return None if line == "" else line

    def _console(self) -> Any:
        from mentra_cli.render._rich import make_console

        return make_console(file=self._stderr or sys.stderr, highlight=False)

    def _show(self, request: PermissionRequest) -> None:
        from rich.markup import escape
        from rich.panel import Panel

        console = self._console()
        lines = [f"[bold]{escape(request.tool)}[/bold] wants to run:"]
        lines += [f"  {escape(s)}" for s in request.subjects] or ["  (no details)"]
        remembered = would_remember(request)
        if remembered:
            lines.append("[dim]always would remember: " + escape(", ".join(remembered)) + "[/dim]")
        else:
            lines.append("[dim]this call cannot be remembered as a rule: allow once or deny[/dim]")
        lines.append("")
        keys = [
            k for k, (_a, scope, _l) in _CHOICES.items() if remembered or scope in (None, "once")
        ]
        lines += [f"  [cyan]{key}[/cyan]  {_CHOICES[key][2]}" for key in keys]
        console.print(Panel("\n".join(lines), title="permission", border_style="yellow"))
        # escaped: rich would take a bare "[y/s/p/g/n]" for a style tag and print nothing
        console.print(f"[bold]choice[/bold] \\[{'/'.join(keys)}]: ", end="")


def parse_choice(line: str) -> ApprovalAnswer | None:
    """One line typed at the prompt -> an answer, or None to ask again."""
    text = line.strip()
    key, _, rest = text.partition(" ")
    key = key.lower()
    aliases = {"yes": "y", "no": "n", "session": "s", "project": "p", "global": "g"}
    key = aliases.get(key, key)
    if key not in _CHOICES:
        return None
    allow, scope, _label = _CHOICES[key]
    if not allow:
        return ApprovalAnswer(False, rest.strip() or "denied at the prompt")
    return ApprovalAnswer(True, "approved at the prompt", scope)
