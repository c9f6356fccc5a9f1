"""The FTS5 search's fast path: tokens in half the records or more are left out of the ranking
query (their IDF is floored at 1e-6), and the results stay those of the whole query."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mentra.memory.base import MemoryHit, MemoryRecord, Scope, best_hits, candidate_count
from mentra.memory.base import query_tokens as tokens_of
from mentra.memory.sqlite import SQLiteMemoryStore, has_fts5

pytestmark = pytest.mark.skipif(not has_fts5(), reason="this SQLite has no FTS5")

WS = "/work/ws"
TOPICS = ["staging", "deploy", "rotate", "password", "cache", "docker", "review", "cron"]
FILLER = [f"w{i}" for i in range(300)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteMemoryStore]:
    backend = SQLiteMemoryStore(tmp_path / "store.db")
    yield backend
    backend.close()


def _corpus(store: SQLiteMemoryStore, n: int = 400) -> None:
    """Episodes of varied length, every one with ``user`` (as real episodes have), most with
    ``assistant``; a topic word in some; spread over four agents and thirty days."""
    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(days=30)
    for i in range(n):
        words = ["user:", *rng.choices(FILLER, k=rng.randint(5, 80))]
        if i % 4:
            words.append("assistant:")
        words += rng.sample(TOPICS, k=rng.randint(0, 2))
        rng.shuffle(words)
        store.add(
            MemoryRecord(
                id=f"e{i}",
                kind="fact" if i % 7 == 0 else "episode",
                content=" ".join(words),
                workspace=WS,
                agent_id=f"a{i % 4}",
                pinned=i % 7 == 0,
                created_at=start + timedelta(minutes=97 * i),
            )
        )


def _whole_query(store: SQLiteMemoryStore, query: str, scope: Scope, limit: int) -> list[MemoryHit]:
    """What the search returned before the fast path: every token in the ranking query."""
    tokens = tokens_of(query)
    with store._read() as conn:
        candidates = store._fts_match(conn, tokens, scope, candidate_count(limit))
    return best_hits(candidates, tokens, limit)


@pytest.mark.parametrize("scope", [Scope(WS), Scope(WS, "a1")])
def test_common_tokens_are_left_out_and_the_results_stay_the_same(
    store: SQLiteMemoryStore, scope: Scope
) -> None:
    _corpus(store)
    with store._read() as conn:
        assert store._informative(conn, ["user", "assistant", "staging"]) == ["staging"]
    queries = [f"user {t}" for t in TOPICS] + [
        f"what did the user and assistant {t}" for t in TOPICS
    ]
    queries += [f"{a} {b} assistant" for a, b in itertools.pairwise(TOPICS)]
    for query in queries:
        for limit in (1, 5, 10):
            got = store.search(query, scope, limit=limit)
            want = _whole_query(store, query, scope, limit)
            assert [h.record.id for h in got] == [h.record.id for h in want], query
            for a, b in zip(got, want, strict=True):
                assert a.score == pytest.approx(b.score, abs=1e-4)
                assert a.why_retrieved == b.why_retrieved


def test_when_the_informative_tokens_find_too_few_the_common_ones_still_count(
    store: SQLiteMemoryStore,
) -> None:
    """One record holds ``kubernetes``: the other candidates are records with only ``user``,
    as the whole query would give (a pinned fact among them outranks a weak episode)."""
    _corpus(store)
    store.add(
        MemoryRecord(
            id="k8s", kind="episode", content="user: kubernetes", workspace=WS, agent_id="a1"
        )
    )
    got = store.search("user kubernetes", Scope(WS), limit=5)
    assert len(got) == 5
    assert "k8s" in [h.record.id for h in got]
    assert [h.record.id for h in got] == [
        h.record.id for h in _whole_query(store, "user kubernetes", Scope(WS), 5)
    ]
    only_common = store.search("user assistant", Scope(WS, "a2"), limit=3)
    assert [h.record.id for h in only_common] == [
        h.record.id for h in _whole_query(store, "user assistant", Scope(WS, "a2"), 3)
    ]


def test_a_read_only_store_searches_too(tmp_path: Path) -> None:
    """The per-term counts are a temp table of the connection: nothing is written to the file."""
    path = tmp_path / "store.db"
    writer = SQLiteMemoryStore(path)
    _corpus(writer, 60)
    writer.close()
    before = path.stat().st_mtime_ns
    reader = SQLiteMemoryStore(path, read_only=True)
    try:
        assert reader.full_text
        hits = reader.search("user staging", Scope(WS), limit=3)
        assert hits and all("staging" in h.record.content for h in hits)
    finally:
        reader.close()
    assert path.stat().st_mtime_ns == before
