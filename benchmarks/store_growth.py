"""Does the store's cost per round grow with history? And how fast is a long transcript loaded?

    .venv/bin/python benchmarks/store_growth.py [--rounds 1000] [--items 10000]

1. Commits ``--rounds`` rounds (an assistant reply with a tool call, then its result: two items,
   ~1 KB) to a fresh SQLite store and compares the mean cost of rounds 1-100 with rounds
   901-1000. The target is a ratio of at most 1.5x: a round writes only what it adds.
2. Builds an agent with ``--items`` transcript items, then times, in a fresh process, opening
   the store and ``load_transcript`` (what ``mentra resume`` does before its first request).

It prints figures; it asserts nothing (timings belong in no test).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "core"))

from mentra.messages import Message, TextBlock, ToolResultBlock, ToolUseBlock  # noqa: E402
from mentra.store.base import AgentRecord, RunRecord  # noqa: E402
from mentra.store.sqlite import SQLiteStore  # noqa: E402


def _round(i: int) -> list[Message]:
    return [
        Message(
            role="assistant",
            content=[
                TextBlock(text=f"Step {i}: let me look at the next file. " + "x" * 300),
                ToolUseBlock(id=f"call_{i}", name="files", input={"path": f"src/m{i}.py"}),
            ],
        ),
        Message(
            role="user",
            content=[ToolResultBlock(tool_use_id=f"call_{i}", content="line\n" * 100)],
        ),
    ]


def _fresh(path: Path, agent_id: str) -> tuple[SQLiteStore, RunRecord]:
    store = SQLiteStore(path)
    store.create_agent(
        AgentRecord(id=agent_id, name="bench", model="scripted:x", workspace="/bench", config={})
    )
    run = RunRecord(id=f"{agent_id}-run", agent_id=agent_id, prompt="go")
    store.begin_run(run)
    return store, run


def growth(tmp: Path, rounds: int) -> None:
    store, run = _fresh(tmp / "growth.sqlite", "growth")
    costs: list[float] = []
    try:
        for i in range(1, rounds + 1):
            messages = _round(i)
            run.rounds = i
            start = time.perf_counter()
            store.commit_round("growth", run.id, messages, run)
            costs.append(time.perf_counter() - start)
        integrity = store.integrity_check()
    finally:
        store.close()
    window = max(1, min(100, rounds // 10))
    early = statistics.mean(costs[:window]) * 1e6
    late = statistics.mean(costs[-window:]) * 1e6
    print(f"commit_round, {rounds} rounds of 2 items ({integrity=})")
    print(f"  mean per round, rounds 1-{window}: {early:8.1f} us")
    print(f"  mean per round, rounds {rounds - window + 1}-{rounds}: {late:8.1f} us")
    print(f"  ratio late/early: {late / early:.2f}x (target <= 1.5x)")


_LOADER = """
import sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[2])
from mentra.store.sqlite import SQLiteStore
t1 = time.perf_counter()
store = SQLiteStore(sys.argv[1])
t2 = time.perf_counter()
items = store.load_transcript("big")
t3 = time.perf_counter()
store.close()
print(len(items), t1 - t0, t2 - t1, t3 - t2)
"""


def big_transcript(tmp: Path, items: int) -> None:
    path = tmp / "big.sqlite"
    store, run = _fresh(path, "big")
    try:
        batch = 50  # build quickly: 25 rounds of 2 items per transaction is still append-only
        for start in range(0, items // 2, batch):
            messages = [m for i in range(start, min(start + batch, items // 2)) for m in _round(i)]
            store.commit_round("big", run.id, messages, run)
    finally:
        store.close()
    size_mb = path.stat().st_size / 1e6
    samples = []
    for _ in range(5):
        out = subprocess.run(
            [sys.executable, "-c", _LOADER, str(path), str(ROOT / "core")],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        samples.append((int(out[0]), *map(float, out[1:])))
    n = samples[0][0]
    imp, opn, load = (statistics.median(s[k] for s in samples) * 1000 for k in (1, 2, 3))
    print(f"load_transcript in a fresh process, {n} items ({size_mb:.1f} MB), median of 5")
    print(f"  import mentra.store.sqlite: {imp:6.1f} ms")
    print(f"  open the store:             {opn:6.1f} ms")
    print(f"  load_transcript:            {load:6.1f} ms")
    print(f"  total:                      {imp + opn + load:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mentra-bench-") as tmp:
        growth(Path(tmp), args.rounds)
        big_transcript(Path(tmp), args.items)


if __name__ == "__main__":
    main()
