"""Event sinks: JSONL on stdout (flushed per line), and a people's view on stderr."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, BinaryIO, Literal

from mentra.events import Event, RunFinished

OutputFormat = Literal["jsonl", "json", "text"]


class OutputSink:
    """Writes what ``--output`` asks for on stdout; remembers the last event for the caller."""

    def __init__(
        self,
        fmt: OutputFormat,
        *,
        last_message_file: Path | None = None,
        console: Any = None,
        stream: BinaryIO | None = None,
    ) -> None:
        self.fmt = fmt
        self.out = stream if stream is not None else sys.stdout.buffer
        self.last_message_file = last_message_file
        self.console = console
        self.finished: RunFinished | None = None

    def __call__(self, event: Event) -> None:
        if self.console is not None:
            self.console(event)
        if self.fmt == "jsonl":
            self.out.write(event.__pydantic_serializer__.to_json(event) + b"\n")
            self.out.flush()
        if isinstance(event, RunFinished):
            self.finished = event
            self._finish(event)

    def _finish(self, event: RunFinished) -> None:
        if self.fmt == "json":
            self.out.write(event.model_dump_json(indent=2).encode() + b"\n")
        elif self.fmt == "text" and event.final_text is not None and event.status == "success":
            text = event.final_text
            self.out.write(text.encode() + (b"" if text.endswith("\n") else b"\n"))
        self.out.flush()
        if self.last_message_file is not None and event.final_text is not None:
            self.last_message_file.write_text(event.final_text, encoding="utf-8")
