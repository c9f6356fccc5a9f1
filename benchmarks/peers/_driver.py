"""The shared shape of every benchmark driver (stdlib only: it runs in both virtualenvs).

A driver supplies ``make(base_url) -> run`` where ``run(model, tool) -> text`` does one agent
run against the fake server (sync or async) with ``tool`` (``None``, `noop_tool` or
`sleep_tool`) registered under the tool's ``__name__``. This module turns it into the four
scenarios, each printed as one JSON line on stdout:

    oneshot  --m M          one run, no tool; the whole process is what the harness times
    rounds   --n N          in-process: (t(N rounds) - t(0 rounds)) / N, ms, per sample
    stream   --m M          in-process: (t(M deltas) - t(1 delta)) / (M - 1), us, per sample
    parallel                in-process: one run with one round of 8 parallel 0.5 s tools, ms

The fake server scripts replies from the model name (``bench-n{N}-m{M}-p{P}``).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import sys
import time
from collections.abc import Callable
from typing import Any

SLEEP_S = 0.5


def bench_tool(i: int) -> str:
    """A trivial tool: returns its input."""
    return f"ok {i}"


def bench_sleep(i: int) -> str:
    """A slow synchronous tool: sleeps half a second."""
    time.sleep(SLEEP_S)
    return f"slept {i}"


noop_tool = bench_tool
sleep_tool = bench_sleep


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=["oneshot", "rounds", "stream", "parallel"])
    p.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:PORT/v1")
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--m", type=int, default=8)
    p.add_argument("--repeat", type=int, default=5)
    return p.parse_args(argv)


def main(make: Callable[[str], Callable[..., Any]], argv: list[str] | None = None) -> None:
    args = _parse(argv)
    run = make(args.base_url)
    if inspect.iscoroutinefunction(run):
        asyncio.run(_async_main(run, args))
    else:

        def call(model: str, tool: Any) -> Any:
            return run(model, tool)

        _emit(_scenario(call, args))


async def _async_main(run: Callable[..., Any], args: argparse.Namespace) -> None:
    out: dict[str, Any] = {}
    await _scenario_async(run, args, out)
    _emit(out)


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _check(text: Any, m: int) -> None:
    if m and not text:
        raise SystemExit("driver: the run produced no text")


def _scenario(run: Callable[[str, Any], Any], args: argparse.Namespace) -> dict[str, Any]:
    t = time.perf_counter
    if args.scenario == "oneshot":
        _check(run(f"bench-n0-m{args.m}", None), args.m)
        return {"ok": True}
    if args.scenario == "rounds":
        run("bench-n1-m1", noop_tool)  # warm-up
        samples = []
        for _ in range(args.repeat):
            t0 = t()
            run("bench-n0-m1", noop_tool)
            t1 = t()
            run(f"bench-n{args.n}-m1", noop_tool)
            t2 = t()
            samples.append(((t2 - t1) - (t1 - t0)) * 1000 / args.n)
        return {"unit": "ms", "samples": samples}
    if args.scenario == "stream":
        run("bench-n0-m1", None)
        samples = []
        for _ in range(args.repeat):
            t0 = t()
            run("bench-n0-m1", None)
            t1 = t()
            _check(run(f"bench-n0-m{args.m}", None), args.m)
            t2 = t()
            samples.append(((t2 - t1) - (t1 - t0)) * 1e6 / (args.m - 1))
        return {"unit": "us", "samples": samples}
    run("bench-n0-m1", sleep_tool)
    samples = []
    for _ in range(args.repeat):
        t0 = t()
        run("bench-n1-m1-p8", sleep_tool)
        samples.append((t() - t0) * 1000)
    return {"unit": "ms", "samples": samples}


async def _scenario_async(
    run: Callable[..., Any], args: argparse.Namespace, out: dict[str, Any]
) -> None:
    t = time.perf_counter
    if args.scenario == "oneshot":
        _check(await run(f"bench-n0-m{args.m}", None), args.m)
        out["ok"] = True
        return
    samples: list[float] = []
    if args.scenario == "rounds":
        await run("bench-n1-m1", noop_tool)
        for _ in range(args.repeat):
            t0 = t()
            await run("bench-n0-m1", noop_tool)
            t1 = t()
            await run(f"bench-n{args.n}-m1", noop_tool)
            t2 = t()
            samples.append(((t2 - t1) - (t1 - t0)) * 1000 / args.n)
        out.update(unit="ms", samples=samples)
    elif args.scenario == "stream":
        await run("bench-n0-m1", None)
        for _ in range(args.repeat):
            t0 = t()
            await run("bench-n0-m1", None)
            t1 = t()
            _check(await run(f"bench-n0-m{args.m}", None), args.m)
            t2 = t()
            samples.append(((t2 - t1) - (t1 - t0)) * 1e6 / (args.m - 1))
        out.update(unit="us", samples=samples)
    else:
        await run("bench-n0-m1", sleep_tool)
        for _ in range(args.repeat):
            t0 = t()
            await run("bench-n1-m1-p8", sleep_tool)
            samples.append((t() - t0) * 1000)
        out.update(unit="ms", samples=samples)
