"""pydantic-ai (``pydantic-ai-slim[openai]``): an Agent on OpenAIChatModel, streamed events.

One provider (one AsyncOpenAI client) is made per process; each run builds an Agent, as a
user's script would, and consumes ``run_stream_events`` (text deltas, tool calls, results).
"""

from __future__ import annotations

from typing import Any

from _driver import main
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider


def make(base_url: str) -> Any:
    provider = OpenAIProvider(base_url=base_url, api_key="dummy")
    models: dict[str, OpenAIChatModel] = {}

    async def run(model: str, tool: Any) -> str:
        m = models.get(model)
        if m is None:
            m = models[model] = OpenAIChatModel(model, provider=provider)
        agent = Agent(m, tools=[tool] if tool is not None else [])
        parts: list[str] = []
        async with agent.run_stream_events("hello") as events:
            async for event in events:
                delta = getattr(event, "delta", None)
                content = getattr(delta, "content_delta", None)
                if content:
                    parts.append(content)
                else:
                    part = getattr(event, "part", None)
                    text = getattr(part, "content", None)
                    if getattr(event, "event_kind", "") == "part_start" and isinstance(text, str):
                        parts.append(text)
        return "".join(parts)

    return run


if __name__ == "__main__":
    main(make)
