"""MCP servers as a tool set, on the official SDK (imported here only: load this module only
when a server is configured).

Each server runs in a task of its own that enters the SDK's transport and session contexts and
leaves them when the tool set closes (anyio scopes must be left by the task that entered them);
tool calls from any task go through that session. The SDK spawns a stdio server in a session of
its own and kills its process tree on close; it sends ``notifications/cancelled`` for a call
that times out or whose caller is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import mcp_types as types
from mcp.client.session import ClientSession, IncomingMessage
from mcp.shared.exceptions import MCPError

from mentra.errors import ConfigError
from mentra.mcp.config import HttpServerConfig, StdioServerConfig
from mentra.messages import ImageBlock
from mentra.permissions.policy import RuntimePolicy
from mentra.tools.base import SchemaTool, ToolContext, ToolResult

NoticeFn = Callable[[str], None]
_STDERR_LINES = 10


@dataclass(slots=True)
class ServerStatus:
    name: str
    transport: str
    status: str  # running | failed | stopped | dead
    optional: bool
    server_name: str | None = None
    server_version: str | None = None
    protocol_version: str | None = None
    tools: int = 0
    error: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "transport": self.transport,
            "status": self.status,
            "server": self.server_name,
            "version": self.server_version,
            "protocol": self.protocol_version,
            "tools": self.tools,
            "optional": self.optional,
            "error": self.error,
        }


def result_images(result: types.CallToolResult) -> tuple[ImageBlock, ...]:
    """The result's images, for the wires that send tool-result images to the model (the text
    keeps a placeholder for each, for events, episodes and the wires that cannot)."""
    return tuple(
        ImageBlock(media_type=block.mime_type, data=block.data)
        for block in result.content
        if isinstance(block, types.ImageContent)
    )


def result_text(result: types.CallToolResult) -> str:
    """A tool result as the model reads it: text joined; images and audio as placeholders;
    resource links and embedded resources as text; ``structuredContent`` as JSON."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, types.TextContent):
            parts.append(block.text)
        elif isinstance(block, types.ImageContent):
            parts.append(f"[image: {block.mime_type}, {len(block.data) * 3 // 4} bytes]")
        elif isinstance(block, types.AudioContent):
            parts.append(f"[audio: {block.mime_type}, {len(block.data) * 3 // 4} bytes]")
        elif isinstance(block, types.ResourceLink):
            desc = f" ({block.description})" if block.description else ""
            parts.append(f"[resource: {block.name} <{block.uri}>{desc}]")
        elif isinstance(block, types.EmbeddedResource):
            res = block.resource
            if isinstance(res, types.TextResourceContents):
                parts.append(f"[resource <{res.uri}>]\n{res.text}")
            else:
                parts.append(f"[resource <{res.uri}>: {res.mime_type or 'binary'}]")
    data = result.structured_content
    # not a wrapped text result, and not already sent as text (MCP 2025-06-18 asks servers to)
    wrapped = data == {"result": "\n".join(parts)}
    if data is not None and not wrapped and not any(_same_json(p, data) for p in parts):
        parts.append(json.dumps(data, ensure_ascii=False, sort_keys=True))
    return "\n".join(parts)


def _same_json(text: str, data: object) -> bool:
    """True when ``text`` is ``data`` serialised (in any spacing or key order)."""
    if not text.lstrip().startswith(("{", "[")):
        return False
    try:
        return bool(json.loads(text) == data)
    except ValueError:
        return False


def stdio_env(config: StdioServerConfig, policy: RuntimePolicy) -> dict[str, str]:
    """What a stdio server sees: the policy's allowed environment plus its own ``env``."""
    return {**policy.child_env(), **config.env}


class McpTool(SchemaTool):
    """One server tool, named ``mcp__SERVER__TOOL``."""

    permission_kind = "json"

    def __init__(self, server: McpServer, tool: types.Tool) -> None:
        hints = tool.annotations
        read_only = bool(hints is not None and hints.read_only_hint is True)
        super().__init__(
            name=f"mcp__{server.name}__{tool.name}",
            description=tool.description or tool.title or tool.name,
            schema=dict(tool.input_schema),
            mutates=not read_only,
        )
        self.server = server
        self.tool_name = tool.name
        self.source = f"mcp:{server.name}"

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return await self.server.call(self.tool_name, args, ctx)


