"""One agent's view of long-term memory during a run: scope, events, recall and ingest."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from mentra.ids import new_id
from mentra.memory.base import MAX_SEARCH_LIMIT, MemoryHit, MemoryRecord, MemoryStore, Scope
from mentra.memory.config import MemoryConfig
from mentra.memory.episode import episode_text

if TYPE_CHECKING:
    from mentra.messages import Message

RECALL_TIMEOUT_S = 0.25
RECALL_HEADER = "Long-term memory that may be relevant (from earlier runs; it may be out of date):"


class MemorySession:
    """What the memory tools, auto-recall and episode ingest of one agent act through."""

    def __init__(
        self,
        store: MemoryStore,
        config: MemoryConfig,
        *,
        agent_id: str,
        workspace: str,
        fallback_notice: str | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.agent_id = agent_id
        self.workspace = workspace
        self._notice = fallback_notice
        self._emitter: Any = None

    @property
    def scope(self) -> Scope:
        agent = self.agent_id if self.config.scope == "agent" else None
        return Scope(workspace=self.workspace, agent_id=agent)

    def bind(self, emitter: Any) -> None:
        """Emit ``memory_updated`` (and the fallback notice, once) through this run's emitter."""
        self._emitter = emitter
        if self._notice is not None:
            from mentra.events import Notice

            emitter.emit(Notice, level="warning", message=self._notice)
            self._notice = None

    def _emit(self, action: str, record: MemoryRecord) -> None:
        if self._emitter is None:
            return
        from mentra.events import MemoryUpdated

        self._emitter.emit(
            MemoryUpdated, key=record.id, action=action, record_id=record.id, kind=record.kind
        )

    # -- the tools' operations ---------------------------------------------------------------

    def search(self, query: str, *, limit: int = 5) -> list[MemoryHit]:
        return self.store.search(query, self.scope, limit=max(1, min(limit, MAX_SEARCH_LIMIT)))

    def pin(self, content: str, *, source: str = "model") -> MemoryRecord:
        record = self.store.add(
            MemoryRecord(
                id=f"fact:{new_id()}",
                kind="fact",
                content=content.strip(),
                workspace=self.workspace,
                agent_id=self.agent_id,
                source=source,
                pinned=True,
            )
        )
        self._emit("pinned", record)
        return record

    def forget(self, record_id: str) -> MemoryRecord | None:
        record = self.store.forget(record_id, self.scope)
        if record is not None:
            self._emit("forgotten", record)
        return record

    def add_summary(self, text: str, *, revision: int) -> MemoryRecord:
        """Keep a compaction's rendered summary (``summary:<agent>:<revision>``)."""
        record = self.store.add(
            MemoryRecord(
                id=f"summary:{self.agent_id}:{revision}",
                kind="summary",
                content=_redacted(text),
                workspace=self.workspace,
                agent_id=self.agent_id,
                source="compaction",
            )
        )
        self._emit("ingested", record)
        return record

    def ingest_episode(
        self, messages: list[Message], *, revision: int, run_id: str
    ) -> MemoryRecord | None:
        """One episode per successful run: ``episode:<agent>:<revision>``, redacted."""
        if not self.config.enabled:
            return None
        text = episode_text(messages)
        if not text:
            return None
        record = self.store.add(
            MemoryRecord(
                id=f"episode:{self.agent_id}:{revision}",
                kind="episode",
                content=text,
                workspace=self.workspace,
                agent_id=self.agent_id,
                source=f"run:{run_id}",
            )
        )
        self._emit("ingested", record)
        return record

    async def recall(self, prompt: str | None) -> str | None:
        """The text auto-recall adds to the run's first request, or None: the top
        ``recall_limit`` hits for the prompt within ``recall_chars``, found within 250 ms."""
        cfg = self.config
        if not (cfg.auto_recall and prompt and cfg.recall_limit > 0 and cfg.recall_chars > 0):
            return None
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation (a
            # SIGTERM) that lands as the search completes
            async with asyncio.timeout(RECALL_TIMEOUT_S):
                hits = await asyncio.to_thread(self.search, prompt, limit=cfg.recall_limit)
        except TimeoutError:
            return None
        lines: list[str] = []
        budget = cfg.recall_chars
        for hit in hits:
            line = f"- [{hit.record.kind} {hit.record.id}] {hit.record.content}"
            if len(line) > budget:
                if budget < 40:
                    break
                line = line[: budget - 1] + "…"
            lines.append(line)
            budget -= len(line) + 1
            self._emit("recalled", hit.record)
            if budget <= 0:
                break
        return RECALL_HEADER + "\n" + "\n".join(lines) if lines else None


def _redacted(text: str) -> str:
    from mentra.memory.episode import redact, secret_values

    return redact(text, secret_values())
