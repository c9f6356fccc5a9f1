"""Event sinks: JSONL on stdout (each line out as soon as the run waits), and a people's view
on stderr."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Literal

from mentra.events import AssistantTokenDelta, Event, RunFinished

OutputFormat = Literal["jsonl", "json", "text"]


class OutputSink:
    """Writes what ``--output`` asks for on stdout; remembers the last event for the caller.

    Lines are gathered and written by the sink itself, so that a burst of stream deltas costs
    one write even where stdout is unbuffered (``PYTHONUNBUFFERED=1``, common in containers).
    When the reader of stdout goes away (``mentra run | head -1``), ``on_closed`` is called
    once, as SIGPIPE would, and later output is dropped.
    """

    def __init__(
        self,
        fmt: OutputFormat,
        *,
        last_message_file: Path | None = None,
        console: Any = None,
        stream: BinaryIO | None = None,
        on_closed: Callable[[], None] | None = None,
    ) -> None:
        self.fmt = fmt
        self.out = stream if stream is not None else sys.stdout.buffer
        self.last_message_file = last_message_file
        self.console = console
        self.on_closed = on_closed
        self.finished: RunFinished | None = None
        self.last_message_error: str | None = None  # writing --output-last-message failed
        self.closed = False
        self._wrote = False  # --output-last-message was written by an earlier turn
        self._pending: list[bytes] = []
        self._flush_scheduled = False

    def __call__(self, event: Event) -> None:
        if self.console is not None:
            self.console(event)
        if self.fmt == "jsonl":
            self._pending.append(event.__pydantic_serializer__.to_json(event) + b"\n")
            if type(event) is AssistantTokenDelta:
                self._flush_soon()
            else:
                self.flush()
        if isinstance(event, RunFinished):
            self.finished = event
            self._finish(event)

    def _flush_soon(self) -> None:
        """Deltas parsed from one network read go out together, when the event loop next
        waits (on the network): one write per burst, not per delta, and no later than the
        stream delivers them. Without a running loop, at once."""
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what is pending, in order."""
        self._flush_scheduled = False
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._write(data)

    def _write(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self.out.write(data)
            self.out.flush()
        except (BrokenPipeError, ValueError):  # the reader is gone, or stdout was closed
            self._reader_gone()

    def _reader_gone(self) -> None:
        self.closed = True
        if self.out is sys.stdout.buffer:
            # what Python's docs advise: point stdout at /dev/null, so that nothing (not even
            # the interpreter's flush at exit) writes to the dead pipe again
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                os.close(devnull)
        if self.on_closed is not None:
            self.on_closed()

    def _finish(self, event: RunFinished) -> None:
        if self.fmt == "json":
            self._write(event.model_dump_json(indent=2).encode() + b"\n")
        elif self.fmt == "text" and event.final_text is not None and event.status == "success":
            text = event.final_text
            self._write(text.encode() + (b"" if text.endswith("\n") else b"\n"))
        # a stream's turn without an answer empties what an earlier turn wrote: the file
        # holds the answer of the run (or turn) that ended the process, or nothing
        last = event.final_text if event.final_text is not None else "" if self._wrote else None
        if self.last_message_file is not None and last is not None:
            self._wrote = True
            try:
                self.last_message_file.write_text(last, encoding="utf-8")
            except OSError as exc:
                self.last_message_error = (
                    f"--output-last-message: cannot write {self.last_message_file}: "
                    f"{exc.strerror or exc}"
                )
