"""An MCP server (the SDK's server side) for faults: ``python fault_server.py MODE [MARKER_DIR]``.

Modes: ``ok`` (serve), ``exit-at-start`` (stderr line, exit 3), ``hang-init`` (never answers
``initialize``). Tools: ``fail`` (isError), ``hang`` (sleeps; writes MARKER_DIR/cancelled when
cancelled), ``progress`` (three progress notifications), ``die`` (the process exits mid-call),
``env`` (its environment as JSON), ``peek`` (read-only), ``grow`` (adds a tool, announces it).
With MARKER_DIR, every message it receives is appended to MARKER_DIR/received.jsonl
(``{"method", "id", "params"}``, one a line, written as it arrives), so a test can see what the
client sent (``notifications/cancelled`` for the request id of a ``tools/call``, say).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations

MODE = sys.argv[1] if len(sys.argv) > 1 else "ok"
MARKERS = Path(sys.argv[2]) if len(sys.argv) > 2 else None

if MODE == "exit-at-start":
    sys.stderr.write("fault server: cannot open its database\n")
    sys.exit(3)
if MODE == "hang-init":
    sys.stderr.write("fault server: warming up forever\n")
    sys.stderr.flush()
    while True:
        time.sleep(1)


async def log_received(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Middleware: one line per inbound message, flushed before it is handled."""
    if MARKERS is not None:
        line = {"method": ctx.method, "id": ctx.request_id, "params": dict(ctx.params or {})}
        with (MARKERS / "received.jsonl").open("a") as log:
            log.write(json.dumps(line, default=str) + "\n")
    return await call_next(ctx)


server = MCPServer("fault-server", middleware=[log_received])


@server.tool(description="Always fails.")
def fail() -> str:
    raise RuntimeError("the tool failed on purpose")


@server.tool(description="Sleeps for a long time.")
async def hang(seconds: float = 30) -> str:
    import anyio

    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        if MARKERS is not None:
            (MARKERS / "cancelled").write_text("yes")
        raise
    return "woke up"


@server.tool(description="Reports progress three times.")
async def progress(ctx: Context) -> str:  # type: ignore[type-arg]
    for step in range(1, 4):
        await ctx.report_progress(step, 3, f"step {step}")
    return "done"


@server.tool(description="Exits the server process mid-call.")
def die() -> str:
    os._exit(7)


@server.tool(description="The server's environment.")
def env() -> str:
    return json.dumps(dict(os.environ), sort_keys=True)


@server.tool(description="Looks without changing.", annotations=ToolAnnotations(readOnlyHint=True))
def peek() -> str:
    return "peeked"


@server.tool(description="Adds a tool and says so.")
async def grow(ctx: Context) -> str:  # type: ignore[type-arg]
    server.add_tool(lambda: "new!", name="fresh", description="Added at run time.")
    await ctx.session.send_tool_list_changed()
    return "grown"


if __name__ == "__main__":
    server.run("stdio")
