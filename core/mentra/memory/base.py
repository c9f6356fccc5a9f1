"""The memory concern of the store: records, the `MemoryStore` protocol and the ranking.

Records are ``fact`` (pinned by the model or a user), ``episode`` (one per successful run) and
``summary`` (a compaction's rendered summary). Each belongs to a workspace and, unless a user
pinned it without ``--agent``, to an agent. A search is asked for a *scope*: one agent's
records, or every record of a workspace. Every backend must pass ``tests/memory/test_contract.py``.

The ranking is the reference's (mentra 0.6.0): the query becomes alphanumeric tokens; full-text
candidates, ``clamp(limit * 5, 10, 50)`` of them ordered by ``bm25`` then newest, are re-ranked
by a text relevance + a kind bonus (fact 3, summary 1.5, episode 0) + 2 if pinned + recency
``0.5/(1+age_hours/24)``.

One deliberate deviation: the reference's relevance ``8/(1+|bm25|)`` falls as the match gets
better (SQLite's ``bm25`` is negative, more negative is better), so a weak match outranked a
strong one of the same kind and age. Ours is ``8*|bm25|/(1+|bm25|)``: the same 0..8 range, but
rising with the match (see `text_relevance`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

MemoryKind = Literal["fact", "episode", "summary"]
KINDS: tuple[MemoryKind, ...] = ("fact", "episode", "summary")
KIND_BONUS: dict[str, float] = {"fact": 3.0, "summary": 1.5, "episode": 0.0}
MAX_SEARCH_LIMIT = 10


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose records a search sees: one agent's (``agent_id``) or a whole workspace's."""

    workspace: str
    agent_id: str | None = None  # None: every record of the workspace

    def contains(self, record: MemoryRecord) -> bool:
        if record.workspace != self.workspace:
            return False
        return self.agent_id is None or record.agent_id == self.agent_id


@dataclass(slots=True)
class MemoryRecord:
    id: str
    kind: MemoryKind
    content: str
    workspace: str
    agent_id: str | None = None
    source: str = "model"  # model | manual (a user) | run:<id> | compaction
    pinned: bool = False
    created_at: datetime | None = None  # filled by the store when None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "content": self.content,
            "workspace": self.workspace,
            "agent_id": self.agent_id,
            "source": self.source,
            "pinned": self.pinned,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MemoryRecord:
        created = data.get("created_at")
        kind = data["kind"]
        if kind not in KINDS:
            raise ValueError(f"unknown memory kind {kind!r}")
        return cls(
            id=str(data["id"]),
            kind=kind,
            content=str(data["content"]),
            workspace=str(data.get("workspace", "")),
            agent_id=data.get("agent_id"),
            source=str(data.get("source", "model")),
            pinned=bool(data.get("pinned", False)),
            created_at=datetime.fromisoformat(created) if created else None,
        )


@dataclass(slots=True)
class MemoryHit:
    record: MemoryRecord
    score: float
    why_retrieved: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The shape `memory_search` returns to the model."""
        r = self.record
        return {
            "id": r.id,
            "kind": r.kind,
            "content": r.content,
            "score": round(self.score, 4),
            "timestamp": r.created_at.isoformat() if r.created_at else None,
            "source": r.source,
            "why_retrieved": ", ".join(self.why_retrieved),
        }


class MemoryStore(Protocol):
    """Long-term memory records: add, forget, search, list, and move an agent's records."""

    @property
    def full_text(self) -> bool:
        """True when searches use a full-text index (FTS5), False on the plain-scan fallback."""
        ...

    def add(self, record: MemoryRecord) -> MemoryRecord:
        """Insert or replace (same id) ``record``; returns it with ``created_at`` filled."""
        ...

    def get(self, record_id: str) -> MemoryRecord | None: ...

    def forget(self, record_id: str, scope: Scope) -> MemoryRecord | None:
        """Delete the record if it is in ``scope``; the deleted record, or None."""
        ...

    def search(self, query: str, scope: Scope, *, limit: int = 5) -> list[MemoryHit]: ...

    def list_records(
        self, scope: Scope, *, kind: MemoryKind | None = None, limit: int | None = None
    ) -> list[MemoryRecord]:
        """Records of ``scope``, newest first."""
        ...

    def export_agent(self, agent_id: str) -> list[MemoryRecord]:
        """Every record of one agent, oldest first (for `mentra export`)."""
        ...

    def import_agent(self, agent_id: str, records: list[MemoryRecord], *, workspace: str) -> None:
        """Replace the agent's records by ``records`` (bound to ``workspace``), atomically."""
        ...

    def delete_agent(self, agent_id: str) -> int:
        """Remove every record of the agent; how many there were."""
        ...

    def close(self) -> None: ...


