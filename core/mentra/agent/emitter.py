"""Stamps events with the envelope (seq, ts, ids) and hands them to the sink.

The core yields, the edge renders: the sink is a callable the CLI (or a Python caller) gives.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from mentra.events import Event, _Event

EventSink = Callable[[Event], None]
E = TypeVar("E", bound=_Event)


_last_ms = -1
_last_stamp = ""


def utc_now() -> str:
    """RFC 3339 UTC with milliseconds. Events of one burst (stream deltas) share a
    millisecond, so the string is built once per millisecond, not once per event."""
    global _last_ms, _last_stamp
    now = time.time()
    ms = int(now * 1000)
    if ms != _last_ms:
        _last_ms = ms
        _last_stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{ms % 1000:03d}Z"
    return _last_stamp


class Emitter:
    __slots__ = ("agent_id", "run_id", "seq", "sink")

    def __init__(self, sink: EventSink, *, agent_id: str, run_id: str) -> None:
        self.sink = sink
        self.agent_id = agent_id
        self.run_id = run_id
        self.seq = 0

    def emit(self, cls: type[E], **fields: Any) -> E:
        self.seq += 1
        fields["seq"] = self.seq
        fields["ts"] = utc_now()
        fields["agent_id"] = self.agent_id
        fields["run_id"] = self.run_id
        # the model's validator, called directly: what ``cls(**fields)`` runs, minus a Python
        # frame and a re-packing of the fields (it matters per stream delta)
        event: E = cls.__pydantic_validator__.validate_python(fields)
        self.sink(event)  # type: ignore[arg-type]
        return event


class ChildEmitter(Emitter):
    """A subagent's emitter: its own ids, the parent's sink and the parent's one ``seq``
    counter (so the whole stream of a process counts 1, 2, … however many children run),
    and ``parent_run_id`` on every event."""

    __slots__ = ("parent_run_id", "root")

    def __init__(self, parent: Emitter, *, agent_id: str, run_id: str) -> None:
        super().__init__(parent.sink, agent_id=agent_id, run_id=run_id)
        self.root: Emitter = parent.root if isinstance(parent, ChildEmitter) else parent
        self.parent_run_id = parent.run_id

    def emit(self, cls: type[E], **fields: Any) -> E:
        root = self.root
        root.seq += 1
        self.seq = root.seq
        fields["seq"] = root.seq
        fields["ts"] = utc_now()
        fields["agent_id"] = self.agent_id
        fields["run_id"] = self.run_id
        fields["parent_run_id"] = self.parent_run_id
        event: E = cls.__pydantic_validator__.validate_python(fields)
        self.sink(event)  # type: ignore[arg-type]
        return event
