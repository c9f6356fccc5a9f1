"""mentra in-process, through its public Python API (`mentra.runtime.Runtime`).

Run with mentra's own virtualenv. The agent is configured as the CLI would configure it from
YAML (the builtin ``openai`` provider, Responses wire, pointed at the fake server). The bench
tools are registered on the runtime: the trivial one as an async tool, the sleeping one as a
sync Python function, run the way mentra runs custom ``python:`` tools. Each run spawns an
agent and sends one turn with ``--include-deltas`` semantics, so every text delta reaches the
sink as an event. The store is a SQLite file (``BENCH_MENTRA_STORE=memory`` for the in-memory
store), so the cost per round includes the store commit. ``BENCH_MENTRA_PROVIDER=chat`` uses
the openai-chat wire.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from _driver import SLEEP_S, bench_sleep, main
from pydantic import BaseModel

from mentra.agent.session import Session
from mentra.config import AgentConfig, LoadedConfig
from mentra.runtime import RunOverrides, Runtime
from mentra.tools.base import ArgsTool, ToolContext, ToolResult


class _Args(BaseModel):
    i: int = 0


class BenchTool(ArgsTool[_Args]):
    name = "bench_tool"
    description = "A trivial tool: returns its input."
    mutates = False
    Args = _Args

    async def run(self, args: _Args, ctx: ToolContext) -> ToolResult:
        return ToolResult(f"ok {args.i}")


class BenchSleep(ArgsTool[_Args]):
    name = "bench_sleep"
    description = "A slow synchronous tool: sleeps half a second (in a worker thread)."
    mutates = False
    Args = _Args

    async def run(self, args: _Args, ctx: ToolContext) -> ToolResult:
        await asyncio.to_thread(time.sleep, SLEEP_S)
        return ToolResult(f"slept {args.i}")


def _sleep_tool() -> Any:
    """The sync sleep tool as mentra's own Python tools run it (``tools.custom`` with
    ``python:``), falling back to an async tool that sleeps in a worker thread."""
    try:
        from mentra.tools.custom import PythonTool, model_from_signature
    except ImportError:
        return BenchSleep()
    return PythonTool(
        name="bench_sleep",
        description="A slow synchronous tool: sleeps half a second.",
        func=bench_sleep,
        model=model_from_signature(bench_sleep, name="bench_sleep"),
        mutates=False,
        timeout=None,
    )


def make(base_url: str) -> Any:
    workdir = Path(tempfile.mkdtemp(prefix="mentra-bench-"))
    store: Any = None
    if os.environ.get("BENCH_MENTRA_STORE", "sqlite") == "sqlite":
        from mentra.store.sqlite import SQLiteStore

        store = SQLiteStore(workdir / "store.db")
    else:
        from mentra.store.in_memory import InMemoryStore

        store = InMemoryStore()
    runtime = Runtime(workspace=workdir, store=store, no_user_config=True)
    runtime.register_tool(BenchTool())
    runtime.register_tool(_sleep_tool())
    wire = os.environ.get("BENCH_MENTRA_PROVIDER", "openai")
    providers: dict[str, Any] = {"openai": {"base_url": base_url}}
    if wire == "chat":
        os.environ.setdefault("BENCH_KEY", "dummy")
        providers["bchat"] = {
            "wire": "openai-chat",
            "base_url": base_url,
            "api_key_env": "BENCH_KEY",
        }
    provider = "bchat" if wire == "chat" else "openai"
    deltas = os.environ.get("BENCH_MENTRA_DELTAS", "1") != "0"  # 0: deltas folded, no events
    os.environ.setdefault("OPENAI_API_KEY", "dummy")
    loaded = {
        name: LoadedConfig(
            AgentConfig.model_validate(
                {
                    "providers": providers,
                    "tools": {"only": [name]},
                    "permissions": {"mode": "bypass"},
                }
            ),
            file=None,
            marks={},
        )
        for name in ("bench_tool", "bench_sleep")
    }

    async def run(model: str, tool: Any) -> str:
        parts: list[str] = []

        def sink(event: Any) -> None:
            if getattr(event, "type", "") == "assistant_token_delta":
                parts.append(event.delta)

        cfg = loaded[
            "bench_sleep" if tool is not None and tool.__name__ == "bench_sleep" else "bench_tool"
        ]
        overrides = RunOverrides(model=f"{provider}:{model}", include_deltas=deltas)
        agent = runtime.spawn(cfg, overrides)
        outcome = await Session(agent).drive("hello", sink=sink)
        if outcome.exit_code != 0:
            raise SystemExit(f"mentra run failed: {outcome.status}: {outcome.error}")
        return "".join(parts) or (outcome.final_text or "")

    return run


if __name__ == "__main__":
    main(make)
