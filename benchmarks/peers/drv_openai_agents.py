"""openai-agents: an Agent on its default Responses model, ``Runner.run_streamed``.

Tracing is disabled (it would export to api.openai.com); one AsyncOpenAI client per process.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from _driver import main
from agents import (
    Agent,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai import AsyncOpenAI


def make(base_url: str) -> Any:
    set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=base_url, api_key="dummy")
    tools: dict[Any, Any] = {}

    async def run(model: str, tool: Any) -> str:
        fn_tools = []
        if tool is not None:
            if tool not in tools:
                tools[tool] = function_tool(tool)
            fn_tools = [tools[tool]]
        agent = Agent(
            name="bench",
            instructions="You are a benchmark.",
            model=OpenAIResponsesModel(model=model, openai_client=client),
            tools=fn_tools,
        )
        result = Runner.run_streamed(agent, "hello", max_turns=1000)
        parts: list[str] = []
        async for event in result.stream_events():
            if (
                event.type == "raw_response_event"
                and event.data.type == "response.output_text.delta"
            ):
                parts.append(event.data.delta)
        return "".join(parts)

    return run


if __name__ == "__main__":
    main(make)
