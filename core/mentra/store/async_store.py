"""`AsyncStore`: any `Store` behind ``async def`` methods, for code on an event loop.

Every call runs on ONE worker thread per store, in the order it was made, so a backend whose
connection must stay on one thread (SQLite) keeps it there, and the event loop never blocks
on disk. `AsyncStore.open` builds the store on that thread too. A cancelled ``await`` does not
stop the call: it waits for the call to finish and then raises `CancelledError` (the call's own
error, if it failed, wins). So, as with a synchronous store, a call is never half made from its
caller's point of view: a run cut short by a signal knows which of its writes happened.
`call` runs several calls in one hop, with nothing of this process between them.

A store whose calls touch no disk and never wait (`InMemoryStore`, ``runs_inline = True``) is
called on the event loop directly: the hop to a thread and back (~60-200 µs) would cost more
than the call itself. The worker thread is started on the first call that needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mentra.errors import StoreError
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
    Store,
    TranscriptItem,
)

if TYPE_CHECKING:
    from mentra.messages import Message, ToolResultBlock

_T = TypeVar("_T")


class AsyncStore:
    """The `Store` protocol with every method ``async``, same names and signatures."""

    def __init__(self, store: Store, *, _executor: ThreadPoolExecutor | None = None) -> None:
        self._store = store
        self._executor = _executor
        self._inline = _executor is None and bool(getattr(store, "runs_inline", False))
        self._closed = False

    @classmethod
    async def open(cls, factory: Callable[[], Store]) -> AsyncStore:
        """Build the store on the worker thread (``factory`` opens connections there)."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mentra-store")
        try:
            store = await asyncio.get_running_loop().run_in_executor(executor, factory)
        except BaseException:
            executor.shutdown(wait=True)  # its one call is over: the join is immediate
            raise
        return cls(store, _executor=executor)

    @property
    def sync(self) -> Store:
        """The wrapped store. Calling it directly bypasses the worker thread: only for code
        that is not on the event loop, and never for a store bound to its thread."""
        return self._store

    async def _call(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        if self._closed:
            raise StoreError("the store is closed")
        return await self._run(fn, *args, **kwargs)

    async def _run(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        if self._inline:
            return fn(*args, **kwargs)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mentra-store")
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))
        try:  # shielded: a cancel must not drop a call still queued for the worker
            return await asyncio.shield(future)
        except asyncio.CancelledError as cancel:
            while not future.done():  # the call goes on: its caller learns how it ended
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(future)
            future.result()  # its error, if it failed
            raise cancel

    async def call(self, fn: Callable[[Store], _T]) -> _T:
        """``fn(store)`` where the store's calls run: several calls in one hop, in order."""
        return await self._call(fn, self._store)

    # -- AgentStore ----------------------------------------------------------------------------
    async def create_agent(self, agent: AgentRecord) -> None:
        return await self._call(self._store.create_agent, agent)

    async def get_agent(self, agent_id: str) -> AgentRecord | None:
        return await self._call(self._store.get_agent, agent_id)

    async def latest_agent(self, workspace: str) -> AgentRecord | None:
        return await self._call(self._store.latest_agent, workspace)

    async def list_agents(self, workspace: str | None) -> list[AgentRecord]:
        return await self._call(self._store.list_agents, workspace)

    async def set_agent_status(self, agent_id: str, status: AgentStatus) -> None:
        return await self._call(self._store.set_agent_status, agent_id, status)

    async def delete_agent(self, agent_id: str) -> None:
        return await self._call(self._store.delete_agent, agent_id)

    # -- RunStore ------------------------------------------------------------------------------
    async def load_transcript(self, agent_id: str) -> list[TranscriptItem]:
        return await self._call(self._store.load_transcript, agent_id)

    async def begin_run(self, run: RunRecord, *, fence: int | None = None) -> None:
        return await self._call(self._store.begin_run, run, fence=fence)

    async def commit_round(
        self,
        agent_id: str,
        run_id: str,
        messages: list[Message],
        run: RunRecord,
        *,
        fence: int | None = None,
    ) -> None:
        return await self._call(
            self._store.commit_round, agent_id, run_id, messages, run, fence=fence
        )

    async def commit_compaction(
        self,
        agent_id: str,
        run_id: str,
        marker: CompactionMarker,
        run: RunRecord,
        *,
        fence: int | None = None,
    ) -> None:
        return await self._call(
            self._store.commit_compaction, agent_id, run_id, marker, run, fence=fence
        )

    async def commit_tool_result(
        self,
        agent_id: str,
        run_id: str,
        call_id: str,
        result: ToolResultBlock,
        run: RunRecord | None = None,
        *,
        fence: int | None = None,
    ) -> None:
        return await self._call(
            self._store.commit_tool_result, agent_id, run_id, call_id, result, run, fence=fence
        )

    async def pending_tool_results(self, agent_id: str) -> dict[str, ToolResultBlock]:
        return await self._call(self._store.pending_tool_results, agent_id)

    async def finish_run(self, run: RunRecord, *, fence: int | None = None) -> None:
        return await self._call(self._store.finish_run, run, fence=fence)

    async def interrupt_stale_runs(self, agent_id: str, *, reason: str) -> list[RunRecord]:
        return await self._call(self._store.interrupt_stale_runs, agent_id, reason=reason)

    async def get_run(self, run_id: str) -> RunRecord | None:
        return await self._call(self._store.get_run, run_id)

    async def list_runs(self, agent_id: str) -> list[RunRecord]:
        return await self._call(self._store.list_runs, agent_id)

    async def last_run(self, agent_id: str) -> RunRecord | None:
        return await self._call(self._store.last_run, agent_id)

    # -- LeaseStore ----------------------------------------------------------------------------
    async def acquire_lease(self, agent_id: str, holder: LeaseHolder, ttl_s: float) -> int:
        return await self._call(self._store.acquire_lease, agent_id, holder, ttl_s)

    async def renew_lease(self, agent_id: str, holder: LeaseHolder, ttl_s: float) -> None:
        return await self._call(self._store.renew_lease, agent_id, holder, ttl_s)

    async def release_lease(self, agent_id: str, holder: LeaseHolder) -> None:
        return await self._call(self._store.release_lease, agent_id, holder)

    async def get_lease(self, agent_id: str) -> LeaseRecord | None:
        return await self._call(self._store.get_lease, agent_id)

    # -- AuditStore ----------------------------------------------------------------------------
    async def append_audit(self, record: AuditRecord, *, fence: int | None = None) -> None:
        return await self._call(self._store.append_audit, record, fence=fence)

    async def list_audit(self, agent_id: str, run_id: str | None = None) -> list[AuditRecord]:
        return await self._call(self._store.list_audit, agent_id, run_id)

    async def add_permission_rule(self, rule: PermissionRuleRecord) -> None:
        return await self._call(self._store.add_permission_rule, rule)

    async def list_permission_rules(self, scope: str | None = None) -> list[PermissionRuleRecord]:
        return await self._call(self._store.list_permission_rules, scope)

    async def remove_permission_rule(self, rule: PermissionRuleRecord) -> bool:
        return await self._call(self._store.remove_permission_rule, rule)

    # -- JobStore ------------------------------------------------------------------------------
    async def create_job(self, job: JobRecord, *, fence: int | None = None) -> None:
        return await self._call(self._store.create_job, job, fence=fence)

    async def finish_job(
        self,
        job_id: str,
        *,
        status: JobStatus,
        exit_code: int | None,
        finished_at: datetime | None = None,
        fence: int | None = None,
    ) -> None:
        return await self._call(
            self._store.finish_job,
            job_id,
            status=status,
            exit_code=exit_code,
            finished_at=finished_at,
            fence=fence,
        )

    async def get_job(self, job_id: str) -> JobRecord | None:
        return await self._call(self._store.get_job, job_id)

    async def list_jobs(self, agent_id: str) -> list[JobRecord]:
        return await self._call(self._store.list_jobs, agent_id)

    # -- Store ---------------------------------------------------------------------------------
    async def files_dir(self, agent_id: str) -> Path:
        return await self._call(self._store.files_dir, agent_id)

    # -- lifecycle --------------------------------------------------------------------------
    async def close(self) -> None:
        """Close the store (on its thread) and stop the worker; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._run(self._store.close)
        finally:
            self.stop_worker()

    def stop_worker(self) -> None:
        """Stop the worker thread once the calls queued for it are done, leaving the store
        open (its owner closes it); a later call starts a new worker."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    async def aclose(self) -> None:
        await self.close()

    async def __aenter__(self) -> AsyncStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


__all__ = ["AsyncStore"]
