"""Running one command as a subprocess: the single implementation behind `shell` and custom tools.

The command gets its own session (so its own process group), the environment it is given and
nothing on stdin unless data is passed. Output is read as it comes: each line goes to the progress
callback, and a silent command sends a heartbeat every few seconds. Each stream keeps at most
``max_output_bytes`` (head and tail, the middle marked as cut). On timeout, cancellation, or when
the command exits leaving processes behind, the whole group is terminated: SIGTERM, a short grace,
then SIGKILL, so a child that ignores SIGTERM is gone too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mentra._pids import stat_fields
from mentra.tools.base import ProgressFn

HEARTBEAT_SECONDS = 5.0
KILL_GRACE_SECONDS = 1.0
PIPE_GRACE_SECONDS = 1.0  # how long pipes may stay open after the command itself exited
PROGRESS_LINE_CHARS = 2000
# provider credentials never reach a command, whatever the policy's env_allow names
SECRET_ENV_NAMES = frozenset(
    {
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "OPENROUTER_API_KEY",
    }
)


class CommandNotFoundError(Exception):
    """The program to run does not exist or cannot be executed."""

    def __init__(self, program: str, reason: str) -> None:
        super().__init__(f"{program}: {reason}")
        self.program = program
        self.reason = reason


@dataclass(slots=True)
class ProcessOutcome:
    exit_code: int | None  # None: killed by us before it exited on its own
    stdout: str
    stderr: str
    stdout_bytes: int
    stderr_bytes: int
    stdout_truncated: bool
    stderr_truncated: bool
    timed_out: bool
    leftovers_killed: bool
    duration: float
    pipe_holders_killed: bool = False

    def render(self, *, timeout: float) -> str:
        """The text a model sees: status line, then each non-empty stream."""
        if self.timed_out:
            status = f"timed out after {timeout:g}s; the command and its process group were killed"
        elif self.exit_code is not None and self.exit_code < 0:
            status = f"killed by signal {-self.exit_code}"
        else:
            status = f"exit code: {self.exit_code}"
        parts = [status]
        if self.leftovers_killed:
            parts.append(
                "(processes the command left running were stopped; use background_run for "
                "long-running processes)"
            )
        if self.pipe_holders_killed:
            parts.append(
                "(a process the command started outside its process group still held the output "
                "pipes after the command exited; it was killed)"
            )
        for name, text in (("stdout", self.stdout), ("stderr", self.stderr)):
            if text:
                parts.append(f"[{name}]\n{text.rstrip(chr(10))}")
        if not self.stdout and not self.stderr:
            parts.append("(no output)")
        return "\n".join(parts)


class _Capture:
    """Keeps the first and last bytes of a stream, up to ``limit`` in all."""

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 2)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self._crossed = False

    def add(self, data: bytes) -> None:
        self.total += len(data)
        keep_tail = self.limit - self.limit // 2
        if self.total <= self.limit:
            self.head += data
            return
        if not self._crossed:
            # crossing the limit now: the head keeps the first half, the rest starts the tail
            self._crossed = True
            combined = bytes(self.head) + data
            self.head = bytearray(combined[: self.limit // 2])
            data = combined[self.limit // 2 :]
        self.tail += data
        if len(self.tail) > keep_tail:
            del self.tail[: len(self.tail) - keep_tail]

    @property
    def truncated(self) -> bool:
        return self.total > self.limit

    def text(self) -> str:
        if not self.truncated:
            return bytes(self.head + self.tail).decode("utf-8", errors="replace")
        cut = self.total - len(self.head) - len(self.tail)
        head = bytes(self.head).decode("utf-8", errors="replace")
        tail = bytes(self.tail).decode("utf-8", errors="replace")
        return (
            f"{head}\n[… {cut} bytes cut: {self.total} bytes in all, the first and last "
            f"{len(self.head) + len(self.tail)} kept]\n{tail}"
        )


def fenced_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` without provider API keys: the env fence applied to every command a tool starts."""
    return {k: v for k, v in env.items() if k.upper() not in SECRET_ENV_NAMES}


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float,
    max_output_bytes: int,
    progress: ProgressFn,
    stdin_data: bytes | None = None,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> ProcessOutcome:
    """Run ``argv`` (no shell) and collect its outcome. Raises `CommandNotFoundError`."""
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await loop.subprocess_exec(
            lambda: _ExitProtocol(loop),
            *argv,
            cwd=cwd,
            env=fenced_env(env),
            stdin=asyncio.subprocess.PIPE if stdin_data is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise CommandNotFoundError(argv[0], "command not found") from None
    except PermissionError:
        raise CommandNotFoundError(argv[0], "permission denied (not executable)") from None
    except NotADirectoryError:
        raise CommandNotFoundError(argv[0], "not a valid path") from None
    proc = asyncio.subprocess.Process(transport, protocol, loop)
    pipe_inodes = _pipe_inodes(transport)

    captures = {"stdout": _Capture(max_output_bytes), "stderr": _Capture(max_output_bytes)}
    last_activity = time.monotonic()
    streamed = 0

    async def pump(stream: asyncio.StreamReader | None, name: str) -> None:
        nonlocal last_activity, streamed
        if stream is None:
            return
        pending = b""
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                break
            last_activity = time.monotonic()
            captures[name].add(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                streamed = _stream_line(progress, name, line, streamed, max_output_bytes)
            if len(pending) > PROGRESS_LINE_CHARS:
                streamed = _stream_line(progress, name, pending, streamed, max_output_bytes)
                pending = b""
        if pending:
            _stream_line(progress, name, pending, streamed, max_output_bytes)

    async def beat() -> None:
        while True:
            silent_for = time.monotonic() - last_activity
            if silent_for >= heartbeat:
                progress(f"still running ({int(time.monotonic() - started)}s)", "heartbeat")
                await asyncio.sleep(heartbeat)
            else:
                await asyncio.sleep(heartbeat - silent_for)

    async def feed() -> None:
        if proc.stdin is None or stdin_data is None:
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(stdin_data)
            await proc.stdin.drain()
        proc.stdin.close()

    readers = asyncio.gather(pump(proc.stdout, "stdout"), pump(proc.stderr, "stderr"), feed())
    beater = asyncio.create_task(beat())
    timed_out = False
    leftovers = False
    pipe_holders_killed = False
    try:
        try:
            # not proc.wait(): asyncio's wait also waits for the pipes, which a detached child
            # (setsid) may hold open long after the command itself exited
            await asyncio.wait_for(asyncio.shield(protocol.exited), timeout)
        except TimeoutError:
            timed_out = True
            await _terminate_group(proc)
        try:
            # the command exited; its pipes close unless something it started still holds them
            await asyncio.wait_for(asyncio.shield(readers), PIPE_GRACE_SECONDS)
        except TimeoutError:
            pass
        leftovers = _group_alive(proc.pid) and not timed_out
        if leftovers or timed_out:
            _kill_group(proc.pid, signal.SIGKILL)
        if not readers.done():
            # something outside the group (started with setsid) still holds the output pipes
            pipe_holders_killed = _kill_pipe_holders(pipe_inodes)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(readers), PIPE_GRACE_SECONDS)
    finally:
        beater.cancel()
        if proc.returncode is None or _group_alive(proc.pid):
            await _terminate_group(proc)  # cancelled, or an error above: leave nothing behind
        if not readers.done():
            readers.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await readers
        with contextlib.suppress(asyncio.CancelledError):
            await beater
        transport.close()  # closes the pipes now, not when the loop is already gone
    out, err = captures["stdout"], captures["stderr"]
    return ProcessOutcome(
        exit_code=None if timed_out else proc.returncode,
        stdout=out.text(),
        stderr=err.text(),
        stdout_bytes=out.total,
        stderr_bytes=err.total,
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
        timed_out=timed_out,
        leftovers_killed=leftovers,
        pipe_holders_killed=pipe_holders_killed,
        duration=time.monotonic() - started,
    )


class _ExitProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """The stream protocol plus a future set when the process exits (pipes may stay open)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=2**16, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


def _pipe_inodes(transport: asyncio.SubprocessTransport) -> set[str]:
    """The `/proc/PID/fd` link targets of the command's stdout and stderr pipes."""
    found = set()
    for fd in (1, 2):
        pipe = transport.get_pipe_transport(fd)
        raw = pipe.get_extra_info("pipe") if pipe is not None else None
        if raw is not None:
            with contextlib.suppress(OSError, ValueError):
                found.add(f"pipe:[{os.fstat(raw.fileno()).st_ino}]")
    return found


def _kill_pipe_holders(targets: set[str]) -> bool:
    """SIGKILL every other process holding one of the pipes; whether there was one."""
    proc_dir = Path("/proc")
    if not targets or not proc_dir.is_dir():
        return False
    me, killed = os.getpid(), False
    for entry in proc_dir.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        links = set()
        for fd in fds:
            with contextlib.suppress(OSError):
                links.add(str(fd.readlink()))
        if links & targets:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed = True
    return killed


def _stream_line(progress: ProgressFn, name: str, line: bytes, streamed: int, cap: int) -> int:
    """Send one output line as progress, up to ``cap`` bytes per call in all."""
    if streamed > cap:
        return streamed
    streamed += len(line) + 1
    if streamed > cap:
        progress("[output continues; no more lines streamed]", name)
        return streamed
    text = line.decode("utf-8", errors="replace").rstrip("\r")
    if len(text) > PROGRESS_LINE_CHARS:
        text = text[:PROGRESS_LINE_CHARS] + " […]"
    progress(text, name)
    return streamed


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies waiting to be reaped do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        fields = stat_fields(int(entry.name))  # state ppid pgrp ...
        if fields and len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


async def _terminate_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM to the group, a grace period, then SIGKILL to whatever is left of it."""
    _kill_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE_SECONDS
    while time.monotonic() < deadline:
        if proc.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 0.05)
        else:
            await asyncio.sleep(0.05)
        if proc.returncode is not None and not _group_alive(proc.pid):
            return
    _kill_group(proc.pid, signal.SIGKILL)
    if proc.returncode is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5)
