"""The memory tools: `memory_search` (read-only), `memory_pin` and `memory_forget` (mutating).

They act through the run's `MemorySession` (``ctx.services.memory``), which knows the
agent, the scope and where to emit ``memory_updated``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from mentra.memory.base import MAX_SEARCH_LIMIT
from mentra.tools.base import ArgsTool, ToolContext, ToolResult

if TYPE_CHECKING:
    from mentra.memory.session import MemorySession


def _session(ctx: ToolContext) -> MemorySession | None:
    session: MemorySession | None = ctx.services.memory
    return session


_NO_MEMORY = ToolResult("Long-term memory is not available in this run.", is_error=True)


class SearchArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, description="words to look for")
    limit: int = Field(5, ge=1, le=MAX_SEARCH_LIMIT, description="hits to return (at most 10)")


class MemorySearchTool(ArgsTool[SearchArgs]):
    name = "memory_search"
    description = (
        "Search long-term memory (facts pinned earlier, summaries, and episodes of earlier "
        "runs). Returns a JSON list of {id, kind, content, score, timestamp, source, "
        "why_retrieved}, best first."
    )
    mutates = False
    Args = SearchArgs

    async def run(self, args: SearchArgs, ctx: ToolContext) -> ToolResult:
        session = _session(ctx)
        if session is None:
            return _NO_MEMORY
        hits = session.search(args.query, limit=args.limit)
        return ToolResult(json.dumps([h.to_json() for h in hits], ensure_ascii=False))


class PinArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, description="the fact to remember, one self-contained line")


class MemoryPinTool(ArgsTool[PinArgs]):
    name = "memory_pin"
    description = (
        "Pin a fact to long-term memory so later runs can find it with memory_search "
        "(and see it recalled). Keep it short and self-contained; never pin secrets."
    )
    mutates = True
    Args = PinArgs

    async def run(self, args: PinArgs, ctx: ToolContext) -> ToolResult:
        session = _session(ctx)
        if session is None:
            return _NO_MEMORY
        record = session.pin(args.content, source="model")
        return ToolResult(f"Pinned memory {record.id}.")


class ForgetArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_id: str = Field(min_length=1, description="the id memory_search returned")


class MemoryForgetTool(ArgsTool[ForgetArgs]):
    name = "memory_forget"
    description = "Delete one long-term memory record by id (only records this agent can see)."
    mutates = True
    Args = ForgetArgs

    async def run(self, args: ForgetArgs, ctx: ToolContext) -> ToolResult:
        session = _session(ctx)
        if session is None:
            return _NO_MEMORY
        record = session.forget(args.record_id)
        if record is None:
            return ToolResult(f"No memory {args.record_id} in this scope.", is_error=True)
        return ToolResult(f"Forgot memory {record.id}.")
