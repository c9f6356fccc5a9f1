"""Provider test harness: the same adapter code over `httpx.MockTransport` and over a real
HTTP/1.1 server on 127.0.0.1 that replays byte-exact SSE fixtures in chosen TCP writes.

A `Reply` says what the server sends: status, headers, the body split into ``writes`` (each
its own TCP write, so a test decides where lines and UTF-8 characters are cut), and how the
response ends: ``ok`` (complete), ``close`` (connection dropped mid-body) or ``hang`` (headers,
then silence, until the client gives up).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from mentra.providers.base import ModelRequest, Provider, ReplyBuilder, StreamEvent
from mentra.providers.registry import ProviderSettings, Timeouts, create_provider

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sse"
KEY_ENV = "MENTRA_TEST_API_KEY"
SECRET = "sk-test-SECRET-0123456789"


def fixture(wire: str, name: str) -> bytes:
    return (FIXTURES / wire / name).read_bytes()


def split_everywhere(body: bytes) -> list[bytes]:
    """Writes cut inside every multi-byte UTF-8 character and in the middle of every line."""
    cuts = {i for i in range(1, len(body)) if 0x80 <= body[i] <= 0xBF and body[i - 1] >= 0xC0}
    start = 0
    for i, byte in enumerate(body):
        if byte == 0x0A:
            cuts.add((start + i) // 2 or 1)
            start = i + 1
    cuts.discard(0)
    writes, prev = [], 0
    for cut in sorted(cuts):
        writes.append(body[prev:cut])
        prev = cut
    writes.append(body[prev:])
    return [w for w in writes if w]


@dataclass
class Reply:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "text/event-stream"})
    writes: list[bytes] | None = None
    end: Literal["ok", "close", "hang"] = "ok"

    @classmethod
    def sse(cls, wire: str, name: str, **kw: Any) -> Reply:
        return cls(body=fixture(wire, name), **kw)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls(
            body=json.dumps(data).encode(),
            status=status,
            headers={"content-type": "application/json", **(headers or {})},
        )

    def chunks(self) -> list[bytes]:
        return self.writes if self.writes is not None else [self.body]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _MockStream(httpx.AsyncByteStream):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.reply.chunks():
            yield chunk
        if self.reply.end == "close":
            raise httpx.RemoteProtocolError("peer closed connection without sending complete body")
        if self.reply.end == "hang":
            raise httpx.ReadTimeout("timed out")


class Harness:
    """One way of serving replies (``mock`` or ``tcp``), recording the requests it gets."""

    base_url: str

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[Recorded] = []

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def next_reply(self) -> Reply:
        return self.replies.popleft() if self.replies else Reply.json({"error": "no reply"}, 500)

    def client(self) -> httpx.AsyncClient | None:
        return None

    def provider(
        self,
        wire: str,
        *,
        name: str | None = None,
        root: str = "",
        idle: float = 5.0,
        headers: dict[str, str] | None = None,
        api_key_env: str | None = KEY_ENV,
    ) -> Provider:
        settings = ProviderSettings(
            wire=wire,  # type: ignore[arg-type]
            base_url=self.base_url + root,
            api_key_env=api_key_env,
            headers=headers or {},
            timeouts=Timeouts(connect=2.0, idle=idle),
        )
        return create_provider(name or wire, settings, client=self.client())


class MockHarness(Harness):
    base_url = "http://mock.test"

    def client(self) -> httpx.AsyncClient:
        def handle(request: httpx.Request) -> httpx.Response:
            url = urlsplit(str(request.url))
            self.requests.append(
                Recorded(
                    request.method,
                    url.path,
                    dict(parse_qsl(url.query)),
                    {k.lower(): v for k, v in request.headers.items()},
                    request.content,
                )
            )
            reply = self.next_reply()
            return httpx.Response(reply.status, headers=reply.headers, stream=_MockStream(reply))

        return httpx.AsyncClient(transport=httpx.MockTransport(handle))


class TcpHarness(Harness):
    """A small asyncio HTTP/1.1 server with keep-alive and chunked responses."""

    def __init__(self) -> None:
        super().__init__()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections = 0  # TCP connections accepted: shows whether clients pool them

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        self.connections += 1
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        url = urlsplit(target)
        self.requests.append(Recorded(method, url.path, dict(parse_qsl(url.query)), headers, body))
        reply = self.next_reply()
        status_line = f"HTTP/1.1 {reply.status} X\r\n"
        out = [status_line] + [f"{k}: {v}\r\n" for k, v in reply.headers.items()]
        streaming = reply.headers.get("content-type") == "text/event-stream" or reply.end != "ok"
        if streaming:
            out.append("transfer-encoding: chunked\r\n\r\n")
        else:
            out.append(f"content-length: {len(reply.body)}\r\n\r\n")
        writer.write("".join(out).encode("latin-1"))
        await writer.drain()
        if not streaming:
            writer.write(reply.body)
            await writer.drain()
            return True
        chunks = [c for c in reply.chunks() if c]  # an empty chunk would end the body
        for i, chunk in enumerate(chunks):
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
            if len(chunks) > 1:
                await asyncio.sleep(0.002 if i % 4 == 0 else 0)
        if reply.end == "close":
            writer.transport.abort()
            return False
        if reply.end == "hang":
            await reader.read()  # until the client gives up and closes
            return False
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


@pytest.fixture(params=["mock", "tcp"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "mock":
        yield MockHarness()
        return
    server = TcpHarness()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def tcp() -> AsyncIterator[TcpHarness]:
    server = TcpHarness()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)


async def collect(
    provider: Provider, request: ModelRequest
) -> tuple[list[StreamEvent], ReplyBuilder]:
    reply = ReplyBuilder(provider.name)
    events: list[StreamEvent] = []
    try:
        async for event in provider.stream(request):
            events.append(event)
            reply.feed(event)
    finally:
        await provider.aclose()
    return events, reply


def request_for(model: str = "m-1", **kw: Any) -> ModelRequest:
    from mentra.messages import Message

    return ModelRequest(model=model, messages=[Message.user_text("hi")], **kw)


Check = Callable[[ReplyBuilder], None]