# -- ranking, shared by every backend ----------------------------------------------------------

_TOKEN_RE = re.compile(r"[^\W_]+")


def query_tokens(query: str) -> list[str]:
    """The query's alphanumeric tokens, lowercased, each once, in order."""
    seen: dict[str, None] = {}
    for token in _TOKEN_RE.findall(query.lower()):
        seen.setdefault(token, None)
    return list(seen)


def fts_query(tokens: list[str]) -> str:
    """Each token double-quoted, joined with OR: no FTS5 syntax can come from the query."""
    return " OR ".join(f'"{t}"' for t in tokens)


def candidate_count(limit: int) -> int:
    return max(10, min(limit * 5, 50))


def utcnow() -> datetime:
    return datetime.now(UTC)


def text_relevance(bm25: float) -> float:
    """0..8, higher for a better full-text match: ``8*|bm25|/(1+|bm25|)``.

    Not the reference's ``8/(1+|bm25|)``, which rewards weaker matches; this keeps its weight
    (at most 8 points, so a strong episode can beat a weak fact but not a strong one)."""
    strength = abs(bm25)
    return 8.0 * strength / (1.0 + strength)


def score(record: MemoryRecord, bm25: float, *, now: datetime) -> float:
    """The re-rank score of one candidate: the reference's, with `text_relevance`."""
    created = record.created_at or now
    age_hours = max(0.0, (now - created).total_seconds() / 3600)
    value = text_relevance(bm25)
    value += KIND_BONUS.get(record.kind, 0.0)
    value += 2.0 if record.pinned else 0.0
    return value + 0.5 / (1.0 + age_hours / 24.0)


def explain(record: MemoryRecord, tokens: list[str]) -> list[str]:
    """Why a hit was retrieved: the query tokens it holds, its kind, a user's pin."""
    words = set(_TOKEN_RE.findall(record.content.lower()))
    matched = [t for t in tokens if t in words]
    why = []
    if matched:
        why.append("matched " + ",".join(matched))
    if record.kind in ("fact", "summary"):
        why.append(record.kind)
    if record.source == "manual":
        why.append("manual")
    return why


def rank(
    record: MemoryRecord, bm25: float, tokens: list[str], *, now: datetime | None = None
) -> MemoryHit:
    """One candidate as a hit: its score and why it was retrieved."""
    value = score(record, bm25, now=now or utcnow())
    return MemoryHit(record=record, score=value, why_retrieved=explain(record, tokens))


def best_hits(
    candidates: list[tuple[MemoryRecord, float]], tokens: list[str], limit: int
) -> list[MemoryHit]:
    """The ``limit`` best of ``(record, bm25)`` candidates after the re-rank. Only those are
    explained: matching the tokens against a record's text costs more than scoring it."""
    now = utcnow()
    hits = top_hits([MemoryHit(rec, score(rec, b, now=now)) for rec, b in candidates], limit)
    for hit in hits:
        hit.why_retrieved = explain(hit.record, tokens)
    return hits


def scan_bm25(content: str, tokens: list[str]) -> float:
    """The plain-scan fallback's stand-in for ``bm25``: minus the number of query-token
    occurrences (bm25 is negative, more negative is better); 0.0 when nothing matches."""
    words = _TOKEN_RE.findall(content.lower())
    wanted = set(tokens)
    return -float(sum(1 for w in words if w in wanted))


def top_hits(hits: list[MemoryHit], limit: int) -> list[MemoryHit]:
    def newest(h: MemoryHit) -> float:
        created = h.record.created_at
        return created.timestamp() if created else 0.0

    hits.sort(key=lambda h: (-h.score, -newest(h)))
    return hits[:limit]
