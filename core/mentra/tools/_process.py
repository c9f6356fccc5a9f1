"""Running one command as a subprocess: the single implementation behind `shell` and custom tools.

The command gets its own session (so its own process group), the environment it is given and
nothing on stdin unless data is passed. Output is read as it comes: each line goes to the progress
callback, and a silent command sends a heartbeat every few seconds. Each stream keeps at most
``max_output_bytes`` (head and tail, the middle marked as cut). On timeout, cancellation, or when
the command exits leaving processes behind, the whole group is terminated: SIGTERM, a short grace,
then SIGKILL, so a child that ignores SIGTERM is gone too.

A process the command started in a session of its own (``setsid cmd &``) is outside the group
but may still hold the output pipes: once the command has exited and the pipes stayed open for
``PIPE_GRACE_SECONDS``, the processes holding them are found (``/proc/*/fd``) and stopped the same
way, and the result says so; the call never waits for the timeout on their account.

Every group is also listed with this process's guard (`mentra.tools._group_guard`, started once,
on the first command): if mentra dies, even by ``kill -9``, the guard stops the groups still
running. Background jobs are not listed; they outlive mentra on purpose.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
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
    detached_killed: int = 0  # processes outside the group that held the output pipes

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
        if self.detached_killed:
            parts.append(
                f"(the command exited, but {self.detached_killed} process(es) it started in a "
                "session of their own still held its output pipes; they were stopped and later "
                "output is lost; use background_run for long-running processes)"
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
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
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
    detached = 0
    _guard_group(proc.pid, True)
    try:
        try:
            await asyncio.wait_for(_exited(proc), timeout)
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
        if not readers.done() and not leftovers and not timed_out:
            detached = await _stop_pipe_holders(proc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(readers), PIPE_GRACE_SECONDS)
    finally:
        beater.cancel()
        if proc.returncode is None or _group_alive(proc.pid):
            await _terminate_group(proc)  # cancelled, or an error above: leave nothing behind
        _guard_group(proc.pid, False)
        if not readers.done():
            readers.cancel()
            _close_transport(proc)  # pipes still held: close our ends now, in this loop
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await readers
        with contextlib.suppress(asyncio.CancelledError):
            await beater
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
        duration=time.monotonic() - started,
        detached_killed=detached,
    )


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


async def _exited(proc: asyncio.subprocess.Process) -> None:
    """Until the command itself has exited. ``proc.wait()`` alone also waits for its pipes to
    close (Python 3.11), which a detached child can hold open for ever; the exit code is known
    before that, so it is watched too."""
    waiter = asyncio.ensure_future(proc.wait())
    delay = 0.01
    try:
        while proc.returncode is None and not waiter.done():
            await asyncio.wait({waiter}, timeout=delay)
            delay = min(delay * 2, 0.1)
    finally:
        if not waiter.done():
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter


def _pipe_fds(proc: asyncio.subprocess.Process) -> list[int]:
    """Our read ends of the command's stdout/stderr pipes."""
    transport = getattr(proc, "_transport", None)
    fds = []
    for fd in (1, 2):
        pipe = transport.get_pipe_transport(fd) if transport is not None else None
        file = pipe.get_extra_info("pipe") if pipe is not None else None
        if file is not None:
            with contextlib.suppress(OSError, ValueError):
                fds.append(file.fileno())
    return fds


def _close_transport(proc: asyncio.subprocess.Process) -> None:
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        with contextlib.suppress(Exception):
            transport.close()


def pipe_holders(fds: Sequence[int]) -> list[int]:
    """Pids (other than ours) with a descriptor on the pipe behind one of ``fds``."""
    names = set()
    for fd in fds:
        with contextlib.suppress(OSError):
            names.add(f"pipe:[{os.fstat(fd).st_ino}]")
    if not names:
        return []
    holders = []
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            links = list(Path(f"/proc/{entry.name}/fd").iterdir())
        except OSError:
            continue  # gone, or not ours to read
        for link in links:
            try:
                target = str(link.readlink())
            except OSError:
                continue
            if target in names:
                holders.append(int(entry.name))
                break
    return holders


async def _stop_pipe_holders(proc: asyncio.subprocess.Process) -> int:
    """SIGTERM, a grace, SIGKILL to the processes still holding the command's output pipes."""
    if not sys.platform.startswith("linux"):  # pragma: no cover - /proc is Linux only
        return 0
    holders = pipe_holders(_pipe_fds(proc))
    for pid in holders:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE_SECONDS
    left = holders
    while left and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        left = [pid for pid in left if _pid_running(pid)]
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(holders)


def _pid_running(pid: int) -> bool:
    fields = stat_fields(pid)
    return fields is not None and bool(fields) and fields[0] not in ("Z", "X")


_guard_lock = threading.Lock()
_guard: tuple[subprocess.Popen[bytes], int] | None = None
_guard_broken = False
GUARD_SCRIPT = Path(__file__).with_name("_group_guard.py")


def _guard_group(pgid: int, add: bool) -> None:
    """List (or unlist) a process group with the guard, starting the guard on first use."""
    global _guard, _guard_broken
    with _guard_lock:
        if _guard is None:
            if _guard_broken or not add:
                return
            try:
                _guard = _start_guard()
            except OSError:
                _guard_broken = True
                return
        try:
            os.write(_guard[1], f"{'+' if add else '-'}{pgid}\n".encode())
        except OSError:  # the guard died: groups are still stopped by the calls themselves
            _guard_broken = True


def _start_guard() -> tuple[subprocess.Popen[bytes], int]:
    read_end, write_end = os.pipe()
    try:
        guard = subprocess.Popen(
            [sys.executable, "-I", "-S", str(GUARD_SCRIPT)],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    atexit.register(_stop_guard)
    return guard, write_end


def _stop_guard() -> None:
    """At a normal exit: close the pipe (the guard exits, nothing left to stop) and reap it."""
    global _guard
    with _guard_lock:
        if _guard is None:
            return
        guard, write_end = _guard
        _guard = None
    with contextlib.suppress(OSError):
        os.close(write_end)
    with contextlib.suppress(subprocess.TimeoutExpired):
        guard.wait(timeout=2)
