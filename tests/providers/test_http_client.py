"""The one HTTP client factory: TLS set-up only where TLS can happen."""

from __future__ import annotations

import ssl

import pytest

from mentra.providers._http import _uses_tls, build_client
from mentra.providers.registry import effective_settings


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_tls_is_needed_for_https_and_for_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _uses_tls("https://api.openai.com/v1")
    assert _uses_tls(None)
    assert not _uses_tls("http://127.0.0.1:11434/v1")
    monkeypatch.setenv("HTTP_PROXY", "https://proxy.internal:3128")
    assert _uses_tls("http://127.0.0.1:11434/v1")


async def test_plain_http_client_verifies_nothing_it_could_be_fooled_by() -> None:
    client = build_client(effective_settings("ollama"))
    try:
        pool = client._transport._pool  # type: ignore[attr-defined]
        context = pool._ssl_context
        assert isinstance(context, ssl.SSLContext)
        assert context.cert_store_stats()["x509_ca"] == 0  # no bundle was loaded
    finally:
        await client.aclose()
    client = build_client(effective_settings("openai"))
    try:
        context = client._transport._pool._ssl_context  # type: ignore[attr-defined]
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    finally:
        await client.aclose()
