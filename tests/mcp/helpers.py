"""Helpers for tests/mcp (no package: a `tests/mcp/__init__.py` would shadow the SDK's `mcp`)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

FAULT = Path(__file__).with_name("fault_server.py")


def fault_args(mode: str, marker: Path) -> list[str]:
    """The fault server's argv; ``marker`` (a tmp dir) also tags its process for `alive_with`."""
    return [str(FAULT), mode, str(marker)]


def alive_with(tag: str) -> list[int]:
    """Pids of live (not zombie) processes whose command line contains ``tag`` (/proc scan)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if tag in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def wait_gone(tag: str, timeout: float = 8.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := alive_with(tag)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
