"""Real MCP servers for tests/mcp: installed by tests/mcp/install_servers.sh (`make test-servers`),
never by a test. A missing server fails the test with the script's name, it does not skip."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EVERYTHING = (
    REPO / ".cache/mcp-servers/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
)
FAULT = Path(__file__).with_name("fault_server.py")
INSTALL = "tests/mcp/install_servers.sh (make test-servers)"

from tests.mcp.helpers import free_port  # noqa: E402


@pytest.fixture
def everything_js() -> str:
    if not EVERYTHING.is_file():
        pytest.fail(f"@modelcontextprotocol/server-everything is not installed: run {INSTALL}")
    return str(EVERYTHING)


@pytest.fixture
def time_server() -> list[str]:
    try:
        import mcp_server_time  # noqa: F401
    except ImportError:
        pytest.fail(f"mcp-server-time is not installed: run {INSTALL}")
    return [sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"]


@contextmanager
def serve_everything(everything_js: str, transport: str) -> Iterator[int]:
    """server-everything over an HTTP ``transport`` (streamableHttp, sse) on a free port of
    127.0.0.1, until the block ends; yields the port."""
    port = free_port()
    proc = subprocess.Popen(
        ["node", everything_js, transport],
        env={"PATH": os.environ.get("PATH", ""), "PORT": str(port)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"server-everything ({transport}) did not start")
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def everything_http(everything_js: str) -> Iterator[str]:
    """server-everything over Streamable HTTP; its URL on 127.0.0.1."""
    with serve_everything(everything_js, "streamableHttp") as port:
        yield f"http://127.0.0.1:{port}/mcp"


@pytest.fixture
def everything_sse(everything_js: str) -> Iterator[str]:
    """server-everything over the legacy HTTP+SSE transport; its URL on 127.0.0.1."""
    with serve_everything(everything_js, "sse") as port:
        yield f"http://127.0.0.1:{port}/sse"
