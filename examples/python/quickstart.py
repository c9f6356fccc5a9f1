"""Quickstart: a runtime, an agent session, its events — offline, on the scripted provider.

python examples/python/quickstart.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import mentra

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


async def main() -> int:
    runtime = mentra.Runtime.builder(REPO).build()  # builtin tools, nothing persisted
    session = runtime.create_session("explorer", f"scripted:{REPO / 'examples/scripts/demo.yaml'}")
    async for event in session.run("What is this project?"):
        sys.stdout.write(f"{event.type} {getattr(event, 'name', '') or ''}\n")
    await runtime.aclose()
    assert session.outcome is not None
    sys.stdout.write(f"{session.outcome.final_text}\n")
    return session.outcome.exit_code


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
