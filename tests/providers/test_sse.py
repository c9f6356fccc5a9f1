"""The SSE parser over awkward byte streams."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mentra.providers._sse import iter_sse


async def parse(*chunks: bytes) -> list[tuple[str, str]]:
    async def gen() -> AsyncIterator[bytes]:
        for c in chunks:
            yield c

    return [e async for e in iter_sse(gen())]


async def test_events_names_and_multiline_data() -> None:
    got = await parse(b"event: a\ndata: 1\n\ndata: x\ndata: y\n\nid: 3\nretry: 10\ndata:z\n\n")
    assert got == [("a", "1"), ("", "x\ny"), ("", "z")]


async def test_comments_and_blank_events_are_skipped() -> None:
    got = await parse(b": ping\n\n:\n\nevent: ping\n\ndata: ok\n\n")
    assert got == [("", "ok")]


@pytest.mark.parametrize("sep", [b"\n", b"\r\n", b"\r"])
async def test_every_line_end(sep: bytes) -> None:
    body = b"event: e" + sep + b"data: 1" + sep + sep + b"data: 2" + sep + sep
    assert await parse(body) == [("e", "1"), ("", "2")]
    # one byte at a time: CRLF pairs and lines cut everywhere
    assert await parse(*[body[i : i + 1] for i in range(len(body))]) == [("e", "1"), ("", "2")]


async def test_utf8_cut_inside_a_character() -> None:
    body = "data: Zürich 日本 🎉\n\n".encode()
    cut = body.index("日".encode()) + 1
    assert await parse(body[:cut], body[cut:]) == [("", "Zürich 日本 🎉")]


async def test_pending_event_at_eof_is_delivered() -> None:
    assert await parse(b"data: last") == [("", "last")]
    assert await parse(b"data: a\ndata: b\n") == [("", "a\nb")]
    assert await parse(b"data: a\n\n: trailing comment") == [("", "a")]
