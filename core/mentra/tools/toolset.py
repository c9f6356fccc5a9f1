"""Tool sets: where an agent's tools come from, listed asynchronously, open around a session.

A `ToolSet` is entered (``async with``) when a session starts and closed when it ends, so a
set backed by a server process (MCP) starts and stops there; `list_tools` is async for the same
reason. Builtins, skills, tools registered on the runtime and a config's custom tools are
`StaticToolSet`s; ``tools.only`` and ``tools.hide`` are wrappers (`OnlyTools`, `HideTools`)
that keep their config errors at file:line:col.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType

from mentra.errors import ConfigError
from mentra.tools.base import Tool

Locate = Callable[[int], str | None]  # index in the config list -> file:line:col


class ToolSet:
    """A source of tools. ``source`` labels its tools (``builtin``, ``skill``, ``registered``,
    ``custom``…) in `mentra tools`."""

    source: str = "toolset"

    async def list_tools(self) -> list[Tool]:
        raise NotImplementedError

    def static_tools(self) -> list[Tool] | None:
        """The tools without a session, when the set knows them up front (None: it must be
        entered and listed)."""
        return None

    def tools_changed(self) -> bool:
        """Whether `list_tools` would now give another list than it last did (an MCP server
        announced ``notifications/tools/list_changed``, or died): the session lists again
        before its next model request."""
        return False

    def take_notices(self) -> list[str]:
        """What the set has to tell the user since it was last asked (an optional server that
        failed to start, one that died mid-run): each becomes a ``notice`` event."""
        return []

    async def __aenter__(self) -> ToolSet:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class StaticToolSet(ToolSet):
    def __init__(self, tools: Sequence[Tool], source: str) -> None:
        self._tools = list(tools)
        self.source = source

    async def list_tools(self) -> list[Tool]:
        return list(self._tools)

    def static_tools(self) -> list[Tool] | None:
        return list(self._tools)


class _Wrapper(ToolSet):
    def __init__(self, inner: ToolSet) -> None:
        self.inner = inner
        self.source = inner.source

    async def __aenter__(self) -> ToolSet:
        await self.inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.inner.__aexit__(exc_type, exc, tb)

    def select(self, tools: list[Tool]) -> list[Tool]:
        raise NotImplementedError

    async def list_tools(self) -> list[Tool]:
        return self.select(await self.inner.list_tools())

    def static_tools(self) -> list[Tool] | None:
        tools = self.inner.static_tools()
        return None if tools is None else self.select(tools)

    def tools_changed(self) -> bool:
        return self.inner.tools_changed()

    def take_notices(self) -> list[str]:
        return self.inner.take_notices()


class _ByName(_Wrapper):
    """A wrapper that keeps or drops tools by name; a name the inner set does not have is a
    config error at its line in the config list."""

    section: str  # the config key, for the error

    def __init__(self, inner: ToolSet, names: Sequence[str], locate: Locate) -> None:
        super().__init__(inner)
        self.names = list(names)
        self.locate = locate

    def check_names(self, tools: list[Tool]) -> None:
        known = {t.name for t in tools}
        for i, name in enumerate(self.names):
            if name not in known:
                raise ConfigError(self.unknown(name, known), location=self.locate(i))

    def unknown(self, name: str, known: set[str]) -> str:
        return f"unknown tool {name!r} in tools.{self.section}"


class OnlyTools(_ByName):
    """``tools.only``: just these names."""

    section = "only"

    def unknown(self, name: str, known: set[str]) -> str:
        return f"{super().unknown(name, known)} (known: {', '.join(sorted(known))})"

    def select(self, tools: list[Tool]) -> list[Tool]:
        self.check_names(tools)
        return [t for t in tools if t.name in self.names]


class HideTools(_ByName):
    """``tools.hide``: all but these names."""

    section = "hide"

    def select(self, tools: list[Tool]) -> list[Tool]:
        self.check_names(tools)
        return [t for t in tools if t.name not in self.names]


class CombinedTools(ToolSet):
    """Several sets as one, in order; a later set's tool replaces an earlier one of the same
    name, except where ``no_clash`` says a source may not (custom tools over builtins)."""

    def __init__(self, sets: Sequence[ToolSet]) -> None:
        self.sets = list(sets)
        self.sources: dict[str, str] = {}

    async def __aenter__(self) -> ToolSet:
        for entered, ts in enumerate(self.sets):
            try:
                await ts.__aenter__()
            except BaseException:
                for done in reversed(self.sets[:entered]):
                    await done.__aexit__(None, None, None)
                raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for ts in reversed(self.sets):
            await ts.__aexit__(exc_type, exc, tb)

    async def list_tools(self) -> list[Tool]:
        return self._merge([(ts.source, await ts.list_tools()) for ts in self.sets])

    def tools_changed(self) -> bool:
        return any(ts.tools_changed() for ts in self.sets)

    def take_notices(self) -> list[str]:
        return [notice for ts in self.sets for notice in ts.take_notices()]

    def static_tools(self) -> list[Tool] | None:
        listed: list[tuple[str, list[Tool]]] = []
        for ts in self.sets:
            tools = ts.static_tools()
            if tools is None:
                return None
            listed.append((ts.source, tools))
        return self._merge(listed)

    def _merge(self, listed: list[tuple[str, list[Tool]]]) -> list[Tool]:
        merged: dict[str, Tool] = {}
        self.sources = {}
        for source, tools in listed:
            for tool in tools:
                merged[tool.name] = tool
                # a set's tools may name their own origin (an MCP tool: ``mcp:SERVER``)
                self.sources[tool.name] = getattr(tool, "source", None) or source
        return list(merged.values())
