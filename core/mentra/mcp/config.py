"""MCP server declarations: the ``mcp_servers:`` mapping and Claude Code's ``--mcp-config`` JSON.

``${VAR}`` in the agent YAML is expanded with the rest of the config; in a JSON file it is
expanded the same way (an unset variable without ``:-default`` is an error naming it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mentra import _yaml
from mentra._duration import Duration
from mentra.errors import ConfigError

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")


class _Server(BaseModel):
    model_config = ConfigDict(extra="forbid")

    startup_timeout: Duration = 30.0
    tool_timeout: Duration = 60.0
    enabled_tools: list[str] | None = None
    disabled_tools: list[str] = Field(default_factory=list)
    optional: bool = False

    @model_validator(mode="after")
    def _one_filter(self) -> _Server:
        if self.enabled_tools is not None and self.disabled_tools:
            raise ValueError("give enabled_tools or disabled_tools, not both")
        return self

    def keeps(self, tool: str) -> bool:
        if self.enabled_tools is not None:
            return tool in self.enabled_tools
        return tool not in self.disabled_tools


class StdioServerConfig(_Server):
    """A server run as a child process, spoken to over its stdin/stdout."""

    command: str
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None

    @property
    def transport(self) -> str:
        return "stdio"


class HttpServerConfig(_Server):
    """A server reached over Streamable HTTP (``transport: http``) or legacy HTTP+SSE."""

    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    transport: Literal["http", "sse"] = "http"


McpServerConfig = Annotated[StdioServerConfig | HttpServerConfig, Field(union_mode="left_to_right")]


def check_server_name(name: str) -> None:
    if not _NAME_RE.match(name) or "__" in name:
        raise ConfigError(
            f"MCP server name {name!r}: use letters, digits, '-' and single '_' "
            "(tools are named mcp__SERVER__TOOL)"
        )


def parse_server(name: str, data: Any, *, where: str) -> StdioServerConfig | HttpServerConfig:
    check_server_name(name)
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: MCP server {name!r} must be a mapping")
    try:
        if "command" in data:
            return StdioServerConfig.model_validate(data)
        if "url" in data:
            return HttpServerConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(server)"
        raise ConfigError(f"{where}: MCP server {name!r}: {loc}: {err['msg']}") from None
    raise ConfigError(f"{where}: MCP server {name!r} needs a `command` (stdio) or a `url` (HTTP)")


def load_mcp_config_file(path: Path) -> dict[str, StdioServerConfig | HttpServerConfig]:
    """Claude Code's format: ``{"mcpServers": {NAME: {command, args, env} | {type, url,
    headers}}}``; ``type`` is ``stdio``, ``http`` or ``sse``."""
    where = str(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--mcp-config {where}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--mcp-config {where}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--mcp-config {where}:{exc.lineno}:{exc.colno}: {exc.msg}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("mcpServers"), dict):
        raise ConfigError(f'--mcp-config {where}: expected {{"mcpServers": {{NAME: ...}}}}')
    servers: dict[str, StdioServerConfig | HttpServerConfig] = {}
    for name, entry in raw["mcpServers"].items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: MCP server {name!r} must be an object")
        data = _yaml.interpolate_tree(dict(entry), ("mcpServers", name), {}, where)
        kind = data.pop("type", None)
        if kind == "sse":
            data["transport"] = "sse"
        elif kind == "http":
            data["transport"] = "http"
        elif kind not in (None, "stdio"):
            raise ConfigError(f"{where}: MCP server {name!r}: type must be stdio, http or sse")
        if kind == "stdio" and "command" not in data:
            raise ConfigError(f"{where}: MCP server {name!r}: a stdio server needs `command`")
        servers[name] = parse_server(name, data, where=where)
    return servers


def effective_servers(
    configured: dict[str, StdioServerConfig | HttpServerConfig],
    files: list[Path],
    *,
    strict: bool,
) -> dict[str, StdioServerConfig | HttpServerConfig]:
    """The agent's servers with those of ``--mcp-config`` files over them (later files win);
    ``strict``: only the files' servers."""
    out: dict[str, StdioServerConfig | HttpServerConfig] = {} if strict else dict(configured)
    for name in out:
        check_server_name(name)
    for path in files:
        out.update(load_mcp_config_file(path))
    return out
