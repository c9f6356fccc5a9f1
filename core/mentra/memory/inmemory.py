"""`MemoryStore` in a dict, for ``--ephemeral`` runs and the in-memory store: a plain scan."""

from __future__ import annotations

import copy
import threading

from mentra.memory.base import (
    MemoryHit,
    MemoryKind,
    MemoryRecord,
    Scope,
    best_hits,
    candidate_count,
    query_tokens,
    scan_bm25,
    utcnow,
)


class InMemoryMemoryStore:
    def __init__(self) -> None:
        self._records: dict[str, MemoryRecord] = {}
        self._order: dict[str, int] = {}  # insertion counter, to break timestamp ties
        self._n = 0
        self._lock = threading.Lock()

    @property
    def full_text(self) -> bool:
        return False

    def add(self, record: MemoryRecord) -> MemoryRecord:
        if record.created_at is None:
            record.created_at = utcnow()
        with self._lock:
            self._n += 1
            self._records[record.id] = copy.copy(record)
            self._order[record.id] = self._n
        return record

    def get(self, record_id: str) -> MemoryRecord | None:
        found = self._records.get(record_id)
        return copy.copy(found) if found is not None else None

    def forget(self, record_id: str, scope: Scope) -> MemoryRecord | None:
        with self._lock:
            found = self._records.get(record_id)
            if found is None or not scope.contains(found):
                return None
            del self._records[record_id]
            return found

    def _scoped(self, scope: Scope) -> list[MemoryRecord]:
        with self._lock:
            records = [copy.copy(r) for r in self._records.values() if scope.contains(r)]
        records.sort(key=lambda r: (r.created_at or utcnow(), self._order.get(r.id, 0)))
        records.reverse()  # newest first
        return records

    def search(self, query: str, scope: Scope, *, limit: int = 5) -> list[MemoryHit]:
        tokens = query_tokens(query)
        if not tokens or limit < 1:
            return []
        found = [(r, scan_bm25(r.content, tokens)) for r in self._scoped(scope)]
        found = [(r, b) for r, b in found if b < 0]
        found.sort(key=lambda p: p[1])  # stable: newest first among equal scores
        return best_hits(found[: candidate_count(limit)], tokens, limit)

    def list_records(
        self, scope: Scope, *, kind: MemoryKind | None = None, limit: int | None = None
    ) -> list[MemoryRecord]:
        records = [r for r in self._scoped(scope) if kind is None or r.kind == kind]
        return records if limit is None else records[:limit]

    def export_agent(self, agent_id: str) -> list[MemoryRecord]:
        with self._lock:
            mine = [copy.copy(r) for r in self._records.values() if r.agent_id == agent_id]
        mine.sort(key=lambda r: self._order.get(r.id, 0))
        return mine

    def import_agent(self, agent_id: str, records: list[MemoryRecord], *, workspace: str) -> None:
        self.delete_agent(agent_id)
        for record in records:
            record.agent_id = agent_id
            record.workspace = workspace
            self.add(record)

    def delete_agent(self, agent_id: str) -> int:
        with self._lock:
            ids = [i for i, r in self._records.items() if r.agent_id == agent_id]
            for i in ids:
                del self._records[i]
            return len(ids)

    def close(self) -> None:
        return None
