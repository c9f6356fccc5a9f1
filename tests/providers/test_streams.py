"""Every wire adapter over every named fixture, on `httpx.MockTransport` and on a real server on
127.0.0.1, each body served once whole and once cut mid-line and mid-UTF-8-character."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from mentra.errors import ProviderError
from mentra.messages import ReasoningBlock, TextBlock, ToolUseBlock
from providers.harness import Harness, Reply, collect, fixture, request_for, split_everywhere

UTF8 = "Grüße aus Zürich — 日本語のテキスト 🎉🚀 fin."
ROOT = {"openai-chat": "/v1", "openai-responses": "/v1", "anthropic": "", "gemini": ""}


@dataclass
class Expect:
    text: str = ""
    tools: list[tuple[str | None, str, dict[str, Any]]] = field(default_factory=list)
    stop: str | None = "end_turn"
    usage: dict[str, int] = field(default_factory=dict)
    reasoning: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Fails:
    transient: bool
    says: str
    status: int | None = None


CASES: dict[tuple[str, str], Expect | Fails] = {
    # -- OpenAI Chat Completions (first three recorded from the real API) -----------------
    ("openai-chat", "usage_only_final_chunk.sse"): Expect(
        text="I'm unable to provide real-time weather updates. To get the current weather in "
        "San Francisco, I recommend checking a reliable weather website or a weather app.",
        usage={"input_tokens": 14, "output_tokens": 30},
    ),
    ("openai-chat", "tool_args_many_deltas.sse"): Expect(
        tools=[
            (
                "call_c91SqDXlYFuETYv8mUHzz6pp",
                "GetWeatherArgs",
                {"city": "Edinburgh", "country": "UK", "units": "c"},
            )
        ],
        stop="tool_use",
        usage={"input_tokens": 76, "output_tokens": 24},
    ),
    ("openai-chat", "parallel_tools.sse"): Expect(
        tools=[
            (
                "call_JMW1whyEaYG438VE1OIflxA2",
                "GetWeatherArgs",
                {"city": "Edinburgh", "country": "GB", "units": "c"},
            ),
            (
                "call_DNYTawLBoN8fj3KN6qU9N1Ou",
                "get_stock_price",
                {"ticker": "AAPL", "exchange": "NASDAQ"},
            ),
        ],
        stop="tool_use",
        usage={"input_tokens": 149, "output_tokens": 60},
    ),
    ("openai-chat", "crlf.sse"): Expect(
        tools=[
            (
                "call_c91SqDXlYFuETYv8mUHzz6pp",
                "GetWeatherArgs",
                {"city": "Edinburgh", "country": "UK", "units": "c"},
            )
        ],
        stop="tool_use",
    ),
    ("openai-chat", "utf8_split.sse"): Expect(
        text=UTF8, usage={"input_tokens": 120, "cached_input_tokens": 64, "output_tokens": 17}
    ),
    ("openai-chat", "comments_ping.sse"): Expect(text="pong"),
    ("openai-chat", "empty_deltas.sse"): Expect(text="ok"),
    ("openai-chat", "parallel_tools_interleaved.sse"): Expect(
        tools=[
            ("call_a", "files", {"operations": [{"op": "read", "path": "a.txt"}]}),
            ("call_b", "shell", {"command": "git status"}),
            ("call_c", "files", {}),
        ],
        stop="tool_use",
    ),
    ("openai-chat", "error_mid_stream.sse"): Fails(True, "Upstream provider overloaded", 502),
    ("openai-chat", "closed_mid_stream.sse"): Fails(True, ""),
    # -- OpenAI Responses --------------------------------------------------------------------
    ("openai-responses", "text.sse"): Expect(
        text="Hello there!",
        usage={
            "input_tokens": 300,
            "cached_input_tokens": 128,
            "output_tokens": 60,
            "reasoning_tokens": 32,
        },
    ),
    ("openai-responses", "utf8_split.sse"): Expect(text=UTF8),
    ("openai-responses", "crlf.sse"): Expect(text="line one\r\nline two"),
    ("openai-responses", "comments_ping.sse"): Expect(text="pong"),
    ("openai-responses", "empty_deltas.sse"): Expect(text="ok"),
    ("openai-responses", "tool_args_many_deltas.sse"): Expect(
        tools=[("call_1", "files", {"operations": [{"op": "read", "path": "x.txt"}]})],
        stop="tool_use",
    ),
    ("openai-responses", "reasoning_encrypted.sse"): Expect(
        tools=[("call_1", "files", {"operations": [{"op": "read", "path": "x.txt"}]})],
        stop="tool_use",
        reasoning=[
            {
                "text": "**Reading** the file\n\nthen answer.",
                "encrypted": "gAAAAABoENCRYPTED==",
                "item_id": "rs_fixture_1",
            }
        ],
    ),
    ("openai-responses", "parallel_tools_interleaved.sse"): Expect(
        tools=[
            ("call_a", "files", {"operations": [{"op": "list", "path": "."}]}),
            ("call_b", "shell", {"command": "ls"}),
        ],
        stop="tool_use",
    ),
    ("openai-responses", "incomplete.sse"): Expect(text="Trunc", stop="max_tokens"),
    ("openai-responses", "error_mid_stream.sse"): Fails(True, "server had an error"),
    ("openai-responses", "failed.sse"): Fails(False, "Invalid prompt"),
    ("openai-responses", "closed_mid_stream.sse"): Fails(True, ""),
    # -- Anthropic Messages (first two recorded from the real API) ---------------------------
    ("anthropic", "basic_ping.sse"): Expect(
        text="Hello there!", usage={"input_tokens": 11, "output_tokens": 6}
    ),
    ("anthropic", "tool_args_many_deltas.sse"): Expect(
        text="I'll check the current weather in Paris for you.",
        tools=[("toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", {"location": "Paris"})],
        stop="tool_use",
        usage={"input_tokens": 377, "output_tokens": 65},
    ),
    ("anthropic", "crlf.sse"): Expect(
        text="I'll check the current weather in Paris for you.",
        tools=[("toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", {"location": "Paris"})],
        stop="tool_use",
    ),
    ("anthropic", "utf8_split.sse"): Expect(text=UTF8),
    ("anthropic", "comments_ping.sse"): Expect(text="pong"),
    ("anthropic", "empty_deltas.sse"): Expect(
        text="ok", tools=[("toolu_e", "files", {})], stop="tool_use"
    ),
    ("anthropic", "parallel_tools_interleaved.sse"): Expect(
        tools=[
            ("toolu_a", "files", {"operations": [{"op": "list", "path": "."}]}),
            ("toolu_b", "shell", {"command": "ls -la"}),
        ],
        stop="tool_use",
    ),
    ("anthropic", "thinking_signature.sse"): Expect(
        tools=[("toolu_fixture_1", "files", {"operations": [{"op": "read", "path": "x.txt"}]})],
        stop="tool_use",
        reasoning=[
            {
                "text": "The user wants x.txt; I should read it.",
                "signature": "EqQBCkYIARgCIkBsig/+abc==",
            },
            {
                "redacted": True,
                "encrypted": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP",
            },
        ],
    ),
    ("anthropic", "usage_cache.sse"): Expect(
        text="cached",
        usage={
            "input_tokens": 32012,
            "cached_input_tokens": 30000,
            "cache_write_tokens": 2000,
            "output_tokens": 25,
        },
    ),
    ("anthropic", "error_mid_stream.sse"): Fails(True, "Overloaded", 529),
    ("anthropic", "closed_mid_stream.sse"): Fails(True, ""),
    # -- Gemini ------------------------------------------------------------------------------
    ("gemini", "text.sse"): Expect(
        text="Hello there!",
        usage={
            "input_tokens": 200,
            "cached_input_tokens": 100,
            "output_tokens": 80,
            "reasoning_tokens": 50,
        },
    ),
    ("gemini", "utf8_split.sse"): Expect(text=UTF8),
    ("gemini", "lf_only.sse"): Expect(text="unix lines"),
    ("gemini", "comments_ping.sse"): Expect(text="pong"),
    ("gemini", "empty_deltas.sse"): Expect(text="ok"),
    ("gemini", "usage_only_final_chunk.sse"): Expect(text="Done", usage={"input_tokens": 200}),
    ("gemini", "tool_call_signature.sse"): Expect(
        text="Let me read it.",
        tools=[("gemini_call_1", "files", {"operations": [{"op": "read", "path": "x.txt"}]})],
        stop="tool_use",
        reasoning=[{"text": "", "signature": "CiQBVKhc7sig=="}],
    ),
    ("gemini", "thoughts.sse"): Expect(
        text="Answer.", reasoning=[{"text": "**Planning** the read carefully."}]
    ),
    ("gemini", "parallel_tools.sse"): Expect(
        tools=[
            ("gemini_call_1", "files", {"operations": [{"op": "list", "path": "."}]}),
            ("gemini_call_2", "shell", {"command": "ls"}),
            ("fc_third", "files", {}),
        ],
        stop="tool_use",
    ),
    ("gemini", "blocked_prompt.sse"): Fails(False, "blocked (SAFETY)"),
    ("gemini", "error_mid_stream.sse"): Fails(True, "overloaded", 503),
    ("gemini", "closed_mid_stream.sse"): Fails(True, ""),
}


def _check(expect: Expect, reply: Any) -> None:
    message = reply.message()
    assert message.text == expect.text
    tools = [(b.id, b.name, b.input) for b in message.content if isinstance(b, ToolUseBlock)]
    assert tools == expect.tools
    assert all(b.raw_input is None for b in message.content if isinstance(b, ToolUseBlock))
    assert reply.stop_reason == expect.stop
    for name, value in expect.usage.items():
        assert getattr(reply.usage, name) == value, name
    reasoning = [b for b in message.content if isinstance(b, ReasoningBlock)]
    assert len(reasoning) == len(expect.reasoning)
    for block, want in zip(reasoning, expect.reasoning, strict=True):
        for name, value in want.items():
            assert getattr(block, name) == value, name
    if reasoning:  # reasoning comes before what it led to
        kinds = [type(b) for b in message.content]
        assert kinds.index(ReasoningBlock) < kinds.index(ToolUseBlock if tools else TextBlock)


@pytest.mark.parametrize("split", [False, True], ids=["whole", "split"])
@pytest.mark.parametrize(("wire", "name"), list(CASES), ids=[f"{w}:{n}" for w, n in CASES])
async def test_fixture(harness: Harness, wire: str, name: str, split: bool) -> None:
    body = fixture(wire, name)
    closed = name.startswith("closed_mid_stream")
    reply = Reply(body=body, writes=split_everywhere(body) if split else None)
    if closed:
        reply.end = "close"
    harness.queue(reply)
    provider = harness.provider(wire, root=ROOT[wire])
    expect = CASES[(wire, name)]
    if isinstance(expect, Fails):
        with pytest.raises(ProviderError) as info:
            await collect(provider, request_for())
        err = info.value
        assert err.transient is expect.transient, err.message
        assert expect.says in err.message
        assert err.provider == wire
        if expect.status is not None:
            assert err.status_code == expect.status
        return
    _events, built = await collect(provider, request_for())
    _check(expect, built)


def test_every_fixture_file_has_a_case() -> None:
    from providers.harness import FIXTURES

    on_disk = {(p.parent.name, p.name) for p in FIXTURES.glob("*/*.sse")}
    assert on_disk == set(CASES)


@pytest.mark.parametrize("wire", list(ROOT))
async def test_headers_then_silence_hits_the_idle_timeout(harness: Harness, wire: str) -> None:
    harness.queue(Reply(body=b"", end="hang"))
    provider = harness.provider(wire, root=ROOT[wire], idle=0.2)
    with pytest.raises(ProviderError) as info:
        await collect(provider, request_for())
    assert info.value.transient
    assert "idle" in info.value.message


@pytest.mark.parametrize("wire", list(ROOT))
async def test_a_stream_with_no_terminal_event_is_transient(harness: Harness, wire: str) -> None:
    harness.queue(Reply(body=b": nothing but a comment\n\n"))
    provider = harness.provider(wire, root=ROOT[wire])
    with pytest.raises(ProviderError) as info:
        await collect(provider, request_for())
    assert info.value.transient
    assert "ended before" in info.value.message
