"""Property: whatever a server streams (a recorded stream truncated, its lines shuffled, a JSON
value swapped for one of another type, bytes that are not UTF-8), each wire's parser ends in a
`ProviderError` or a valid reply, never any other exception."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentra.errors import ProviderError
from mentra.messages import Message
from mentra.providers.base import BlockDelta, BlockStart, MessageStart, ReplyBuilder
from mentra.providers.registry import ProviderSettings, Timeouts, create_provider
from providers.harness import FIXTURES, KEY_ENV, request_for

WIRES = {"openai-chat": "/v1", "openai-responses": "/v1", "anthropic": "", "gemini": ""}
BODIES = {wire: sorted(p.read_bytes() for p in (FIXTURES / wire).glob("*.sse")) for wire in WIRES}
WRONG = [None, 0, -1, 2.5, True, "", "x", [], [1, "a"], {}, {"type": "text"}]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*path, i))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    value[path[0]] = _replace(value[path[0]], path[1:], new)
    return value


@st.composite
def mutated(draw: st.DrawFn, wire: str) -> bytes:
    body = draw(st.sampled_from(BODIES[wire]))
    lines = body.split(b"\n")
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["retype", "retype", "retype", "truncate", "shuffle", "utf8"]))
        if how == "retype":
            data = [i for i, ln in enumerate(lines) if ln.startswith(b"data: {")]
            if not data:
                continue
            i = draw(st.sampled_from(data))
            try:
                event = json.loads(lines[i][6:])
            except ValueError:
                continue
            path = draw(st.sampled_from(_paths(event)))
            event = _replace(event, path, draw(st.sampled_from(WRONG)))
            lines[i] = b"data: " + json.dumps(event).encode()
        elif how == "truncate":
            joined = b"\n".join(lines)
            lines = joined[: draw(st.integers(0, len(joined)))].split(b"\n")
        elif how == "shuffle":
            lines = draw(st.permutations(lines))
        else:
            i = draw(st.integers(0, max(0, len(lines) - 1)))
            junk = draw(st.sampled_from([b"\xff", b"\xc3", b"\xe6\x97", b"\x80\x80", b"\xf0\x9f"]))
            at = draw(st.integers(0, len(lines[i]))) if lines else 0
            if lines:
                lines[i] = lines[i][:at] + junk + lines[i][at:]
    return b"\n".join(lines)


async def _parse(wire: str, body: bytes) -> ReplyBuilder | ProviderError:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    provider = create_provider(
        wire,
        ProviderSettings(
            wire=wire,  # type: ignore[arg-type]
            base_url="http://mock.test" + WIRES[wire],
            api_key_env=KEY_ENV,
            timeouts=Timeouts(connect=2, idle=2, request=5),
        ),
        client=client,
    )
    reply = ReplyBuilder(wire)
    try:
        async for event in provider.stream(request_for()):
            if type(event) is BlockDelta:
                assert type(event.text) is str and type(event.index) is int
            elif type(event) is BlockStart:
                assert type(event.index) is int
                assert event.tool_id is None or type(event.tool_id) is str
                assert event.tool_name is None or type(event.tool_name) is str
            elif type(event) is MessageStart:
                assert event.id is None or type(event.id) is str
            reply.feed(event)
    except ProviderError as exc:
        return exc
    finally:
        await provider.aclose()
        await client.aclose()
    message = reply.message()
    assert isinstance(message, Message)
    Message.model_validate(message.model_dump())
    return reply


def _check(wire: str, body: bytes) -> None:
    outcome = asyncio.run(_parse(wire, body))
    assert isinstance(outcome, ReplyBuilder | ProviderError)


FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(body=mutated("openai-chat"))
def test_openai_chat_parser_survives_mutated_streams(body: bytes) -> None:
    _check("openai-chat", body)


@FUZZ
@given(body=mutated("openai-responses"))
def test_openai_responses_parser_survives_mutated_streams(body: bytes) -> None:
    _check("openai-responses", body)


@FUZZ
@given(body=mutated("anthropic"))
def test_anthropic_parser_survives_mutated_streams(body: bytes) -> None:
    _check("anthropic", body)


@FUZZ
@given(body=mutated("gemini"))
def test_gemini_parser_survives_mutated_streams(body: bytes) -> None:
    _check("gemini", body)
