"""Real `mentra run` processes against misbehaving servers on 127.0.0.1: silent and dripping
servers (#14.6), a retry after a mid-stream reset with ``--include-deltas`` (#14.5), wrong-shape
JSON (#13.2), one-line provider errors (#13.1) and short API keys (#12.6)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mentra.errors import ProviderError
from mentra.providers.registry import ProviderSettings, Timeouts, create_provider
from providers.harness import KEY_ENV, Reply, TcpHarness, collect, request_for

MENTRA = Path(sys.executable).parent / "mentra"
SSE = {"content-type": "text/event-stream"}


def chat_chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    chunk = {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": delta}]}
    chunk["choices"][0]["finish_reason"] = finish
    return f"data: {json.dumps(chunk)}\n\n".encode()


async def mentra_run(
    tmp_path: Path,
    base_url: str,
    *args: str,
    timeouts: str = "{connect: 5s, idle: 10s}",
    retries: str = "{max_attempts: 2, base_delay: 10ms, max_delay: 10ms}",
    provider: str = "fakechat",
    key: str = "dummy-key-for-tests",
    extra: str = "",
) -> tuple[int, list[dict[str, Any]], str, float]:
    config = tmp_path / "agent.yaml"
    config.write_text(
        "providers:\n"
        f"  {provider}:\n"
        f"    wire: openai-chat\n"
        f'    base_url: "{base_url}/v1"\n'
        "    api_key_env: FAKE_KEY\n"
        f"    timeouts: {timeouts}\n"
        f"    retries: {retries}\n" + extra
    )
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        str(MENTRA),
        "run",
        "-c",
        str(config),
        "-m",
        f"{provider}:m",
        "-C",
        str(tmp_path),
        "--ephemeral",
        "--no-user-config",
        *args,
        "Say hello.",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env={**os.environ, "FAKE_KEY": key},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    elapsed = time.monotonic() - started
    events = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert events and events[-1]["type"] == "run_finished", err.decode()
    assert proc.returncode is not None
    return proc.returncode, events, err.decode(), elapsed


class Dripper:
    """A server that answers with SSE headers, then sends ``line`` every ``every`` seconds
    forever (``line`` None: accepts the connection and never answers at all)."""

    def __init__(self, line: bytes | None, every: float = 0.05) -> None:
        self.line = line
        self.every = every
        self.connections = 0
        self.base_url = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Dripper:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.base_url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            if self.line is None:
                await reader.read()  # silent until the client gives up
                return
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
            )
            while True:
                writer.write(b"%x\r\n%s\r\n" % (len(self.line), self.line))
                await writer.drain()
                await asyncio.sleep(self.every)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()


def settings(base_url: str, **timeouts: float) -> ProviderSettings:
    return ProviderSettings(
        wire="openai-chat",
        base_url=base_url + "/v1",
        api_key_env=KEY_ENV,
        timeouts=Timeouts(**timeouts),
    )


async def fails_after(base_url: str, **timeouts: float) -> tuple[ProviderError, float]:
    provider = create_provider("drip", settings(base_url, **timeouts))
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        await collect(provider, request_for())
    return info.value, time.monotonic() - started


# -- #14.6: silent and dripping servers -------------------------------------------------------


def test_the_request_limit_defaults_to_ten_minutes() -> None:
    assert Timeouts().request == 600.0
    assert Timeouts.model_validate({"request": "90s"}).request == 90.0


async def test_comments_forever_trip_the_idle_timeout() -> None:
    async with Dripper(b": keep-alive\n\n") as server:
        err, took = await fails_after(server.base_url, connect=2, idle=0.4, request=30)
    assert err.transient and "idle-stream timeout" in err.message
    assert 0.35 < took < 3


async def test_comments_forever_end_at_the_request_limit() -> None:
    async with Dripper(b": keep-alive\n\n") as server:
        err, took = await fails_after(server.base_url, connect=2, idle=30, request=0.6)
    assert err.transient and "timeouts.request" in err.message
    assert 0.55 < took < 3


async def test_data_forever_ends_at_the_request_limit() -> None:
    async with Dripper(chat_chunk({"content": ""})) as server:
        err, took = await fails_after(server.base_url, connect=2, idle=0.3, request=0.8)
    assert "timeouts.request" in err.message
    assert 0.75 < took < 3


async def test_a_silent_server_trips_the_idle_timeout() -> None:
    async with Dripper(None) as server:
        err, took = await fails_after(server.base_url, connect=2, idle=0.4, request=30)
    assert err.transient and "idle-stream timeout" in err.message
    assert took < 3


async def test_a_silent_server_is_bounded_by_the_request_limit() -> None:
    async with Dripper(None) as server:
        err, took = await fails_after(server.base_url, connect=2, idle=30, request=0.5)
    assert "timeouts.request" in err.message
    assert took < 3


async def test_mentra_run_against_a_comment_dripping_server_ends_at_the_request_limit(
    tmp_path: Path,
) -> None:
    async with Dripper(b": ping\n\n") as server:
        code, events, err, took = await mentra_run(
            tmp_path, server.base_url, timeouts="{connect: 5s, idle: 60s, request: 1s}"
        )
    assert code == 3, err
    assert events[-1]["status"] == "provider_error"
    assert "timeouts.request" in events[-1]["errors"][0]
    assert [e["type"] for e in events].count("retry_attempt") == 1
    assert server.connections == 2
    assert took < 20


async def test_mentra_run_against_a_silent_server_ends_at_idle(tmp_path: Path) -> None:
    async with Dripper(None) as server:
        code, events, err, took = await mentra_run(
            tmp_path, server.base_url, timeouts="{connect: 5s, idle: 1s}"
        )
    assert code == 3, err
    assert "idle-stream timeout" in events[-1]["errors"][0]
    assert took < 20


# -- #14.5: --include-deltas across a retry ---------------------------------------------------


async def test_include_deltas_after_a_mid_stream_reset(tcp: TcpHarness, tmp_path: Path) -> None:
    partial = chat_chunk({"content": "Hello "}) + chat_chunk({"content": "from"})
    whole = (
        chat_chunk({"content": "Hello from fake server."})
        + chat_chunk({}, "stop")
        + b"data: [DONE]\n\n"
    )
    tcp.queue(Reply(body=partial, headers=SSE, end="close"), Reply(body=whole, headers=SSE))
    code, events, err, _ = await mentra_run(tmp_path, tcp.base_url, "--include-deltas")
    assert code == 0, err
    types = [e["type"] for e in events]
    retry = events[types.index("retry_attempt")]
    assert retry["discarded_partial"] is True
    assert retry["discarded_chars"] == len("Hello from")
    after = [e["delta"] for e in events[types.index("retry_attempt") :] if "delta" in e]
    assert "".join(after) == "Hello from fake server."
    assert events[-1]["final_text"] == "Hello from fake server."


async def test_a_retry_before_any_text_discards_nothing(tcp: TcpHarness, tmp_path: Path) -> None:
    whole = chat_chunk({"content": "Hi."}) + chat_chunk({}, "stop") + b"data: [DONE]\n\n"
    tcp.queue(Reply.json({"error": {"message": "busy"}}, 503), Reply(body=whole, headers=SSE))
    code, events, err, _ = await mentra_run(tmp_path, tcp.base_url)
    assert code == 0, err
    (retry,) = [e for e in events if e["type"] == "retry_attempt"]
    assert retry["discarded_partial"] is False and retry["discarded_chars"] == 0


# -- #13.2 and #13.1 in a real process ---------------------------------------------------------


async def test_mentra_run_with_wrong_shape_chunks_retries_then_exits_3(
    tcp: TcpHarness, tmp_path: Path
) -> None:
    bad = b'data: {"id": "c1", "choices": "nope"}\n\n'
    tcp.queue(Reply(body=bad, headers=SSE), Reply(body=bad, headers=SSE))
    code, events, err, _ = await mentra_run(tmp_path, tcp.base_url)
    assert code == 3, err
    assert events[-1]["status"] == "provider_error"
    assert [e["type"] for e in events].count("retry_attempt") == 1
    assert "choices is a string" in events[-1]["errors"][0]
    assert "Traceback" not in err and "internal error" not in err
    assert len(tcp.requests) == 2


async def test_mentra_run_prints_one_line_for_a_multi_line_error_body(
    tcp: TcpHarness, tmp_path: Path
) -> None:
    message = "3 validation errors:\n" + "  {'type': 'string_type', 'loc': ('body',)}\n" * 3
    tcp.queue(Reply.json({"error": {"message": message, "type": "bad"}}, 400))
    code, events, err, _ = await mentra_run(tmp_path, tcp.base_url)
    assert code == 3
    assert len(err.strip().splitlines()) == 1, err
    assert "3 validation errors:" in err and len(err) < 500
    (error,) = [e for e in events if e["type"] == "error"]
    assert json.loads(error["detail"])["error"]["message"] == message
    assert events[-1]["type"] == "run_finished"


# -- #12.6: short keys --------------------------------------------------------------------------


async def test_a_one_letter_key_does_not_mangle_the_error(tcp: TcpHarness, tmp_path: Path) -> None:
    tcp.queue(Reply.json({"error": {"message": "bad key"}}, 400))
    code, events, err, _ = await mentra_run(tmp_path, tcp.base_url, key="k")
    assert code == 3
    assert "fakechat rejected the request (HTTP 400): bad key" in err, err
    assert "***" not in err and "***" not in json.dumps(events)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_key_equal_to_the_provider_name_does_not_mangle_it(tmp_path: Path) -> None:
    code, _, err, _ = await mentra_run(
        tmp_path,
        f"http://127.0.0.1:{_closed_port()}",
        provider="ollama",
        key="ollama",
        retries="{max_attempts: 1}",
    )
    assert code == 3
    assert err.startswith("mentra: provider_error: ollama: cannot connect to"), err
    assert "***" not in err


async def test_a_long_key_echoed_back_is_redacted(tcp: TcpHarness, tmp_path: Path) -> None:
    key = "sk-live-0123456789abcdef"
    tcp.queue(Reply.json({"error": {"message": f"key {key} is revoked"}}, 401))
    code, events, err, _ = await mentra_run(tmp_path, tcp.base_url, key=key)
    assert code == 3
    assert "key *** is revoked" in err
    assert key not in err and key not in json.dumps(events)
