"""The MCP servers of an agent config as one `ToolSet` of the session.

Entering the set starts every server (`McpToolSet`), listing asks them for their tools, leaving
stops them all; the SDK (`mentra.mcp.client`) is imported only here, when a server is
configured, so a run without MCP servers never loads it.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from mentra.tools.toolset import ToolSet

if TYPE_CHECKING:
    from mentra.permissions.policy import RuntimePolicy
    from mentra.tools.base import Tool


class McpServersToolSet(ToolSet):
    """`McpToolSet` in the session's tool-set lifecycle; its tools say ``mcp:SERVER``."""

    source = "mcp"

    def __init__(self, servers: dict[str, Any], policy: RuntimePolicy) -> None:
        self.servers = servers
        self.policy = policy
        self.notices: list[str] = []
        self._inner: Any = None

    async def __aenter__(self) -> ToolSet:
        from mentra.mcp.client import McpToolSet

        self._inner = McpToolSet(self.servers, self.policy, on_notice=self.notices.append)
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            await inner.__aexit__(exc_type, exc, tb)

    async def list_tools(self) -> list[Tool]:
        if self._inner is None:
            return []
        tools: list[Tool] = list(await self._inner.list_tools())
        return tools

    def tools_changed(self) -> bool:
        return self._inner is not None and bool(self._inner.changed)

    def take_notices(self) -> list[str]:
        taken, self.notices[:] = list(self.notices), []
        return taken
