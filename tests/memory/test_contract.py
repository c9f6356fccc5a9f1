"""The `MemoryStore` contract: every backend (SQLite with FTS5, SQLite forced onto the plain
scan, in memory) must pass the same tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mentra.memory.base import MemoryRecord, MemoryStore, Scope
from mentra.memory.inmemory import InMemoryMemoryStore
from mentra.memory.sqlite import SQLiteMemoryStore, has_fts5

WS = "/work/ws"
OTHER_WS = "/work/other"


@pytest.fixture(params=["sqlite-fts5", "sqlite-scan", "in-memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MemoryStore]:
    backend: MemoryStore
    if request.param == "sqlite-fts5":
        if not has_fts5():
            pytest.skip("this SQLite has no FTS5")
        backend = SQLiteMemoryStore(tmp_path / "store.db")
        assert backend.full_text
    elif request.param == "sqlite-scan":
        backend = SQLiteMemoryStore(tmp_path / "store.db", full_text=False)
        assert not backend.full_text
    else:
        backend = InMemoryMemoryStore()
    yield backend
    backend.close()


def fact(
    rid: str, content: str, *, agent: str | None = "a1", ws: str = WS, **kw: object
) -> MemoryRecord:
    return MemoryRecord(
        id=rid, kind="fact", content=content, workspace=ws, agent_id=agent, pinned=True, **kw
    )  # type: ignore[arg-type]


def test_add_fills_the_time_and_get_returns_a_copy(store: MemoryStore) -> None:
    added = store.add(fact("f1", "The staging password rotates every Friday"))
    assert added.created_at is not None
    got = store.get("f1")
    assert got is not None and got.content == "The staging password rotates every Friday"
    got.content = "changed"
    again = store.get("f1")
    assert again is not None and again.content != "changed"
    assert store.get("nope") is None


def test_search_finds_by_any_token_and_says_why(store: MemoryStore) -> None:
    store.add(fact("f1", "The staging password rotates every Friday"))
    store.add(fact("f2", "Deploys go out on Tuesday"))
    hits = store.search("when does staging rotate? rotates", Scope(WS))
    assert [h.record.id for h in hits] == ["f1"]
    assert hits[0].why_retrieved == ["matched staging,rotates", "fact"]
    # the model's view of a hit
    shown = hits[0].to_json()
    assert set(shown) == {"id", "kind", "content", "score", "timestamp", "source", "why_retrieved"}
    assert store.search("!!! ???", Scope(WS)) == []  # no tokens: no search at all


def test_query_syntax_cannot_reach_fts(store: MemoryStore) -> None:
    store.add(fact("f1", 'quote"s and NEAR(x) OR AND * are plain words'))
    hits = store.search('"NEAR(x)" AND* OR -quote', Scope(WS))
    assert [h.record.id for h in hits] == ["f1"]


def test_ranking_kind_bonus_and_pinned(store: MemoryStore) -> None:
    store.add(
        MemoryRecord(
            id="e1", kind="episode", content="user: staging deploy", workspace=WS, agent_id="a1"
        )
    )
    store.add(
        MemoryRecord(
            id="s1", kind="summary", content="staging deploy summary", workspace=WS, agent_id="a1"
        )
    )
    store.add(fact("f1", "staging deploy fact"))
    hits = store.search("staging deploy", Scope(WS), limit=5)
    assert [h.record.id for h in hits] == ["f1", "s1", "e1"]
    f, s, e = (h.score for h in hits)
    # the kind bonuses (fact 3 + pinned 2, summary 1.5, episode 0) over similar text scores
    assert f - s == pytest.approx(3.5, abs=1.0)
    assert s - e == pytest.approx(1.5, abs=1.0)
    assert "summary" in hits[1].why_retrieved and "fact" in hits[0].why_retrieved


def test_a_strong_match_beats_a_weak_one_of_the_same_kind_and_age(store: MemoryStore) -> None:
    """The reference's ``8/(1+|bm25|)`` would put the weak match first: we deliberately rank by
    ``8*|bm25|/(1+|bm25|)`` so a better text match scores higher."""
    when = datetime.now(UTC) - timedelta(hours=1)
    for i in range(8):  # records that do not match give the query words a real weight
        store.add(fact(f"other{i}", f"deploys go out on day {i}", created_at=when))
    store.add(fact("weak", "staging notes for the team", created_at=when))
    store.add(
        fact(
            "strong",
            "staging rotates: the staging password rotates every Friday, staging rotates",
            created_at=when,
        )
    )
    hits = store.search("staging rotates", Scope(WS))
    assert [h.record.id for h in hits] == ["strong", "weak"]
    assert hits[0].score > hits[1].score
    assert hits[0].why_retrieved[0] == "matched staging,rotates"
    assert hits[1].why_retrieved[0] == "matched staging"


def test_recency_breaks_ties_newest_first(store: MemoryStore) -> None:
    old = datetime.now(UTC) - timedelta(days=30)
    store.add(fact("old", "release checklist", created_at=old))
    store.add(fact("new", "release checklist"))
    hits = store.search("release", Scope(WS))
    assert [h.record.id for h in hits] == ["new", "old"]
    assert hits[0].score > hits[1].score


def test_limit_caps_hits(store: MemoryStore) -> None:
    for i in range(30):
        store.add(fact(f"f{i:02d}", f"note {i} about caching"))
    assert len(store.search("caching", Scope(WS), limit=3)) == 3
    assert len(store.search("caching", Scope(WS), limit=10)) == 10


def test_scopes_agent_and_workspace(store: MemoryStore) -> None:
    store.add(fact("mine", "shared word", agent="a1"))
    store.add(fact("theirs", "shared word", agent="a2"))
    store.add(fact("user", "shared word", agent=None))
    store.add(fact("elsewhere", "shared word", agent="a1", ws=OTHER_WS))
    ids = {h.record.id for h in store.search("shared", Scope(WS, agent_id="a1"))}
    assert ids == {"mine"}
    ids = {h.record.id for h in store.search("shared", Scope(WS))}
    assert ids == {"mine", "theirs", "user"}
    listed = {r.id for r in store.list_records(Scope(WS, agent_id="a2"))}
    assert listed == {"theirs"}


def test_forget_only_within_scope(store: MemoryStore) -> None:
    store.add(fact("theirs", "a fact of a2", agent="a2"))
    assert store.forget("theirs", Scope(WS, agent_id="a1")) is None
    assert store.forget("theirs", Scope(OTHER_WS)) is None
    assert store.get("theirs") is not None
    gone = store.forget("theirs", Scope(WS))
    assert gone is not None and gone.id == "theirs"
    assert store.get("theirs") is None
    assert store.search("fact", Scope(WS)) == []  # the index forgot it too


def test_add_with_same_id_replaces(store: MemoryStore) -> None:
    store.add(fact("f1", "first version alpha"))
    store.add(fact("f1", "second version beta"))
    assert store.search("alpha", Scope(WS)) == []
    assert [h.record.id for h in store.search("beta", Scope(WS))] == ["f1"]
    assert len(store.list_records(Scope(WS))) == 1


def test_list_newest_first_and_by_kind(store: MemoryStore) -> None:
    t0 = datetime.now(UTC) - timedelta(hours=2)
    store.add(fact("f1", "one", created_at=t0))
    store.add(
        MemoryRecord(
            id="e1",
            kind="episode",
            content="user: hi",
            workspace=WS,
            agent_id="a1",
            created_at=t0 + timedelta(hours=1),
        )
    )
    store.add(fact("f2", "two"))
    assert [r.id for r in store.list_records(Scope(WS))] == ["f2", "e1", "f1"]
    assert [r.id for r in store.list_records(Scope(WS), kind="episode")] == ["e1"]
    assert [r.id for r in store.list_records(Scope(WS), kind="fact", limit=1)] == ["f2"]


def test_export_import_and_delete_agent(store: MemoryStore) -> None:
    store.add(fact("f1", "exported fact", agent="a1"))
    store.add(fact("f2", "other agent", agent="a2"))
    exported = store.export_agent("a1")
    assert [r.id for r in exported] == ["f1"]
    assert store.delete_agent("a1") == 1
    assert store.get("f1") is None and store.get("f2") is not None
    round_trip = [MemoryRecord.from_json(r.to_json()) for r in exported]
    store.import_agent("a1", round_trip, workspace=OTHER_WS)
    got = store.get("f1")
    assert got is not None and got.workspace == OTHER_WS and got.agent_id == "a1"
    assert [h.record.id for h in store.search("exported", Scope(OTHER_WS))] == ["f1"]
    # importing again replaces the agent's records instead of doubling them
    store.import_agent("a1", [MemoryRecord.from_json(r.to_json()) for r in exported], workspace=WS)
    assert [r.id for r in store.export_agent("a1")] == ["f1"]
