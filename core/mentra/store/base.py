"""The `Store` protocol: what the runtime persists, free of any one database's idioms.

The protocol is split by concern, so a caller (or a backend) can name exactly what it needs:
`AgentStore`, `RunStore` (runs and the transcript), `LeaseStore`, `AuditStore` (audit and
remembered permission rules) and `JobStore`; `Store` is all of them plus `files_dir` and
`close`. Tasks, memory and mailboxes will arrive as further protocols joined into `Store` the
same way.

The transcript is append-only: a round writes only the messages it adds, in one transaction
(`commit_round`), so the cost of a round does not grow with the length of the conversation.
Every backend must pass the contract suite ``mentra.store.testing``.

Records are plain dataclasses. A backend returns fresh copies: mutating a record never changes
what is stored until it is passed back to a write method. Timestamps are timezone-aware UTC;
a backend fills the ones left as ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from mentra.errors import RunEndStatus
from mentra.messages import Message, ToolResultBlock, Usage

AgentStatus = Literal["idle", "running", "failed", "interrupted"]
RunStatus = Literal["running"] | RunEndStatus
JobStatus = Literal["running", "exited", "killed", "timeout", "failed", "lost"]
"""``timeout``: killed by the background timeout; ``failed``: could not start; ``lost``: its
supervisor vanished (the machine or process was stopped)."""
RuleDecision = Literal["allow", "ask", "deny"]


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
    items: int = 0  # transcript items; maintained by the store
    turns: int = 0  # runs begun; maintained by the store
    parent_id: str | None = None  # a subagent's parent (the agent whose `task` made it)


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
class CompactionMarker:
    """A compaction of the conversation (`mentra.context`): requests start from ``context``
    (the recent user turns, the summary as a user message, the tail) followed by the items
    after the marker. The messages before it stay in the transcript, whole."""

    summary: str  # the rendered summary, ``[Compaction summary]\nGoal: …``
    context: list[Message]
    fields: dict[str, Any] = field(default_factory=dict)  # goal, progress, … as the model gave
    trigger: str = "auto"  # auto | manual
    tokens_before: int = 0
    tokens_after: int = 0
    folded_turns: int = 0  # assistant turns the summaries stand for, all compactions so far

    def to_json(self) -> str:
        import json

        return json.dumps(
            {
                "summary": self.summary,
                "fields": self.fields,
                "trigger": self.trigger,
                "tokens_before": self.tokens_before,
                "tokens_after": self.tokens_after,
                "folded_turns": self.folded_turns,
                "context": [m.model_dump(mode="json") for m in self.context],
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> CompactionMarker:
        """Raises ``ValueError`` (a ``ValidationError`` for the messages) when unreadable."""
        import json

        from mentra.messages import messages_adapter

        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a compaction marker is a JSON object")
        return cls(
            summary=str(data.get("summary", "")),
            context=messages_adapter().validate_python(data.get("context", [])),
            fields=dict(data.get("fields") or {}),
            trigger=str(data.get("trigger", "auto")),
            tokens_before=int(data.get("tokens_before", 0)),
            tokens_after=int(data.get("tokens_after", 0)),
            folded_turns=int(data.get("folded_turns", 0)),
        )


@dataclass(slots=True)
class TranscriptItem:
    seq: int  # 1, 2, ... per agent, in commit order
    run_id: str  # the run whose round committed it
    message: Message  # a marker's: its summary, as the user message requests carry
    compaction: CompactionMarker | None = None  # set on a compaction marker item


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


@dataclass(slots=True)
class LeaseRecord:
    agent_id: str
    holder: LeaseHolder
    expires_at: datetime
    heartbeat_at: datetime
    generation: int = 0  # the fencing token: grows on every new acquisition (takeovers too)


@dataclass(slots=True)
class PermissionRuleRecord:
    """A rule a user chose to remember ("always allow"). ``scope`` is e.g. ``project``,
    ``global`` or ``agent:<id>``; the permission layer decides what each scope means."""

    scope: str
    rule: str
    decision: RuleDecision = "allow"
    created_at: datetime | None = None


@dataclass(slots=True)
class JobRecord:
    """A background job started by a tool; its output lives in a file, not in the store."""

    id: str
    agent_id: str
    command: str
    status: JobStatus = "running"
    exit_code: int | None = None
    output_path: str | None = None
    pid: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class AgentStore(Protocol):
    """Agents: their records, status and lifetime."""

    def create_agent(self, agent: AgentRecord) -> None:
        """Insert a new agent. An id that exists already is a `StoreError`."""
        ...

    def get_agent(self, agent_id: str) -> AgentRecord | None:
        """By id, or by a unique id prefix (`UsageError` when the prefix is ambiguous)."""
        ...

    def latest_agent(self, workspace: str) -> AgentRecord | None:
        """The most recently active top-level agent of ``workspace`` (what ``resume --last``
        picks; a subagent is never it)."""
        ...

    def list_agents(self, workspace: str | None) -> list[AgentRecord]:
        """Agents of ``workspace`` (every workspace when None), most recently active first."""
        ...

    def set_agent_status(self, agent_id: str, status: AgentStatus) -> None: ...

    def delete_agent(self, agent_id: str) -> None:
        """Remove an agent with its runs, transcript, audit, jobs and lease.

        Refused with `AgentBusyError` while another live process holds its lease."""
        ...


class RunStore(Protocol):
    """Runs and the append-only transcript they commit."""

    def load_transcript(self, agent_id: str) -> list[TranscriptItem]: ...

    def begin_run(self, run: RunRecord, *, fence: int | None = None) -> None:
        """Record a new run; the agent becomes ``running`` and its ``turns`` grows by one.

        ``fence`` (here and on every write of a run) is the lease generation the writer holds;
        None means the one this store object acquired for the agent, if any. A write whose
        fence no longer holds raises `LeaseLostError` and changes nothing."""
        ...

    def commit_round(
        self,
        agent_id: str,
        run_id: str,
        messages: list[Message],
        run: RunRecord,
        *,
        fence: int | None = None,
    ) -> None:
        """Append ``messages`` and update the run's counters, all in one transaction. Results
        committed one by one (`commit_tool_result`) that these messages carry are folded in:
        they are no longer pending."""
        ...

    def commit_compaction(
        self,
        agent_id: str,
        run_id: str,
        marker: CompactionMarker,
        run: RunRecord,
        *,
        fence: int | None = None,
    ) -> None:
        """Append a compaction marker item (its ``message`` the summary) and update the run's
        counters, in one transaction. Nothing before it is changed or dropped."""
        ...

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
        """Commit one call's result as soon as the call completes, before its round's message
        (which still carries every result of the round, as one message). With ``run``, its
        counters are stored too. Committing a call's result again replaces it."""
        ...

    def pending_tool_results(self, agent_id: str) -> dict[str, ToolResultBlock]:
        """Results committed one by one that no round's message carries yet (a crash cut the
        round short), by call id, in commit order."""
        ...

    def finish_run(self, run: RunRecord, *, fence: int | None = None) -> None:
        """Store the run's final state. The agent's status follows: ``success`` -> idle,
        ``interrupted`` -> interrupted, any other failure -> failed."""
        ...

    def interrupt_stale_runs(self, agent_id: str, *, reason: str) -> list[RunRecord]:
        """Mark the agent's runs still ``running`` as ``interrupted`` (with ``reason`` as their
        error) and return them. Call it holding the lease: a run left ``running`` then belongs
        to a process that died (``kill -9``, power loss) without finishing it."""
        ...

    def get_run(self, run_id: str) -> RunRecord | None: ...

    def list_runs(self, agent_id: str) -> list[RunRecord]:
        """The agent's runs, oldest first."""
        ...

    def last_run(self, agent_id: str) -> RunRecord | None: ...


