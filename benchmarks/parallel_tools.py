"""Eight read-only tool calls of 0.5 s each, run concurrently: the wall time should stay < 0.8 s.

A read-only custom command tool (``sleep 0.5``, no shell) goes through the same path a model's
call does: input validation, the lane check, then `run` with a real subprocess each. For
contrast, the same eight calls one after another (the mutating lane) take about 4 s.

    .venv/bin/python benchmarks/parallel_tools.py [--calls 8] [--sleep 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from mentra.permissions.policy import RuntimePolicy
from mentra.tools.base import Tool, ToolContext
from mentra.tools.custom import CustomToolSpec, build_custom_tool

OVERHEAD_SECONDS = 0.3  # 8 x 0.5 s must finish within 0.8 s: one sleep plus this


async def one_call(tool: Tool, ctx: ToolContext) -> None:
    args = tool.parse_input({})
    assert not tool.is_mutating(args)
    result = await tool.run(args, ctx)
    assert not result.is_error, result.content


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--sleep", type=float, default=0.5)
    parser.add_argument("--sequential", action="store_true", help="also time the calls in order")
    opts = parser.parse_args()

    workspace = Path(tempfile.mkdtemp(prefix="mentra-bench-"))
    ctx = ToolContext(policy=RuntimePolicy(working_dir=workspace))
    spec = CustomToolSpec(
        name="nap", description="sleep", command=["sleep", str(opts.sleep)], mutates=False
    )
    tool = build_custom_tool(spec, base_dir=workspace)

    await one_call(tool, ctx)  # warm-up: imports, first fork
    started = time.perf_counter()
    await asyncio.gather(*(one_call(tool, ctx) for _ in range(opts.calls)))
    wall = time.perf_counter() - started
    target = opts.sleep + OVERHEAD_SECONDS
    ok = wall < target
    print(
        f"{opts.calls} read-only calls x {opts.sleep}s, concurrent: {wall:.3f}s "
        f"(target < {target:.1f}s) {'ok' if ok else 'SLOW'}"
    )
    if opts.sequential:
        started = time.perf_counter()
        for _ in range(opts.calls):
            await one_call(tool, ctx)
        print(f"{opts.calls} calls in order (mutating lane): {time.perf_counter() - started:.3f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
