"""HTTP failures become actionable `ProviderError`s; transient ones carry what the loop needs."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from mentra.errors import ProviderError
from mentra.providers._http import build_client, parse_retry_after
from mentra.providers.registry import ProviderSettings, Timeouts, create_provider
from providers.harness import KEY_ENV, SECRET, Harness, Reply, TcpHarness, collect, request_for

ROOT = {"openai-chat": "/v1", "openai-responses": "/v1", "anthropic": "", "gemini": ""}
WIRES = list(ROOT)

OPENAI_401 = {
    "error": {
        "message": f"Incorrect API key provided: {SECRET}. You can find your API key at ...",
        "type": "invalid_request_error",
        "code": "invalid_api_key",
    }
}


async def fail_with(harness: Harness, wire: str, reply: Reply) -> ProviderError:
    harness.queue(reply)
    provider = harness.provider(wire, root=ROOT[wire])
    with pytest.raises(ProviderError) as info:
        await collect(provider, request_for("m-1"))
    assert SECRET not in str(info.value)
    return info.value


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors_name_the_variable(harness: Harness, wire: str, status: int) -> None:
    err = await fail_with(harness, wire, Reply.json(OPENAI_401, status))
    assert not err.transient
    assert err.status_code == status
    assert err.provider == wire
    assert KEY_ENV in err.message
    assert wire in err.message
    assert "***" in err.message  # the key the provider echoed back is masked


@pytest.mark.parametrize("wire", WIRES)
async def test_unknown_model(harness: Harness, wire: str) -> None:
    body = {"type": "error", "error": {"type": "not_found_error", "message": "model: m-1"}}
    err = await fail_with(harness, wire, Reply.json(body, 404))
    assert not err.transient
    assert "unknown model 'm-1'" in err.message
    assert "mentra models" in err.message


@pytest.mark.parametrize("wire", WIRES)
async def test_bad_request_shows_the_providers_message(harness: Harness, wire: str) -> None:
    body = {"error": {"code": 400, "message": "max_tokens: too large", "status": "INVALID"}}
    err = await fail_with(harness, wire, Reply.json(body, 400))
    assert not err.transient
    assert err.status_code == 400
    assert "max_tokens: too large" in err.message


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 529])
async def test_transient_statuses(harness: Harness, wire: str, status: int) -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    err = await fail_with(harness, wire, Reply.json(body, status, {"retry-after": "7"}))
    assert err.transient
    assert err.status_code == status
    assert err.retry_after == 7.0
    assert "Overloaded" in err.message


async def test_retry_after_as_http_date(harness: Harness) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    err = await fail_with(harness, "openai-chat", Reply.json({}, 503, {"retry-after": when}))
    assert err.retry_after is not None
    assert 25 <= err.retry_after <= 31


def test_parse_retry_after() -> None:
    assert parse_retry_after({"retry-after": "2.5"}) == 2.5
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=0) > 1e9
    past = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert parse_retry_after({"retry-after": past}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


@pytest.mark.parametrize("wire", WIRES)
async def test_missing_key_names_the_variable(
    harness: Harness, wire: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV)
    provider = harness.provider(wire, root=ROOT[wire])
    with pytest.raises(ProviderError) as info:
        await collect(provider, request_for())
    assert KEY_ENV in info.value.message
    assert not info.value.transient
    assert harness.requests == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("wire", WIRES)
async def test_connection_refused_is_transient(wire: str) -> None:
    settings = ProviderSettings(
        wire=wire,  # type: ignore[arg-type]
        base_url=f"http://127.0.0.1:{_free_port()}{ROOT[wire]}",
        api_key_env=KEY_ENV,
    )
    provider = create_provider(wire, settings)
    with pytest.raises(ProviderError) as info:
        await collect(provider, request_for())
    assert info.value.transient
    assert "cannot connect" in info.value.message


async def test_idle_timeout_fires_on_a_real_socket(tcp: TcpHarness) -> None:
    tcp.queue(Reply(body=b'data: {"choices":[]}\n\n', end="hang"))
    provider = tcp.provider("openai-chat", root="/v1", idle=0.3)
    start = datetime.now(UTC)
    with pytest.raises(ProviderError) as info:
        await collect(provider, request_for())
    elapsed = (datetime.now(UTC) - start).total_seconds()
    assert info.value.transient
    assert "no data for 0.3s" in info.value.message
    assert elapsed < 3


async def test_one_pooled_client_serves_every_request(tcp: TcpHarness) -> None:
    tcp.queue(Reply.sse("openai-chat", "comments_ping.sse"), Reply.sse("openai-chat", "crlf.sse"))
    provider = tcp.provider("openai-chat", root="/v1")
    client = provider._http.client  # type: ignore[attr-defined]
    for _ in range(2):
        async for _event in provider.stream(request_for()):
            pass
    assert provider._http.client is client  # type: ignore[attr-defined]
    assert len(tcp.requests) == 2
    await provider.aclose()


def test_build_client_timeouts() -> None:
    settings = ProviderSettings(wire="openai-chat", timeouts=Timeouts(connect=3, idle=45))
    client = build_client(settings)
    assert client.timeout == httpx.Timeout(connect=3, read=45, write=45, pool=3)
