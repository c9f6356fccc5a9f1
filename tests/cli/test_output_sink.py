"""The JSONL sink: deltas of one burst go out in one write, in order; a closed stdout stops
the run once, like SIGPIPE."""

from __future__ import annotations

import asyncio
import io
import json

from mentra.agent.emitter import Emitter
from mentra.events import AssistantTokenDelta, Notice, RunFinished
from mentra_cli.render.sinks import OutputSink


class CountingStream(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: bytes, /) -> int:  # type: ignore[override]
        self.writes += 1
        return super().write(data)


class ClosedPipe(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data: bytes, /) -> int:  # type: ignore[override]
        raise BrokenPipeError(32, "Broken pipe")


def _lines(stream: io.BytesIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_burst_of_deltas_is_one_write_and_other_events_go_at_once() -> None:
    stream = CountingStream()
    sink = OutputSink("jsonl", stream=stream)  # type: ignore[arg-type]
    emit = Emitter(sink, agent_id="a", run_id="r").emit

    async def burst() -> None:
        for i in range(50):
            emit(AssistantTokenDelta, delta=f"d{i} ")
        assert stream.writes == 0  # nothing yet: the burst is still being parsed
        await asyncio.sleep(0)  # the loop waits (on the network, in a real run)
        assert stream.writes == 1
        emit(AssistantTokenDelta, delta="late")
        emit(Notice, message="a notice flushes what is pending with it, in order")
        assert stream.writes == 2

    asyncio.run(burst())
    lines = _lines(stream)
    assert [line["seq"] for line in lines] == list(range(1, 53))
    assert [line["type"] for line in lines[-2:]] == ["assistant_token_delta", "notice"]


def test_without_an_event_loop_every_line_goes_at_once() -> None:
    stream = CountingStream()
    sink = OutputSink("jsonl", stream=stream)  # type: ignore[arg-type]
    Emitter(sink, agent_id="a", run_id="r").emit(AssistantTokenDelta, delta="x")
    assert stream.writes == 1 and _lines(stream)[0]["delta"] == "x"


def test_a_closed_reader_is_reported_once_and_output_stops() -> None:
    closed: list[bool] = []
    sink = OutputSink("jsonl", stream=ClosedPipe(), on_closed=lambda: closed.append(True))  # type: ignore[arg-type]
    emit = Emitter(sink, agent_id="a", run_id="r").emit
    emit(Notice, message="one")
    emit(Notice, message="two")
    finished = emit(
        RunFinished,
        status="interrupted",
        exit_code=141,
        final_text=None,
        usage={},
        cost_usd=None,
        duration_ms=5,
        rounds=0,
        tool_calls=0,
        permission_denials=[],
        errors=[],
    )
    assert closed == [True] and sink.closed
    assert sink.finished is finished  # the caller still learns how the run ended