class LeaseStore(Protocol):
    """The per-agent lease that keeps two processes from running one agent at once."""

    def acquire_lease(self, agent_id: str, holder: LeaseHolder, ttl_s: float) -> int:
        """Take the agent's lease or raise `AgentBusyError` naming the live holder; return its
        generation (the fencing token), which this store object remembers for the agent.

        A lease whose expiry passed, or whose holder ran on this host and is gone, is taken
        over, with a greater generation. Acquiring again with the same holder renews it and
        keeps the generation."""
        ...

    def renew_lease(self, agent_id: str, holder: LeaseHolder, ttl_s: float) -> None:
        """Push the expiry out (the heartbeat). `LeaseLostError` (an `AgentBusyError`) if
        another holder took over, or the lease this store object acquired is gone."""
        ...

    def release_lease(self, agent_id: str, holder: LeaseHolder) -> None:
        """Drop the lease if ``holder`` still has it; otherwise do nothing."""
        ...

    def get_lease(self, agent_id: str) -> LeaseRecord | None: ...


class AuditStore(Protocol):
    """Permission decisions: the audit trail and the rules a user chose to remember."""

    def append_audit(self, record: AuditRecord, *, fence: int | None = None) -> None: ...

    def list_audit(self, agent_id: str, run_id: str | None = None) -> list[AuditRecord]:
        """Audit records in the order they were appended."""
        ...

    def add_permission_rule(self, rule: PermissionRuleRecord) -> None:
        """Remember a rule; adding the same (scope, rule, decision) twice keeps one."""
        ...

    def list_permission_rules(self, scope: str | None = None) -> list[PermissionRuleRecord]:
        """Rules of ``scope`` (all when None), oldest first."""
        ...

    def remove_permission_rule(self, rule: PermissionRuleRecord) -> bool:
        """Forget a rule; False when it was not stored."""
        ...


class JobStore(Protocol):
    """Background jobs started by tools."""

    def create_job(self, job: JobRecord, *, fence: int | None = None) -> None: ...

    def finish_job(
        self,
        job_id: str,
        *,
        status: JobStatus,
        exit_code: int | None,
        finished_at: datetime | None = None,
        fence: int | None = None,
    ) -> None:
        """Record how a job ended (any status but ``running``); ``finished_at`` defaults to
        now."""
        ...

    def get_job(self, job_id: str) -> JobRecord | None: ...

    def list_jobs(self, agent_id: str) -> list[JobRecord]:
        """The agent's jobs, oldest first."""
        ...


class Store(AgentStore, RunStore, LeaseStore, AuditStore, JobStore, Protocol):
    """Persistence for agents, runs, transcripts, leases, audit, rules and background jobs.

    Failures raise `StoreError` (exit 1) with a one-line message; a live lease held by another
    process raises `AgentBusyError` (exit 6), a write by a holder whose lease was taken over
    `LeaseLostError` (also exit 6); an ambiguous id prefix raises `UsageError`.
    """

    def files_dir(self, agent_id: str) -> Path:
        """Where the agent's files (background jobs, full tool results) live. The directory
        is not created. Callers locate agent files only through this, never from a path of
        their own: a store need not be a file. An id that cannot name a directory is a
        `StoreError`."""
        ...

    def close(self) -> None:
        """Release the backend's resources; closing twice is harmless."""
        ...
