"""Start-up stays light: what `--version`, `--help` and a scripted run import (not timed)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.cli.conftest import REPO

PROBE = """
import json, sys
sys.argv = ["mentra", *json.loads(sys.argv[1])]
from mentra_cli.entry import main
try:
    main()
except SystemExit:
    pass
sys.stderr.write("\\nMODULES=" + json.dumps(sorted(sys.modules)) + "\\n")
"""


def imported(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args))],
        capture_output=True,
        text=True,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith("MODULES="))
    return set(json.loads(line.removeprefix("MODULES=")))


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
        )
        == []
    )


def test_offline_ephemeral_run_needs_no_http_store_or_rich() -> None:
    mods = imported("run", "-c", "examples/agents/demo.yaml", "hi", "--ephemeral")
    assert _has(mods, "rich", "httpx", "sqlite3", "bashlex", "jsonschema", "platformdirs") == []
    assert "mentra.agent.loop" in mods  # the probe did run the agent
