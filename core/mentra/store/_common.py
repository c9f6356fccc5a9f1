"""Rules every store backend shares: clocks, lease liveness, agent status after a run."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

from mentra._pids import pid_alive
from mentra.errors import AgentBusyError, StoreError, UsageError
from mentra.store.base import AgentStatus, LeaseRecord, StoredRunStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


def this_host() -> str:
    return socket.gethostname()


def lease_is_live(lease: LeaseRecord, now: datetime) -> bool:
    """A lease binds until it expires, unless its holder ran on this host and has exited."""
    if lease.expires_at <= now:
        return False
    return not (lease.holder.host == this_host() and not pid_alive(lease.holder.pid))


def busy_error(lease: LeaseRecord, now: datetime) -> AgentBusyError:
    h = lease.holder
    left = max(0.0, (lease.expires_at - now).total_seconds())
    return AgentBusyError(
        f"agent {lease.agent_id} is busy: process {h.pid}@{h.host} holds its lease "
        f"(run {h.run_id}, expires in {left:.0f}s)"
    )


def status_after_run(status: StoredRunStatus) -> AgentStatus:
    if status == "running":
        return "running"
    if status == "success":
        return "idle"
    if status == "interrupted":
        return "interrupted"
    return "failed"


def ambiguous_prefix(prefix: str, matches: list[str]) -> UsageError:
    shown = ", ".join(sorted(matches)[:5])
    more = "" if len(matches) <= 5 else f" and {len(matches) - 5} more"
    return UsageError(f"agent id prefix {prefix!r} is ambiguous: matches {shown}{more}")


def agent_dir_name(agent_id: str) -> str:
    """``agent_id`` as the name of the agent's files directory. An id that is not a plain file
    name (a store edited by hand) is refused, so the directory never leaves its parent."""
    if not agent_id or agent_id in (".", "..") or "/" in agent_id or "\\" in agent_id:
        raise StoreError(f"agent id {agent_id!r} cannot name a directory")
    return agent_id
