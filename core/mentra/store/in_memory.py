"""`InMemoryStore`: the `Store` protocol held in this process only (``--ephemeral``).

It follows the same contract as the SQLite store, so a run behaves the same with or without
persistence; nothing survives the process. Agent files go to a private temporary folder,
made on first use and removed on close.
"""

from __future__ import annotations

import copy
import dataclasses
import shutil
import tempfile
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar, TypeVar

from mentra.errors import StoreError
from mentra.messages import Message, ToolResultBlock
from mentra.store._common import (
    agent_dir_name,
    ambiguous_prefix,
    busy_error,
    lease_is_live,
    status_after_run,
    utcnow,
)
from mentra.store.base import (
    AgentRecord,
    AgentStatus,
    AuditRecord,
    CompactionMarker,
    JobRecord,
    JobStatus,
    LeaseHolder,
    LeaseRecord,
    PermissionRuleRecord,
    RunRecord,
    TranscriptItem,
)
from mentra.store.fencing import LeaseLostError, lease_lost

_R = TypeVar("_R")


def _copy(record: _R) -> _R:
    return copy.deepcopy(record)


class InMemoryStore:
    """An in-process store; thread-safe, and every record handed in or out is copied."""

    # its calls never wait on disk or a lock held for long: `AsyncStore` calls it on the
    # event loop instead of hopping to its worker thread
    runs_inline: ClassVar[bool] = True

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._closed = False
        self._agents: dict[str, AgentRecord] = {}
        self._activity: dict[str, int] = {}  # agent id -> tick of last change (tie-breaker)
        self._tick = 0
        self._runs: dict[str, RunRecord] = {}
        self._items: dict[str, list[TranscriptItem]] = {}
        self._leases: dict[str, LeaseRecord] = {}
        self._audit: list[AuditRecord] = []
        self._rules: list[PermissionRuleRecord] = []
        self._jobs: dict[str, JobRecord] = {}
        self._files_root: Path | None = None
        self._generations: dict[str, int] = {}  # agent id -> the last lease generation given
        self._fences: dict[str, tuple[LeaseHolder, int]] = {}  # leases this object acquired
        self._pending: dict[str, dict[str, tuple[str, ToolResultBlock]]] = {}  # per-call results

    # -- helpers ---------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    def _agent(self, agent_id: str) -> AgentRecord:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise StoreError(f"no agent with id {agent_id}")
        return agent

    def _touch(self, agent: AgentRecord) -> None:
        agent.updated_at = utcnow()
        self._tick += 1
        self._activity[agent.id] = self._tick

    def _check_fence(self, agent_id: str, fence: int | None) -> None:
        if fence is None:
            held = self._fences.get(agent_id)
            if held is None:
                return
            fence = held[1]
        lease = self._leases.get(agent_id)
        if lease is None or lease.generation != fence:
            current = None
            if lease is not None:
                current = (
                    f"process {lease.holder.pid}@{lease.holder.host}, run {lease.holder.run_id}"
                )
            raise lease_lost(agent_id, fence, current)

    def _run(self, run_id: str) -> RunRecord:
        run = self._runs.get(run_id)
        if run is None:
            raise StoreError(f"no run with id {run_id}")
        return run

    # -- agents ----------------------------------------------------------------------------
    def create_agent(self, agent: AgentRecord) -> None:
        with self._lock:
            self._check_open()
            if agent.id in self._agents:
                raise StoreError(f"an agent with id {agent.id} already exists")
            now = utcnow()
            stored = _copy(agent)
            stored.created_at = agent.created_at or now
            stored.updated_at = agent.updated_at or stored.created_at
            stored.items = 0
            stored.turns = 0
            self._agents[agent.id] = stored
            self._items[agent.id] = []
            self._tick += 1
            self._activity[agent.id] = self._tick

    def get_agent(self, agent_id: str) -> AgentRecord | None:
        with self._lock:
            self._check_open()
            if not agent_id:
                return None
            if agent_id in self._agents:
                return _copy(self._agents[agent_id])
            matches = [a for a in self._agents if a.startswith(agent_id)]
            if len(matches) > 1:
                raise ambiguous_prefix(agent_id, matches)
            return _copy(self._agents[matches[0]]) if matches else None

    def _ordered(self, workspace: str | None) -> list[AgentRecord]:
        agents = [a for a in self._agents.values() if workspace is None or a.workspace == workspace]
        agents.sort(key=lambda a: (a.updated_at, self._activity[a.id]), reverse=True)
        return agents

    def latest_agent(self, workspace: str) -> AgentRecord | None:
        with self._lock:
            self._check_open()
            agents = [a for a in self._ordered(workspace) if a.parent_id is None]
            return _copy(agents[0]) if agents else None

    def list_agents(self, workspace: str | None) -> list[AgentRecord]:
        with self._lock:
            self._check_open()
            return [_copy(a) for a in self._ordered(workspace)]

    def set_agent_status(self, agent_id: str, status: AgentStatus) -> None:
        with self._lock:
            self._check_open()
            agent = self._agent(agent_id)
            self._check_fence(agent_id, None)
            agent.status = status
            self._touch(agent)

    def delete_agent(self, agent_id: str) -> None:
        with self._lock:
            self._check_open()
            self._agent(agent_id)
            lease = self._leases.get(agent_id)
            now = utcnow()
            if lease is not None and lease_is_live(lease, now):
                raise busy_error(lease, now)
            del self._agents[agent_id]
            del self._activity[agent_id]
            del self._items[agent_id]
            self._leases.pop(agent_id, None)
            self._fences.pop(agent_id, None)
            self._pending.pop(agent_id, None)
            self._runs = {k: r for k, r in self._runs.items() if r.agent_id != agent_id}
            self._audit = [a for a in self._audit if a.agent_id != agent_id]
            self._jobs = {k: j for k, j in self._jobs.items() if j.agent_id != agent_id}

    # -- runs and transcript ---------------------------------------------------------------
    def load_transcript(self, agent_id: str) -> list[TranscriptItem]:
        with self._lock:
            self._check_open()
            # Messages are frozen, so the items can share them.
            return [_copy_item(i) for i in self._items.get(agent_id, [])]

    def begin_run(self, run: RunRecord, *, fence: int | None = None) -> None:
        with self._lock:
            self._check_open()
            agent = self._agent(run.agent_id)
            self._check_fence(run.agent_id, fence)
            if run.id in self._runs:
                raise StoreError(f"a run with id {run.id} already exists")
            stored = _copy(run)
            stored.started_at = run.started_at or utcnow()
            self._runs[run.id] = stored
            agent.turns += 1
            agent.status = status_after_run(run.status)
            self._touch(agent)

    def commit_round(
        self,
        agent_id: str,
        run_id: str,
        messages: list[Message],
        run: RunRecord,
        *,
        fence: int | None = None,
    ) -> None:
        with self._lock:
            self._check_open()
            agent = self._agent(agent_id)
            stored = self._run(run_id)
            self._check_fence(agent_id, fence)
            pending = self._pending.get(agent_id, {})
            for message in messages:
                for block in message.content:
                    if isinstance(block, ToolResultBlock):
                        pending.pop(block.tool_use_id, None)
            items = self._items[agent_id]
            for message in messages:
                items.append(TranscriptItem(seq=len(items) + 1, run_id=run_id, message=message))
            agent.items = len(items)
            stored.usage = run.usage.model_copy()
            stored.cost_usd = run.cost_usd
            stored.rounds = run.rounds
            stored.tool_calls = run.tool_calls
            self._touch(agent)

    def commit_compaction(
        self,
        agent_id: str,
        run_id: str,
        marker: CompactionMarker,
        run: RunRecord,
        *,
        fence: int | None = None,
    ) -> None:
        with self._lock:
            self._check_open()
            agent = self._agent(agent_id)
            stored = self._run(run_id)
            self._check_fence(agent_id, fence)
            items = self._items[agent_id]
            kept = _copy_marker(marker)
            items.append(
                TranscriptItem(
                    seq=len(items) + 1,
                    run_id=run_id,
                    message=Message.user_text(marker.summary),
                    compaction=kept,
                )
            )
            agent.items = len(items)
            stored.usage = run.usage.model_copy()
            stored.cost_usd = run.cost_usd
            stored.rounds = run.rounds
            stored.tool_calls = run.tool_calls
            self._touch(agent)

    def commit_tool_result(
        self,
        agent_id: str,
        run_id: str,
        call_id: str,
        result: ToolResultBlock,
        run: RunRecord | None = None,
        *,
        fence: int | None = None,
    ) -> None:
        with self._lock:
            self._check_open()
            agent = self._agent(agent_id)
            self._check_fence(agent_id, fence)
            if run is not None:
                stored = self._run(run_id)
                stored.usage = run.usage.model_copy()
                stored.cost_usd = run.cost_usd
                stored.rounds = run.rounds
                stored.tool_calls = run.tool_calls
            pending = self._pending.setdefault(agent_id, {})
            pending.pop(call_id, None)  # a replaced result moves to the end, as in SQLite
            pending[call_id] = (run_id, result)
            self._touch(agent)

    def pending_tool_results(self, agent_id: str) -> dict[str, ToolResultBlock]:
        with self._lock:
            self._check_open()
            return {k: r for k, (_run_id, r) in self._pending.get(agent_id, {}).items()}

    def finish_run(self, run: RunRecord, *, fence: int | None = None) -> None:
        with self._lock:
            self._check_open()
            self._run(run.id)
            agent = self._agent(run.agent_id)
            self._check_fence(run.agent_id, fence)
            stored = _copy(run)
            stored.started_at = self._runs[run.id].started_at
            stored.finished_at = run.finished_at or utcnow()
            self._runs[run.id] = stored
            agent.status = status_after_run(run.status)
            self._touch(agent)

    def interrupt_stale_runs(self, agent_id: str, *, reason: str) -> list[RunRecord]:
        with self._lock:
            self._check_open()
            self._check_fence(agent_id, None)
            now = utcnow()
            stale = [r for r in self._runs.values() if r.agent_id == agent_id]
            stale = [r for r in stale if r.status == "running"]
            for run in stale:
                run.status = "interrupted"
                run.error = run.error or reason
                run.finished_at = now
            return [_copy(r) for r in stale]

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._lock:
            self._check_open()
            run = self._runs.get(run_id)
            return _copy(run) if run is not None else None

    def list_runs(self, agent_id: str) -> list[RunRecord]:
        with self._lock:
            self._check_open()
            return [_copy(r) for r in self._runs.values() if r.agent_id == agent_id]

    def last_run(self, agent_id: str) -> RunRecord | None:
        runs = self.list_runs(agent_id)
        return runs[-1] if runs else None

    # -- leases ----------------------------------------------------------------------------
    def _put_lease(self, agent_id: str, holder: LeaseHolder, ttl_s: float, gen: int) -> None:
        now = utcnow()
        self._leases[agent_id] = LeaseRecord(
            agent_id, _copy(holder), now + timedelta(seconds=ttl_s), now, gen
        )
        self._fences[agent_id] = (_copy(holder), gen)

    def _next_generation(self, agent_id: str) -> int:
        self._generations[agent_id] = self._generations.get(agent_id, 0) + 1
        return self._generations[agent_id]

    def acquire_lease(self, agent_id: str, holder: LeaseHolder, ttl_s: float) -> int:
        with self._lock:
            self._check_open()
            self._agent(agent_id)
            now = utcnow()
            lease = self._leases.get(agent_id)
            if lease is not None and lease.holder != holder and lease_is_live(lease, now):
                raise busy_error(lease, now)
            if lease is not None and lease.holder == holder:
                gen = lease.generation
            else:
                gen = self._next_generation(agent_id)
            self._put_lease(agent_id, holder, ttl_s, gen)
            return gen

    def renew_lease(self, agent_id: str, holder: LeaseHolder, ttl_s: float) -> None:
        with self._lock:
            self._check_open()
            self._agent(agent_id)
            lease = self._leases.get(agent_id)
            held = self._fences.get(agent_id)
            fence = held[1] if held is not None and held[0] == holder else None
            if lease is not None and lease.holder != holder:
                now = utcnow()
                raise LeaseLostError(
                    f"agent {agent_id} lost its lease: " + busy_error(lease, now).message
                )
            if lease is None and fence is not None:
                raise LeaseLostError(
                    f"agent {agent_id} lost its lease: it was taken over and since released"
                )
            if lease is not None and fence is not None and lease.generation != fence:
                raise lease_lost(agent_id, fence, "a later lease of this process")
            gen = lease.generation if lease is not None else self._next_generation(agent_id)
            self._put_lease(agent_id, holder, ttl_s, gen)

    def release_lease(self, agent_id: str, holder: LeaseHolder) -> None:
        with self._lock:
            self._check_open()
            lease = self._leases.get(agent_id)
            if lease is not None and lease.holder == holder:
                del self._leases[agent_id]
            held = self._fences.get(agent_id)
            if held is not None and held[0] == holder:
                del self._fences[agent_id]

    def get_lease(self, agent_id: str) -> LeaseRecord | None:
        with self._lock:
            self._check_open()
            lease = self._leases.get(agent_id)
            return _copy(lease) if lease is not None else None

    # -- audit -----------------------------------------------------------------------------
    def append_audit(self, record: AuditRecord, *, fence: int | None = None) -> None:
        with self._lock:
            self._check_open()
            self._check_fence(record.agent_id, fence)
            stored = copy.copy(record)  # every field is immutable: a shallow copy is a copy
            stored.at = record.at or utcnow()
            self._audit.append(stored)

    def list_audit(self, agent_id: str, run_id: str | None = None) -> list[AuditRecord]:
        with self._lock:
            self._check_open()
            return [
                _copy(a)
                for a in self._audit
                if a.agent_id == agent_id and (run_id is None or a.run_id == run_id)
            ]

    # -- permission rules ------------------------------------------------------------------
    def add_permission_rule(self, rule: PermissionRuleRecord) -> None:
        with self._lock:
            self._check_open()
            key = (rule.scope, rule.rule, rule.decision)
            if any((r.scope, r.rule, r.decision) == key for r in self._rules):
                return
            stored = _copy(rule)
            stored.created_at = rule.created_at or utcnow()
            self._rules.append(stored)

    def list_permission_rules(self, scope: str | None = None) -> list[PermissionRuleRecord]:
        with self._lock:
            self._check_open()
            return [_copy(r) for r in self._rules if scope is None or r.scope == scope]

    def remove_permission_rule(self, rule: PermissionRuleRecord) -> bool:
        with self._lock:
            self._check_open()
            key = (rule.scope, rule.rule, rule.decision)
            kept = [r for r in self._rules if (r.scope, r.rule, r.decision) != key]
            removed = len(kept) != len(self._rules)
            self._rules = kept
            return removed

    # -- background jobs -------------------------------------------------------------------
    def create_job(self, job: JobRecord, *, fence: int | None = None) -> None:
        with self._lock:
            self._check_open()
            self._agent(job.agent_id)
            self._check_fence(job.agent_id, fence)
            if job.id in self._jobs:
                raise StoreError(f"a job with id {job.id} already exists")
            stored = _copy(job)
            stored.started_at = job.started_at or utcnow()
            self._jobs[job.id] = stored

    def finish_job(
        self,
        job_id: str,
        *,
        status: JobStatus,
        exit_code: int | None,
        finished_at: datetime | None = None,
        fence: int | None = None,
    ) -> None:
        with self._lock:
            self._check_open()
            job = self._jobs.get(job_id)
            if job is None:
                raise StoreError(f"no background job with id {job_id}")
            self._check_fence(job.agent_id, fence)
            job.status = status
            job.exit_code = exit_code
            job.finished_at = finished_at or utcnow()

    def get_job(self, job_id: str) -> JobRecord | None:
        with self._lock:
            self._check_open()
            job = self._jobs.get(job_id)
            return _copy(job) if job is not None else None

    def list_jobs(self, agent_id: str) -> list[JobRecord]:
        with self._lock:
            self._check_open()
            return [_copy(j) for j in self._jobs.values() if j.agent_id == agent_id]

    def files_dir(self, agent_id: str) -> Path:
        name = agent_dir_name(agent_id)
        with self._lock:
            self._check_open()
            if self._files_root is None:
                self._files_root = Path(tempfile.mkdtemp(prefix="mentra-store-"))
            return self._files_root / name

    def close(self) -> None:
        with self._lock:
            self._closed = True
            root, self._files_root = self._files_root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> InMemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _copy_marker(marker: CompactionMarker) -> CompactionMarker:
    return dataclasses.replace(marker, context=list(marker.context), fields=dict(marker.fields))


def _copy_item(item: TranscriptItem) -> TranscriptItem:
    if item.compaction is None:
        return dataclasses.replace(item)
    return dataclasses.replace(item, compaction=_copy_marker(item.compaction))
