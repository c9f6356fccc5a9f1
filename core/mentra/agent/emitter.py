"""Stamps events with the envelope (seq, ts, ids) and hands them to the sink.

The core yields, the edge renders: the sink is a callable the CLI (or a Python caller) gives.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from mentra.events import Event, _Event

EventSink = Callable[[Event], None]
E = TypeVar("E", bound=_Event)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Emitter:
    __slots__ = ("agent_id", "run_id", "seq", "sink")

    def __init__(self, sink: EventSink, *, agent_id: str, run_id: str) -> None:
        self.sink = sink
        self.agent_id = agent_id
        self.run_id = run_id
        self.seq = 0

    def emit(self, cls: type[E], **fields: Any) -> E:
        self.seq += 1
        event = cls(
            seq=self.seq, ts=utc_now(), agent_id=self.agent_id, run_id=self.run_id, **fields
        )
        self.sink(event)  # type: ignore[arg-type]
        return event
