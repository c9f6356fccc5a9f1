"""simonw's ``llm``: the Python API on an extra OpenAI-compatible model, streamed, tools chained.

The harness writes ``extra-openai-models.yaml`` into ``LLM_USER_PATH`` (a temporary folder)
with one ``model_id`` per bench model name, all pointing at the fake server.
"""

from __future__ import annotations

from typing import Any

import llm
from _driver import main


def make(base_url: str) -> Any:
    def run(model: str, tool: Any) -> str:
        m = llm.get_model(model)
        if tool is None:
            response = m.prompt("hello", key="dummy")
            return "".join(chunk for chunk in response)
        chain = m.conversation(tools=[tool], chain_limit=1000).chain("hello", key="dummy")
        return "".join(chunk for chunk in chain)

    return run


if __name__ == "__main__":
    main(make)
