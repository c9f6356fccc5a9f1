"""The `Store` protocol: what the runtime persists, free of any one database's idioms.

The transcript is append-only: a round writes only the messages it adds, in one transaction
(`commit_round`). Every backend must pass ``tests/store/test_contract.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from mentra.messages import Message, Usage

AgentStatus = Literal["idle", "running", "failed", "interrupted"]
RunStatus = Literal[
    "running",
    "success",
    "error",
    "provider_error",
    "limit_reached",
    "timeout",
    "busy",
    "invalid_output",
    "interrupted",
]


@dataclass(slots=True)
class AgentRecord:
    id: str
    name: str
    model: str  # PROVIDER:MODEL
    workspace: str
    config: dict[str, Any]  # the effective agent config, secrets never included
    status: AgentStatus = "idle"
    created_at: datetime | None = None
    updated_at: datetime | None = None
    items: int = 0
    turns: int = 0


@dataclass(slots=True)
class RunRecord:
    id: str
    agent_id: str
    prompt: str | None
    status: RunStatus = "running"
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    rounds: int = 0
    tool_calls: int = 0


@dataclass(slots=True)
class TranscriptItem:
    seq: int
    run_id: str | None
    message: Message


@dataclass(slots=True)
class AuditRecord:
    agent_id: str
    run_id: str
    call_id: str
    tool: str
    subject: str
    outcome: Literal["allow", "deny"]
    decided_by: str
    rule: str | None = None
    at: datetime | None = None


@dataclass(slots=True)
class LeaseHolder:
    pid: int
    host: str
    run_id: str


class Store(Protocol):
    """Persistence for agents, runs, transcripts, leases and audit records."""

    def create_agent(self, agent: AgentRecord) -> None: ...

    def get_agent(self, agent_id: str) -> AgentRecord | None:
        """By id, or by a unique id prefix."""
        ...

    def latest_agent(self, workspace: str) -> AgentRecord | None: ...

    def list_agents(self, workspace: str | None) -> list[AgentRecord]: ...

    def set_agent_status(self, agent_id: str, status: AgentStatus) -> None: ...

    def load_transcript(self, agent_id: str) -> list[TranscriptItem]: ...

    def begin_run(self, run: RunRecord) -> None: ...

    def commit_round(self, agent_id: str, run_id: str, messages: list[Message], run: RunRecord) -> None:
        """Append ``messages`` and update the run's counters, all in one transaction."""
        ...

    def finish_run(self, run: RunRecord) -> None: ...

    def last_run(self, agent_id: str) -> RunRecord | None: ...

    def acquire_lease(self, agent_id: str, holder: LeaseHolder, ttl_s: float) -> None:
        """Take the agent's lease or raise `AgentBusyError` naming the live holder."""
        ...

    def renew_lease(self, agent_id: str, holder: LeaseHolder, ttl_s: float) -> None: ...

    def release_lease(self, agent_id: str, holder: LeaseHolder) -> None: ...

    def append_audit(self, record: AuditRecord) -> None: ...

    def close(self) -> None: ...
