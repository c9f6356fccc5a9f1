"""The ``compact`` tool (reference layer 3): the model asks for the compaction itself, e.g.
after finishing a phase of the work. The summary is made before the next request."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from mentra.tools.base import ArgsTool, ToolContext, ToolResult

SERVICE_KEY = "compactor"


class CompactArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CompactTool(ArgsTool[CompactArgs]):
    name: ClassVar[str] = "compact"
    description: ClassVar[str] = (
        "Summarize the conversation so far to free context. Older messages are replaced, in "
        "what you see, by a summary of the goal, progress, decisions and next steps; your "
        "recent requests and this exchange are kept. Use it after finishing a phase of work."
    )
    Args = CompactArgs

    async def run(self, args: CompactArgs, ctx: ToolContext) -> ToolResult:
        compactor = ctx.services.compactor
        if compactor is None:
            return ToolResult("Compaction is not available to this agent.", is_error=True)
        compactor.request_manual()
        return ToolResult(
            "Compaction scheduled: the conversation will be summarized before your next turn."
        )
