"""One real tool round trip per provider. Marked `live`: deselected by default, and skipped
unless the provider's key is set (`pytest -m live tests/providers/test_live.py`)."""

from __future__ import annotations

import os

import pytest

from mentra.messages import Message, ToolResultBlock
from mentra.providers.base import ModelOptions, ModelRequest, ReplyBuilder, ToolSpec
from mentra.providers.registry import BUILTIN_PROVIDERS, create_provider

pytestmark = pytest.mark.live

MODELS = {
    "openai": "gpt-5-mini",
    "anthropic": "claude-haiku-4-5",
    "gemini": "gemini-2.5-flash",
    "openrouter": "openai/gpt-4o-mini",
}
TOOL = ToolSpec(
    "secret_word",
    "Returns the secret word. Call it when asked for the secret word.",
    {"type": "object", "properties": {}, "additionalProperties": False},
)


@pytest.mark.parametrize("name", list(MODELS))
async def test_one_tool_round_trip(name: str) -> None:
    settings = BUILTIN_PROVIDERS[name]
    if not os.environ.get(settings.api_key_env or ""):
        pytest.skip(f"{settings.api_key_env} is not set")
    provider = create_provider(name, settings)
    history = [Message.user_text("What is the secret word? Use the tool, then say only the word.")]
    try:
        for round_ in range(2):
            request = ModelRequest(
                model=MODELS[name],
                messages=history,
                tools=[TOOL],
                options=ModelOptions(
                    max_output_tokens=2000, tool_choice="required" if round_ == 0 else "auto"
                ),
            )
            reply = ReplyBuilder(name)
            async for event in provider.stream(request):
                reply.feed(event)
            message = reply.message()
            history.append(message)
            assert reply.usage.input_tokens > 0
            if round_ == 0:
                (use,) = message.tool_uses
                assert use.name == "secret_word"
                history.append(
                    Message(
                        role="user", content=[ToolResultBlock(tool_use_id=use.id, content="PAPAYA")]
                    )
                )
        assert "papaya" in message.text.lower()
    finally:
        await provider.aclose()
