"""The one place that builds HTTP clients and turns HTTP faults into `ProviderError`s.

Every adapter talks to its API through an `Endpoint`: one pooled ``httpx.AsyncClient`` per
provider, reused across requests (a new client costs an SSL context, ~20 ms), with a connect
timeout and a read timeout equal to the idle-stream timeout, so a server that goes silent
mid-stream fails instead of hanging. Moving to another HTTP library is a change to this file.

Nothing here retries: the agent loop does, guided by ``ProviderError.transient`` and
``retry_after``. API keys are read from the environment at request time and scrubbed from
every error message.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn

import httpx

from mentra._version import __version__
from mentra.errors import TRANSIENT_STATUSES, ProviderError, one_line, redact
from mentra.providers._sse import SSEEvent, iter_sse
from mentra.providers.base import dumps_compact
from mentra.providers.settings import ProviderSettings

AuthHeaders = Callable[[str], dict[str, str]]


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


_PROXY_VARS = ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _uses_tls(base_url: str | None) -> bool:
    """Whether a client for ``base_url`` can ever speak TLS. A plain-HTTP endpoint (Ollama,
    LM Studio, vLLM on loopback) with no proxy configured never does, and then the CA bundle
    (about 50 ms to load) is not needed. Redirects are not followed, so the scheme holds."""
    if base_url is None or not base_url.startswith("http://"):
        return True
    return any(os.environ.get(name) for name in _PROXY_VARS)


def build_client(settings: ProviderSettings) -> httpx.AsyncClient:
    """A pooled client: connect timeout from settings, read timeout = idle-stream timeout."""
    t = settings.timeouts
    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=t.connect, read=t.idle, write=t.idle, pool=t.connect),
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=8, keepalive_expiry=60),
        headers={"user-agent": f"mentra/{__version__}"},
        verify=True if _uses_tls(settings.base_url) else _no_tls_context(),
    )


def _no_tls_context() -> ssl.SSLContext:
    """A context that is never used (plain HTTP), built without loading any certificates."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` in seconds or HTTP-date form."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def provider_message(body: bytes) -> str:
    """The provider's own error message from an error body (OpenAI, Anthropic, Gemini shapes)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text or "(empty response body)"
    if isinstance(data, list) and data:  # Gemini sometimes wraps the error in a list
        data = data[0]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail")
            kind = err.get("type") or err.get("status") or err.get("code")
            if isinstance(msg, str):
                return f"{msg} ({kind})" if isinstance(kind, str) and kind else msg
        elif isinstance(err, str):
            return err
    return text


class Endpoint:
    """One provider's HTTP side: headers and key, the pooled client, SSE and JSON calls."""

    def __init__(
        self,
        *,
        provider: str,
        settings: ProviderSettings,
        client: httpx.AsyncClient | None = None,
        auth: AuthHeaders = bearer,
        base_url: str | None = None,
    ) -> None:
        self.provider = provider
        self.settings = settings
        self.base_url = (base_url or settings.base_url or "").rstrip("/")
        self._client = client
        self._owns_client = client is None
        self._auth = auth

    # -- client and headers --------------------------------------------------------------------

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = build_client(self.settings)
        return self._client

    def api_key(self) -> str | None:
        env = self.settings.api_key_env
        if not env:
            return None
        key = os.environ.get(env, "").strip()
        if not key:
            raise ProviderError(
                f"{self.provider}: no API key: set the environment variable {env}",
                provider=self.provider,
            )
        return key

    def headers(self, key: str | None) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        if key:
            headers.update(self._auth(key))
        headers.update(self.settings.headers)
        return headers

    async def aclose(self) -> None:
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    # -- calls ---------------------------------------------------------------------------------

    async def sse(
        self,
        path: str,
        body: dict[str, Any] | bytes,
        *,
        model: str,
        params: dict[str, str] | None = None,
    ) -> AsyncGenerator[SSEEvent, None]:
        """POST ``body`` (a JSON object, or its encoded bytes) and yield the response's
        server-sent events."""
        key = self.api_key()
        headers = self.headers(key)
        headers["accept"] = "text/event-stream"
        content = body if isinstance(body, bytes) else dumps_compact(body).encode()
        url = self.base_url + path
        t = self.settings.timeouts
        loop = asyncio.get_running_loop()
        # Two clocks besides httpx's read timeout: ``idle`` runs from one data-bearing event to
        # the next (a server dripping ``:`` comments forever is idle), ``request`` bounds the
        # whole request, from sending it to its last event. Both are checked per network read,
        # not per event (an event is a few µs; a timer per event tripled the cost of a stream).
        deadline = loop.time() + t.request
        last_data = [loop.time()]
        response: httpx.Response | None = None
        timed_out = ""

        async def reads(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
            while True:
                async with asyncio.timeout_at(min(last_data[0] + t.idle, deadline)):
                    try:
                        chunk = await anext(chunks)
                    except StopAsyncIteration:
                        return
                yield chunk

        try:
            request = self.client.build_request(
                "POST", url, content=content, headers=headers, params=params
            )
            try:
                async with asyncio.timeout_at(deadline):
                    response = await self.client.send(request, stream=True)
                    if response.status_code >= 400:
                        await response.aread()
                        self.raise_for_status(response, key=key, model=model)
                last_data[0] = loop.time()
                async for event in iter_sse(reads(aiter(response.aiter_bytes()))):
                    last_data[0] = loop.time()
                    yield event
            except TimeoutError:
                timed_out = "request" if loop.time() >= deadline else "idle"
        except httpx.HTTPError as exc:
            self.raise_transport(exc, key=key)
        finally:
            if response is not None:
                await response.aclose()
        if timed_out == "request":
            raise self.error(
                f"{self.provider}: the request took longer than {t.request:g}s (timeouts.request)",
                key=key,
                transient=True,
            )
        if timed_out:
            raise self.error(
                f"{self.provider}: no data for {t.idle:g}s (idle-stream timeout)",
                key=key,
                transient=True,
            )

    async def get_json(self, path: str, *, params: dict[str, str] | None = None) -> Any:
        key = self.api_key()
        try:
            response = await self.client.get(
                self.base_url + path, headers=self.headers(key), params=params
            )
        except httpx.HTTPError as exc:
            self.raise_transport(exc, key=key)
        if response.status_code >= 400:
            self.raise_for_status(response, key=key, model=None)
        try:
            return response.json()
        except ValueError:
            raise ProviderError(
                f"{self.provider}: the model listing at {path} is not JSON",
                provider=self.provider,
                status_code=response.status_code,
            ) from None

    # -- errors --------------------------------------------------------------------------------

    def error(
        self,
        message: str,
        *,
        key: str | None,
        status_code: int | None = None,
        retry_after: float | None = None,
        transient: bool = False,
        detail: str | None = None,
    ) -> ProviderError:
        """A `ProviderError` whose text can never contain the API key (see `redact`)."""
        secrets = (key,)
        return ProviderError(
            redact(message, secrets),
            provider=self.provider,
            status_code=status_code,
            retry_after=retry_after,
            transient=transient,
            detail=None if detail is None else redact(detail, secrets),
        )

    def raise_for_status(
        self, response: httpx.Response, *, key: str | None, model: str | None
    ) -> NoReturn:
        status = response.status_code
        # one line of the provider's message for the error text (and stderr); the whole body
        # travels as ``detail`` into the `error` event
        detail = one_line(provider_message(response.content))
        full = response.content.decode("utf-8", "replace").strip() or None
        name = self.provider
        env = self.settings.api_key_env
        if status in (401, 403) or (status == 400 and "API_KEY_INVALID" in response.text):
            fix = f"set {env} to a valid API key" if env else "check the endpoint's credentials"
            what = "authentication failed" if status != 403 else "access denied"
            message = f"{name}: {what} (HTTP {status}): {detail}; {fix}"
        elif status == 404 and model is not None:
            from mentra.providers.settings import BUILTIN_PROVIDERS

            # a provider declared in a config is only known with that config: say so
            config = "" if name in BUILTIN_PROVIDERS else " -c CONFIG"
            message = (
                f"{name}: unknown model {model!r} (HTTP 404): {detail}; "
                f"`mentra models --provider {name}{config}` lists the available models"
                + (f" (CONFIG: the agent config that declares {name!r})" if config else "")
            )
        elif status in TRANSIENT_STATUSES or status >= 500:
            message = f"{name}: HTTP {status}: {detail}"
            raise self.error(
                message,
                key=key,
                status_code=status,
                retry_after=parse_retry_after(response.headers),
                transient=True,
                detail=full,
            )
        else:
            message = f"{name} rejected the request (HTTP {status}): {detail}"
        raise self.error(message, key=key, status_code=status, detail=full)

    def raise_transport(self, exc: httpx.HTTPError, *, key: str | None) -> NoReturn:
        name = self.provider
        t = self.settings.timeouts
        if isinstance(exc, httpx.ConnectTimeout):
            message = f"{name}: no connection to {self.base_url} within {t.connect:g}s"
        elif isinstance(exc, httpx.ConnectError):
            message = f"{name}: cannot connect to {self.base_url}: {exc}"
        elif isinstance(exc, httpx.ReadTimeout):
            message = f"{name}: no data for {t.idle:g}s (idle-stream timeout)"
        elif isinstance(exc, httpx.TimeoutException):
            message = f"{name}: timed out talking to {self.base_url}"
        elif isinstance(exc, httpx.TransportError):
            message = f"{name}: connection broke mid-response: {exc or type(exc).__name__}"
        else:
            message = f"{name}: HTTP failure: {exc}"
        raise self.error(message, key=key, transient=True) from exc


def stream_error(provider: str, message: str, *, transient: bool = True) -> ProviderError:
    """The error for a stream that broke or ended before its terminal event."""
    return ProviderError(f"{provider}: {message}", provider=provider, transient=transient)


def fail(provider: str, message: str) -> NoReturn:
    raise stream_error(provider, message)


def loads(provider: str, data: str) -> Any:
    """Decode one event's JSON; a malformed event means the stream broke (transient)."""
    try:
        return json.loads(data)
    except ValueError:
        raise stream_error(provider, f"malformed stream event: {data[:120]!r}") from None


# -- the shape of stream events ----------------------------------------------------------------
# A stream event is JSON from the network: any field may hold any type. An adapter reads each
# field it uses through one of these, so a wrong type is a broken stream (a transient
# `ProviderError` naming the field), never a TypeError in the agent loop.

_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return _JSON_TYPES.get(type(value), type(value).__name__)


def malformed(provider: str, field: str, value: Any, expected: str) -> ProviderError:
    return stream_error(
        provider, f"malformed stream event: {field} is {_json_type(value)}, expected {expected}"
    )


def obj(provider: str, value: Any, field: str) -> dict[str, Any]:
    """``value`` as an object; a missing (null) one is empty."""
    if type(value) is dict:
        return value
    if value is None:
        return {}
    raise malformed(provider, field, value, "an object")


def arr(provider: str, value: Any, field: str) -> list[Any]:
    """``value`` as an array; a missing (null) one is empty."""
    if type(value) is list:
        return value
    if value is None:
        return []
    raise malformed(provider, field, value, "an array")


def opt_str(provider: str, value: Any, field: str) -> str | None:
    if value is None or type(value) is str:
        return value
    raise malformed(provider, field, value, "a string")


def integer(provider: str, value: Any, field: str) -> int:
    if type(value) is int:
        return value
    raise malformed(provider, field, value, "an integer")


_REQUIRED: Any = object()


def str_at(provider: str, data: dict[str, Any], key: str, default: Any = _REQUIRED) -> Any:
    """``data[key]`` as a string; ``default`` when it is absent or null, if one is given."""
    value = data.get(key)
    if value is None:
        if default is not _REQUIRED:
            return default
        if key not in data:
            raise KeyError(key)
    return opt_str(provider, value, key) if value is not None else _none(provider, key)


def _none(provider: str, key: str) -> NoReturn:
    raise malformed(provider, key, None, "a string")


def int_at(provider: str, data: dict[str, Any], key: str) -> int:
    """``data[key]``, which must be an integer."""
    return integer(provider, data[key], key)


@contextmanager
def event_shape(provider: str) -> Iterator[None]:
    """Around an adapter's event loop: a lookup the explicit checks did not cover (a missing
    key, a wrong type deeper down) is a malformed stream too."""
    try:
        yield
    except KeyError as exc:
        raise stream_error(provider, f"malformed stream event: missing field {exc}") from None
    except (TypeError, AttributeError, IndexError, ValueError) as exc:
        raise stream_error(provider, f"malformed stream event: {exc}") from None
