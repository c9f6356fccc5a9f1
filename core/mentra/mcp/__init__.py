"""MCP client: servers declared under ``mcp_servers:`` (or ``--mcp-config``) as tool sets.

`mentra.mcp.config` is light (pydantic only); the SDK is imported by `mentra.mcp.client`, which
is loaded only when a server is configured.
"""