class McpServer:
    """One configured server: its connection task, tools and status."""

    def __init__(
        self,
        name: str,
        config: StdioServerConfig | HttpServerConfig,
        policy: RuntimePolicy,
        notice: NoticeFn,
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.name = name
        self.config = config
        self.policy = policy
        self.notice = notice
        self.changed = changed  # its tools differ from the last listing: list them again
        self.status = ServerStatus(name, config.transport, "stopped", config.optional)
        self.session: ClientSession | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._stderr: IO[str] | None = None
        self._stderr_seen = ""
        self._tools: list[McpTool] | None = None
        self._stale = True

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect within ``startup_timeout``; on failure the status says why (no raise)."""
        self._task = asyncio.create_task(self._serve(), name=f"mcp:{self.name}")
        waiter = asyncio.create_task(self._ready.wait())
        try:
            done, _ = await asyncio.wait(
                {waiter, self._task},
                timeout=self.config.startup_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            waiter.cancel()
        if self._ready.is_set() and self.session is not None:
            try:
                await asyncio.wait_for(self.refresh(), self.config.startup_timeout)
            except Exception as exc:  # a listing that fails is a failed start
                await self._fail(f"listing its tools failed: {_reason(exc)}")
                return
            self.status.status = "running"
            return
        if not done:
            await self._fail(f"did not finish starting within {self.config.startup_timeout:g}s")
        else:
            await self._fail(_reason(self._failure) if self._failure else "exited at start-up")

    async def _fail(self, why: str) -> None:
        await self.stop()
        tail = self.stderr_tail()
        self.status.status = "failed"
        self.status.error = why + (f"; its stderr ends: {tail}" if tail else "")

    async def _serve(self) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(self._transport())
                session = await stack.enter_async_context(
                    ClientSession(
                        read,
                        write,
                        message_handler=self._on_message,
                        client_info=_client_info(),
                    )
                )
                init = await session.initialize()
                self.session = session
                self.status.server_name = init.server_info.name
                self.status.server_version = init.server_info.version
                self.status.protocol_version = str(init.protocol_version)
                self._ready.set()
                await self._stop.wait()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._failure = exc
        finally:
            self.session = None

    def _transport(self) -> Any:
        config = self.config
        if isinstance(config, StdioServerConfig):
            from mcp.client.stdio import StdioServerParameters, stdio_client

            self._stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115 (closed in stop)
            env = stdio_env(config, self.policy)
            cwd = Path(config.cwd) if config.cwd else self.policy.working_dir
            if not cwd.is_absolute():
                cwd = self.policy.working_dir / cwd
            # `env -i`: exactly this environment (the SDK would add its own inherited defaults)
            params = StdioServerParameters(
                command="env",
                args=["-i", *(f"{k}={v}" for k, v in env.items()), config.command, *config.args],
                env={},
                cwd=str(cwd),
            )
            return stdio_client(params, errlog=self._stderr)
        from mcp.shared._httpx_utils import create_mcp_http_client

        if config.transport == "sse":
            from mcp.client.sse import sse_client

            return sse_client(config.url, headers=dict(config.headers))
        from mcp.client.streamable_http import streamable_http_client

        return _http(
            config.url, dict(config.headers), create_mcp_http_client, streamable_http_client
        )

    async def stop(self) -> None:
        self._stop.set()
        task = self._task
        if task is not None and not task.done() and not self._ready.is_set():
            task.cancel()  # still connecting: nothing to wind down politely
            with contextlib.suppress(BaseException):
                await task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), 10)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if self._stderr is not None:
            self._stderr_seen = self.stderr_tail()
            self._stderr.close()
            self._stderr = None
        if self.status.status == "running":
            self.status.status = "stopped"

    def stderr_tail(self) -> str:
        if self._stderr is None:
            return self._stderr_seen
        try:
            self._stderr.flush()
            self._stderr.seek(0)
            lines = self._stderr.read().strip().splitlines()
        except (OSError, ValueError):
            return ""
        return " | ".join(s[:300] for line in lines[-_STDERR_LINES:] if (s := line.strip()))

    # -- tools -----------------------------------------------------------------------------
    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._stale = True
            self.changed()

    async def refresh(self) -> None:
        session = self.session
        if session is None:
            return
        listed: list[types.Tool] = []
        cursor: str | None = None
        while True:
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await session.list_tools(params=params)
            listed.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        self._tools = [McpTool(self, t) for t in listed if self.config.keeps(t.name)]
        self.status.tools = len(self._tools)
        self._stale = False

    async def tools(self) -> list[McpTool]:
        if self.status.status != "running":
            return []
        if self._stale:
            try:
                await asyncio.wait_for(self.refresh(), self.config.tool_timeout)
            except Exception as exc:
                self._died(f"listing its tools failed: {_reason(exc)}")
                return []
        return list(self._tools or [])

    def _died(self, why: str) -> None:
        if self.status.status == "dead":
            return
        self.status.status = "dead"
        self.status.error = why
        self.changed()  # the next listing no longer offers its tools
        tail = self.stderr_tail()
        self.notice(
            f"MCP server {self.name!r} stopped answering ({why}); its tools now fail"
            + (f"; its stderr ends: {tail}" if tail else "")
        )

    async def call(self, tool: str, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        session = self.session
        if self.status.status != "running" or session is None:
            return ToolResult(f"MCP server {self.name!r} is not running", is_error=True)

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            shown = f"{progress:g}/{total:g}" if total is not None else f"{progress:g}"
            ctx.progress(f"{shown} {message}" if message else shown, "heartbeat")

        timeout = self.config.tool_timeout
        try:
            result = await session.call_tool(
                tool, args, read_timeout_seconds=timeout, progress_callback=on_progress
            )
        except MCPError as exc:
            if exc.error.code == types.REQUEST_TIMEOUT:
                return ToolResult(
                    f"MCP tool {tool!r} of {self.name!r} timed out after {timeout:g}s (cancelled)",
                    is_error=True,
                )
            if exc.error.code == types.CONNECTION_CLOSED:
                self._died("its connection closed")
                return ToolResult(f"MCP server {self.name!r} is gone: {exc.error.message}", True)
            return ToolResult(f"MCP error {exc.error.code}: {exc.error.message}", is_error=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._died(_reason(exc))
            return ToolResult(f"MCP server {self.name!r} failed: {_reason(exc)}", is_error=True)
        return ToolResult(
            result_text(result), is_error=bool(result.is_error), images=result_images(result)
        )


class McpToolSet:
    """The tools of every configured server, with a lifecycle: enter starts all servers
    together; exit stops them all (every path)."""

    def __init__(
        self,
        servers: dict[str, StdioServerConfig | HttpServerConfig],
        policy: RuntimePolicy,
        *,
        on_notice: NoticeFn | None = None,
    ) -> None:
        self.notices: list[str] = []
        self._on_notice = on_notice
        self.changed = False  # a server's tools changed since the last `list_tools`
        self.servers = {
            name: McpServer(name, cfg, policy, self._notice, self._changed)
            for name, cfg in servers.items()
        }

    def _changed(self) -> None:
        self.changed = True

    def _notice(self, message: str) -> None:
        self.notices.append(message)
        if self._on_notice is not None:
            self._on_notice(message)

    async def __aenter__(self) -> McpToolSet:
        try:
            await self.start(raise_on_failure=True)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self, *, raise_on_failure: bool) -> None:
        await asyncio.gather(*(s.start() for s in self.servers.values()))
        failed = []
        for server in self.servers.values():
            if server.status.status != "failed":
                continue
            line = f"MCP server {server.name!r} failed to start: {server.status.error}"
            if server.config.optional:
                self._notice(line)
            else:
                failed.append(line)
        if failed and raise_on_failure:
            raise ConfigError("\n".join(failed))

    async def close(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.servers.values()))

    async def list_tools(self) -> list[McpTool]:
        self.changed = False
        out: list[McpTool] = []
        for server in self.servers.values():
            out.extend(await server.tools())
        return out

    def statuses(self) -> list[ServerStatus]:
        return [s.status for s in self.servers.values()]


def _client_info() -> types.Implementation:
    from mentra._version import __version__

    return types.Implementation(name="mentra", version=__version__)


@contextlib.asynccontextmanager
async def _http(url: str, headers: dict[str, str], make_client: Any, connect: Any) -> Any:
    async with make_client(headers=headers) as http, connect(url, http_client=http) as streams:
        yield streams


def _reason(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _reason(exc.exceptions[0])
    if isinstance(exc, MCPError):
        return exc.error.message
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
