#!/usr/bin/env bash
# The real MCP servers tests/mcp runs, from the package registries (idempotent):
# @modelcontextprotocol/server-everything (npm) into .cache/mcp-servers, mcp-server-time (PyPI)
# into the venv. Tests never install anything themselves.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PY:-.venv/bin/python}"
CACHE=.cache/mcp-servers
EVERYTHING="$CACHE/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
if [ ! -f "$EVERYTHING" ]; then
    command -v npm >/dev/null || { echo "install_servers.sh: npm (Node.js) is needed" >&2; exit 1; }
    mkdir -p "$CACHE"
    npm install --silent --no-audit --no-fund --prefix "$CACHE" @modelcontextprotocol/server-everything
fi
if ! "$PY" -c "import mcp_server_time" 2>/dev/null; then
    "$PY" -m pip install -q "mcp-server-time>=2026.1"
fi
