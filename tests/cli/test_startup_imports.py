"""Start-up stays light: what `--version`, `--help` and a scripted run import (not timed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import REPO

# reported from an atexit callback: `main` ends the process itself (`exit_now`)
PROBE = """
import atexit, gc, json, sys
def report():
    sys.stderr.write("\\nMODULES=" + json.dumps(sorted(sys.modules)) + "\\n")
    sys.stderr.write("GC=" + json.dumps([gc.isenabled(), gc.get_freeze_count()]) + "\\n")
    sys.stderr.flush()
atexit.register(report)
sys.argv = ["mentra", *json.loads(sys.argv[1])]
from mentra_cli.entry import main
main()
"""


def probe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args))],
        capture_output=True,
        text=True,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        timeout=60,
        env=env,
    )


def _reported(done: subprocess.CompletedProcess[str], key: str) -> Any:
    line = next(x for x in done.stderr.splitlines() if x.startswith(key + "="))
    return json.loads(line.removeprefix(key + "="))


def imported(*args: str) -> set[str]:
    return set(_reported(probe(*args), "MODULES"))


def _has(modules: set[str], *prefixes: str) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_version_imports_no_framework() -> None:
    mods = imported("--version")
    assert _has(mods, "typer", "pydantic", "rich", "httpx", "sqlite3", "asyncio", "yaml") == []


def test_help_imports_no_provider_store_or_rich() -> None:
    mods = imported("--help")
    assert (
        _has(
            mods,
            "rich",
            "httpx",
            "sqlite3",
            "asyncio",
            "mentra.store",
            "mentra.providers",
            "mentra.events",
            "bashlex",
            "jsonschema",
            "mcp",
            "mcp_types",
        )
        == []
    )


def test_offline_ephemeral_run_needs_no_http_store_or_rich() -> None:
    mods = imported("run", "-c", "examples/agents/demo.yaml", "hi", "--ephemeral")
    # platformdirs locates the stores whose remembered answers an ephemeral run reads; no
    # store exists here, so sqlite3 stays out
    assert _has(mods, "rich", "httpx", "sqlite3", "bashlex", "jsonschema") == []
    assert _has(mods, "mcp", "mcp_types", "mentra.mcp.client") == []  # no MCP server configured
    assert "mentra.agent.loop" in mods  # the probe did run the agent


def test_resuming_a_stored_agent_reads_no_yaml(tmp_path: Path) -> None:
    """The agent's config comes from the store: no YAML parser on the way to the request."""
    script = tmp_path / "s.yaml"
    script.write_text("turns:\n  - text: hi\n")
    store = str(tmp_path / "store.sqlite")
    first = probe("run", "-m", f"scripted:{script}", "go", "--store", store)
    agent_id = json.loads(first.stdout.splitlines()[0])["agent_id"]
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    done = probe("resume", agent_id, "again", "--store", store, "-m", "openai:gpt-x", env=env)
    assert "OPENAI_API_KEY" in done.stderr  # it got as far as the first request (no key: no I/O)
    mods = set(_reported(done, "MODULES"))
    assert _has(mods, "yaml", "rich") == []
    assert "mentra.providers.openai_responses" in mods


def test_mcp_sdk_is_imported_only_once_a_server_is_configured(tmp_path: Path) -> None:
    bare = tmp_path / "bare.yaml"
    bare.write_text("name: bare\n")
    assert _has(imported("mcp", "list", "-c", str(bare), "-o", "json"), "mcp", "mcp_types") == []
    one = tmp_path / "one.yaml"
    one.write_text("mcp_servers:\n  gone:\n    command: /nonexistent/server\n    optional: true\n")
    assert "mcp.client.session" in imported("mcp", "list", "-c", str(one), "-o", "json")


@pytest.mark.parametrize(
    "args",
    [
        ("run", "-c", "examples/agents/demo.yaml", "hi", "--ephemeral"),
        ("list-agents", "--output", "json"),
        ("--help",),
    ],
)
def test_collector_is_paused_for_start_up_only(args: tuple[str, ...]) -> None:
    """Start-up runs with the cyclic GC off; by the time the command runs (an agent may run for
    hours) it is back on, with what start-up built frozen out of its sight."""
    enabled, frozen = _reported(probe(*args), "GC")
    assert enabled is True
    assert frozen > 10_000
