"""A custom Python tool that reads typed application state from its context — offline.

python examples/python/custom_tool.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel

import mentra


class Inventory:
    """Application state the tool reads (registered with `register_context`)."""

    def __init__(self, stock: dict[str, int]) -> None:
        self.stock = stock


class StockArgs(BaseModel):
    item: str


class StockTool(mentra.ArgsTool[StockArgs]):
    name: ClassVar[str] = "stock"
    description: ClassVar[str] = "How many of an item are in stock."
    Args = StockArgs

    async def run(self, args: StockArgs, ctx: mentra.ToolContext) -> mentra.ToolResult:
        inventory = ctx.app_context(Inventory)
        return mentra.ToolResult(f"{inventory.stock.get(args.item, 0)} {args.item} in stock")


SCRIPT = """
turns:
  - text: "Let me check."
    tool_calls: [{name: stock, input: {item: apples}}]
  - text: "There are 12 apples in stock."
"""


async def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "script.yaml"
        script.write_text(SCRIPT)
        runtime = mentra.Runtime.empty_builder(Path(tmp)).tool(StockTool()).build()
        runtime.register_context(Inventory({"apples": 12}))
        session = runtime.create_session("shop", f"scripted:{script}")
        async for event in session.run("How many apples?"):
            if event.type == "tool_completed":
                sys.stdout.write(f"tool: {event.output}\n")
        await runtime.aclose()
    assert session.outcome is not None
    sys.stdout.write(f"{session.outcome.final_text}\n")
    return session.outcome.exit_code


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
