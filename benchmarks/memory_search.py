"""How long does one `memory_search` take over 10,000 records?

    .venv/bin/python benchmarks/memory_search.py [--records 10000] [--searches 200]

Fills a fresh SQLite store's memory with ``--records`` records (facts, summaries and episodes of
varied text, in one workspace, spread over 50 agents), then times ``--searches`` searches of
two or three words through the `memory_search` tool's path (tokenise, FTS5 ``MATCH`` with
``bm25``, re-rank) and prints the median and p95 per search. Target: a median of at most 5 ms.
Also times the plain-scan fallback (no FTS5) for comparison. It asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "core"))

from mentra.memory.base import MemoryRecord, Scope  # noqa: E402
from mentra.memory.sqlite import SQLiteMemoryStore, has_fts5  # noqa: E402

WORDS = [
    "staging",
    "production",
    "deploy",
    "rotate",
    "password",
    "friday",
    "cache",
    "build",
    "test",
    "lint",
    "release",
    "branch",
    "merge",
    "review",
    "docker",
    "image",
    "kubernetes",
    "pod",
    "secret",
    "token",
    "config",
    "yaml",
    "json",
    "schema",
    "database",
    "migration",
    "index",
    "query",
    "latency",
    "timeout",
    "retry",
    "backoff",
    "queue",
    "worker",
    "cron",
    "job",
    "log",
    "metric",
    "alert",
    "dashboard",
    "owner",
    "team",
    "oncall",
    "incident",
    "runbook",
    "rollback",
    "feature",
    "flag",
    "canary",
    "region",
]
WS = "/bench/workspace"
WORKSPACE = Scope(WS)  # the workspace scope: the widest, every record is a candidate


def vocabulary(rng: random.Random, size: int) -> tuple[list[str], list[float]]:
    """The words above plus made-up ones, with Zipf weights (word k has weight 1/k), as in
    natural text: a few words are in most records, most words in few."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    made_up = {"".join(rng.choice(letters) for _ in range(rng.randint(4, 9))) for _ in range(size)}
    words = [*WORDS, *sorted(made_up)]
    rng.shuffle(words)
    return words, [1.0 / (k + 1) for k in range(len(words))]


VOCAB: tuple[list[str], list[float]] = ([], [])


def _text(rng: random.Random, n: int) -> str:
    words, weights = VOCAB
    return " ".join(rng.choices(words, weights, k=n)).capitalize() + "."


def fill(store: SQLiteMemoryStore, records: int, rng: random.Random) -> None:
    batch: list[MemoryRecord] = []
    for i in range(records):
        kind = "fact" if i % 10 < 3 else "summary" if i % 10 < 4 else "episode"
        length = 12 if kind == "fact" else 60 if kind == "summary" else 200
        batch.append(
            MemoryRecord(
                id=f"{kind}:{i}",
                kind=kind,  # type: ignore[arg-type]
                content=_text(rng, length),
                workspace=WS,
                agent_id=f"agent{i % 50}",
                pinned=kind == "fact",
            )
        )
    # one transaction: the import path writes many records at once
    for agent in {r.agent_id for r in batch}:
        assert agent is not None
        store.import_agent(agent, [r for r in batch if r.agent_id == agent], workspace=WS)


def time_searches(
    store: SQLiteMemoryStore,
    searches: int,
    rng: random.Random,
    *,
    skip_common: int = 0,
    scope: Scope = WORKSPACE,
) -> list[float]:
    """Milliseconds per search. Queries are two or three words drawn like the text (common
    words as often as in records), or with ``skip_common`` only words below the most
    frequent ones (topic words, as "staging rotates")."""
    words, weights = VOCAB
    pool, pool_w = words[skip_common:], weights[skip_common:]
    queries = [" ".join(rng.choices(pool, pool_w, k=rng.choice((2, 3)))) for _ in range(searches)]
    for q in queries[:10]:  # warm the page cache and statement cache
        store.search(q, scope, limit=5)
    out = []
    for q in queries:
        t0 = time.perf_counter()
        hits = store.search(q, scope, limit=5)
        out.append((time.perf_counter() - t0) * 1000)
        del hits
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=10_000)
    p.add_argument("--searches", type=int, default=200)
    p.add_argument("--vocabulary", type=int, default=5000, help="made-up words besides the 60")
    args = p.parse_args()
    rng = random.Random(16)
    VOCAB[0][:], VOCAB[1][:] = vocabulary(rng, args.vocabulary)
    with tempfile.TemporaryDirectory(prefix="mentra-bench-memory-") as tmp:
        path = Path(tmp) / "store.db"
        fts = has_fts5()
        store = SQLiteMemoryStore(path, full_text=fts)
        t0 = time.perf_counter()
        fill(store, args.records, rng)
        fill_s = time.perf_counter() - t0
        samples = time_searches(store, args.searches, rng)
        topic = time_searches(store, args.searches, rng, skip_common=100)
        # the default `scope: agent`: one agent's 1/50 of the records, the index is shared
        agent = time_searches(store, args.searches, rng, scope=Scope(WS, "agent7"))
        store.close()
        scan = SQLiteMemoryStore(path, full_text=False)
        scan_samples = time_searches(scan, max(20, args.searches // 10), rng)
        scan.close()
    med = statistics.median(samples)
    p95 = statistics.quantiles(samples, n=20)[-1]
    print(f"records: {args.records} (filled in {fill_s:.2f}s), searches: {len(samples)}")
    print(f"index: {'FTS5 bm25' if fts else 'plain scan (this SQLite has no FTS5)'}")
    print(f"memory_search median per search: {med:.3f} ms (p95 {p95:.3f} ms; target <= 5 ms)")
    print(
        "memory_search median per search, topic words (not the 100 most frequent): "
        f"{statistics.median(topic):.3f} ms"
    )
    print(
        "memory_search median per search, agent scope (1/50 of the records): "
        f"{statistics.median(agent):.3f} ms"
    )
    print(f"plain-scan fallback median per search: {statistics.median(scan_samples):.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
