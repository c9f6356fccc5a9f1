"""One pooled connection serves consecutive requests of a provider (no reconnect per round)."""

from __future__ import annotations

import pytest

from mentra.messages import Message
from mentra.providers.base import ModelRequest, ReplyBuilder
from providers.harness import Reply, TcpHarness

CASES = [
    ("openai-chat", "usage_only_final_chunk.sse"),
    ("openai-responses", "text.sse"),
    ("anthropic", "basic_ping.sse"),
    ("gemini", "text.sse"),
]


@pytest.mark.parametrize(("wire", "fixture_name"), CASES)
async def test_consecutive_streams_reuse_one_connection(
    tcp: TcpHarness, wire: str, fixture_name: str
) -> None:
    tcp.queue(*(Reply.sse(wire, fixture_name) for _ in range(3)))
    provider = tcp.provider(wire)
    request = ModelRequest(model="m", messages=[Message.user_text("hi")])
    try:
        for _ in range(3):
            reply = ReplyBuilder(provider.name)
            async for event in provider.stream(request):
                reply.feed(event)
            assert reply.has_content
    finally:
        await provider.aclose()
    assert len(tcp.requests) == 3
    assert tcp.connections == 1
