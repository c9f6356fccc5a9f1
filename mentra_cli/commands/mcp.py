"""`mentra mcp list` and `mentra mcp call`: start a config's MCP servers and look, or call one
tool (for debugging and scripts). The SDK is imported only once a server is configured."""

from __future__ import annotations

import json
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from mentra.errors import ConfigError, UsageError
from mentra_cli.common import cli_errors, fail, inspection_runtime, listing_format, print_listing

if TYPE_CHECKING:
    from mentra.mcp.config import HttpServerConfig, StdioServerConfig
    from mentra.permissions.policy import RuntimePolicy

T = TypeVar("T")

app = typer.Typer(
    name="mcp",
    help="Start a config's MCP servers: list them and their tools, or call one tool.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", dir_okay=False)]
McpConfigOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--mcp-config", dir_okay=False, metavar="FILE", help="Claude Code style JSON (repeatable)."
    ),
]
StrictOpt = Annotated[
    bool, typer.Option("--strict-mcp-config", help="Only the servers of --mcp-config files.")
]
CwdOpt = Annotated[Path | None, typer.Option("--cwd", "-C")]
NoUserOpt = Annotated[bool, typer.Option("--no-user-config")]


def _servers(
    config: Path | None,
    mcp_config: list[Path] | None,
    strict: bool,
    cwd: Path | None,
    no_user_config: bool,
) -> tuple[dict[str, StdioServerConfig | HttpServerConfig], RuntimePolicy]:
    from mentra.mcp.config import effective_servers

    runtime, loaded = inspection_runtime(config, cwd=cwd, no_user_config=no_user_config)
    policy = runtime.build_policy(loaded.config)
    servers = effective_servers(
        dict(loaded.config.mcp_servers), list(mcp_config or []), strict=strict
    )
    return servers, policy


@app.command("list")
def list_(
    config: ConfigOpt = None,
    mcp_config: McpConfigOpt = None,
    strict_mcp_config: StrictOpt = False,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="table | json | jsonl")
    ] = None,
    cwd: CwdOpt = None,
    no_user_config: NoUserOpt = False,
) -> None:
    """Start the servers; print name, transport, status, server, protocol and tool count.
    Exit 0 only if every non-optional server started, else 2."""
    with cli_errors():
        fmt = listing_format(output)
        servers, policy = _servers(config, mcp_config, strict_mcp_config, cwd, no_user_config)
        rows = _run(_list(servers, policy))
        print_listing(
            rows, fmt, ["name", "transport", "status", "server", "version", "protocol", "tools"]
        )
        failed = [r["name"] for r in rows if r["status"] == "failed" and not r["optional"]]
        # the table has no room for why an optional server failed; an error stays one line
        skipped = [r for r in rows if r["status"] == "failed"] if not failed else []
        for r in skipped:
            sys.stderr.write(
                f"mentra: warning: optional MCP server {r['name']!r} did not start: {r['error']}\n"
            )
        if failed:
            raise ConfigError(
                "; ".join(
                    f"MCP server {r['name']!r} failed to start: {r['error']}"
                    for r in rows
                    if r["name"] in failed
                )
            )


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work``; SIGTERM cancels it, so the servers are stopped, then exits 143."""
    import asyncio
    import signal

    terminated = False

    async def main() -> T:
        nonlocal terminated
        task = asyncio.ensure_future(work)

        def on_term() -> None:
            nonlocal terminated
            terminated = True
            task.cancel()

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, on_term)
        try:
            return await task
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        if terminated:
            raise fail("terminated (signal 15, SIGTERM)", 143) from None
        raise


async def _list(servers: dict[str, Any], policy: RuntimePolicy) -> list[dict[str, Any]]:
    if not servers:
        return []  # nothing configured: the SDK stays unloaded
    from mentra.mcp.client import McpToolSet

    toolset = McpToolSet(servers, policy)
    try:
        await toolset.start(raise_on_failure=False)
        return [s.row() for s in toolset.statuses()]
    finally:
        await toolset.close()


@app.command("call")
def call(
    server: Annotated[str, typer.Argument(help="A configured server's name.")],
    tool: Annotated[str, typer.Argument(help="The tool's name on that server.")],
    input_json: Annotated[str, typer.Argument(help="The tool's input (an object).")],
    config: ConfigOpt = None,
    mcp_config: McpConfigOpt = None,
    strict_mcp_config: StrictOpt = False,
    cwd: CwdOpt = None,
    no_user_config: NoUserOpt = False,
) -> None:
    """Call one tool and print the result as JSON ({"content", "is_error"}); exit 1 if the
    tool reported an error."""
    with cli_errors():
        try:
            args = json.loads(input_json)
        except json.JSONDecodeError as exc:
            raise UsageError(f"JSON input: {exc.msg} at column {exc.colno}") from None
        if not isinstance(args, dict):
            raise UsageError("JSON input must be an object")
        servers, policy = _servers(config, mcp_config, strict_mcp_config, cwd, no_user_config)
        if server not in servers:
            known = ", ".join(sorted(servers)) or "none"
            raise ConfigError(f"no MCP server {server!r} (configured: {known})")
        out = _run(_call({server: servers[server]}, policy, server, tool, args))
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        if out["is_error"]:
            raise typer.Exit(1)


async def _call(
    servers: dict[str, Any], policy: RuntimePolicy, server: str, tool: str, args: dict[str, Any]
) -> dict[str, Any]:
    from mentra.mcp.client import McpToolSet
    from mentra.tools.base import ToolContext, ToolInputError

    def progress(message: str, stream: str) -> None:
        sys.stderr.write(f"progress: {message}\n")

    async with McpToolSet(servers, policy) as toolset:
        name = f"mcp__{server}__{tool}"
        found = {t.name: t for t in await toolset.list_tools()}
        if name not in found:
            known = ", ".join(sorted(t.tool_name for t in found.values())) or "none"
            raise ConfigError(f"MCP server {server!r} has no tool {tool!r} (it has: {known})")
        try:
            parsed = found[name].parse_input(args)
        except ToolInputError as exc:
            raise UsageError(exc.message) from None
        result = await found[name].run(parsed, ToolContext(policy=policy, progress=progress))
        return {"content": result.content, "is_error": result.is_error}
