"""Session events: one discriminated union, written as JSONL by the CLI.

Every event carries the envelope ``type``, ``seq``, ``ts``, ``agent_id``, ``run_id``. The set
follows the reference's ``SessionEvent`` (snake_case types) plus ``run_finished``, which is last
on every exit path. Changing an existing field in a way that breaks consumers bumps
``SCHEMA_VERSION``.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from mentra.errors import RunEndStatus
from mentra.messages import Usage

SCHEMA_VERSION = 1


class _Event(BaseModel):
    # built on first use: a run touches a handful of the event types, start-up pays for those
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    seq: int
    ts: str = Field(description="RFC 3339 UTC timestamp")
    agent_id: str
    run_id: str
    parent_run_id: str | None = Field(
        None, description="set on a subagent's events: the run of the agent that started it"
    )


class ToolCallSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    input: dict[str, Any] | None = None
    raw_input: str | None = None


class SessionStarted(_Event):
    type: Literal["session_started"] = "session_started"
    schema_version: int = SCHEMA_VERSION
    mentra_version: str
    agent_name: str
    model: str
    provider: str
    cwd: str
    tools: list[str]
    permission_mode: str
    resumed: bool
    store: str | None = Field(None, description="store path, or null when ephemeral")


class UserMessage(_Event):
    type: Literal["user_message"] = "user_message"
    text: str
    images: int = Field(0, description="images attached to the prompt (--image)")


class AssistantTokenDelta(_Event):
    type: Literal["assistant_token_delta"] = "assistant_token_delta"
    kind: Literal["text", "reasoning"] = "text"
    delta: str


class AssistantMessageCompleted(_Event):
    type: Literal["assistant_message_completed"] = "assistant_message_completed"
    round: int
    text: str
    reasoning: str | None = None
    tool_calls: list[ToolCallSummary]
    stop_reason: str | None
    usage: Usage
    cost_usd: float | None


class ToolQueued(_Event):
    type: Literal["tool_queued"] = "tool_queued"
    call_id: str
    name: str
    input: dict[str, Any] | None
    mutating: bool


class ToolStarted(_Event):
    type: Literal["tool_started"] = "tool_started"
    call_id: str
    name: str


class ToolProgress(_Event):
    type: Literal["tool_progress"] = "tool_progress"
    call_id: str
    name: str
    stream: str = Field(description="stdout, stderr or heartbeat")
    message: str


class ToolCompleted(_Event):
    type: Literal["tool_completed"] = "tool_completed"
    call_id: str
    name: str
    is_error: bool
    output: str
    duration_ms: int


class PermissionRequested(_Event):
    type: Literal["permission_requested"] = "permission_requested"
    call_id: str
    name: str
    subjects: list[str]


class PermissionResolved(_Event):
    type: Literal["permission_resolved"] = "permission_resolved"
    call_id: str
    name: str
    outcome: Literal["allow", "deny"]
    decided_by: str
    rule: str | None = None
    reason: str | None = None
    scope: str | None = None


class TaskUpdated(_Event):
    type: Literal["task_updated"] = "task_updated"
    task_id: str
    status: str
    summary: str | None = None
    task: dict[str, Any] | None = Field(
        None, description="the task board item as it now stands (TaskItem, camelCase)"
    )


class CompactionStarted(_Event):
    type: Literal["compaction_started"] = "compaction_started"
    items: int = Field(description="messages the request held before the compaction")
    trigger: Literal["auto", "manual"] = Field(
        "auto", description="auto: past the threshold; manual: the `compact` tool"
    )
    tokens_before: int = Field(0, description="the request's estimated tokens")


class CompactionCompleted(_Event):
    type: Literal["compaction_completed"] = "compaction_completed"
    items_before: int
    items_after: int
    tokens_before: int = Field(0, description="estimated tokens of the request before")
    tokens_after: int = Field(0, description="estimated tokens of the request after")
    summary: str = Field("", description="the summary requests now carry, as rendered")


class CompactionFailed(_Event):
    """The summary could not be made; the run goes on with micro-compaction only."""

    type: Literal["compaction_failed"] = "compaction_failed"
    trigger: Literal["auto", "manual"]
    error: str


class MemoryUpdated(_Event):
    type: Literal["memory_updated"] = "memory_updated"
    key: str = Field(description="the record id (kept from schema_version 1; = record_id)")
    action: Literal["pinned", "forgotten", "ingested", "recalled"]
    record_id: str
    kind: Literal["fact", "episode", "summary"]


class Notice(_Event):
    type: Literal["notice"] = "notice"
    level: Literal["info", "warning"] = "info"
    message: str


class RetryAttempt(_Event):
    type: Literal["retry_attempt"] = "retry_attempt"
    attempt: int = Field(description="the attempt about to be made, 2 for the first retry")
    max_attempts: int
    delay_s: float
    status_code: int | None
    reason: str
    discarded_partial: bool = Field(
        False, description="the failed attempt had streamed part of a reply, now discarded"
    )
    discarded_chars: int = Field(
        0, description="characters of text and reasoning the failed attempt had streamed"
    )


class ModelSwitched(_Event):
    """A request failed on ``from`` after its retries (overloaded, unreachable) and goes to the
    next model of ``--fallback-model`` / ``fallback_models``; later rounds stay on ``to``."""

    model_config = ConfigDict(serialize_by_alias=True)

    type: Literal["model_switched"] = "model_switched"
    from_: str = Field(alias="from", description="PROVIDER:MODEL that failed")
    to: str = Field(description="PROVIDER:MODEL the request goes to now")
    reason: str


class ModelUsage(Usage):
    """One model's share of a run's usage, with its cost (null: no known price)."""

    cost_usd: float | None = 0.0


class ErrorEvent(_Event):
    type: Literal["error"] = "error"
    status: str
    message: str
    detail: str | None = Field(
        None, description="the provider's whole error body (redacted), when there was one"
    )


class HookCompleted(_Event):
    """One user hook command ran (see `mentra.user_hooks`)."""

    type: Literal["hook_completed"] = "hook_completed"
    hook: str = Field(description="pre_tool, post_tool, user_prompt, session_start, stop, ...")
    command: str
    tool: str | None = Field(None, description="the tool of a pre_tool or post_tool hook")
    exit_code: int | None = Field(description="null when it timed out or could not start")
    decision: str = Field(
        description="none, allow, ask, deny, rewrite, output, context, continue, "
        "block (exit 2) or error (other exit code, crash, timeout)"
    )
    reason: str | None = None
    duration_ms: int


class SubagentStarted(_Event):
    """The ``task`` tool started a child agent; its events follow, with ``parent_run_id``."""

    type: Literal["subagent_started"] = "subagent_started"
    child_agent_id: str
    profile: str | None = Field(description="the `agents:` profile, or null for the default")
    prompt: str
    call_id: str | None = Field(None, description="the parent's `task` call")


class SubagentFinished(_Event):
    type: Literal["subagent_finished"] = "subagent_finished"
    child_agent_id: str
    status: RunEndStatus
    final_text: str | None
    usage: Usage
    cost_usd: float | None
    call_id: str | None = None
    error: str | None = None


class SubagentSummary(BaseModel):
    """One child of a run, in ``run_finished.subagents``."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str
    profile: str | None
    status: RunEndStatus
    usage: Usage
    cost_usd: float | None


class PermissionDenial(BaseModel):
    model_config = ConfigDict(extra="forbid")

    call_id: str
    tool: str
    subjects: list[str]
    reason: str
    decided_by: str | None = Field(None, description="rule, mode, hook, prompt, no_approver, ...")
    agent_id: str | None = Field(
        None, description="the subagent whose call it was; null: the run's own agent"
    )


class RunFinished(_Event):
    type: Literal["run_finished"] = "run_finished"
    status: RunEndStatus  # how the run ended
    exit_code: int
    final_text: str | None
    structured_output: Any = None
    usage: Usage
    cost_usd: float | None
    duration_ms: int
    rounds: int
    tool_calls: int
    permission_denials: list[PermissionDenial]
    errors: list[str]
    subagents: list[SubagentSummary] = Field(
        default_factory=list, description="the children this run started (`task`), in order"
    )
    usage_by_model: dict[str, ModelUsage] = Field(
        default_factory=dict, description='usage and cost per "provider:model" that answered'
    )


Event = Annotated[
    SessionStarted
    | UserMessage
    | AssistantTokenDelta
    | AssistantMessageCompleted
    | ToolQueued
    | ToolStarted
    | ToolProgress
    | ToolCompleted
    | PermissionRequested
    | PermissionResolved
    | TaskUpdated
    | CompactionStarted
    | CompactionCompleted
    | CompactionFailed
    | MemoryUpdated
    | Notice
    | HookCompleted
    | RetryAttempt
    | ModelSwitched
    | ErrorEvent
    | SubagentStarted
    | SubagentFinished
    | RunFinished,
    Field(discriminator="type"),
]


@cache
def event_adapter() -> TypeAdapter[Event]:
    """The one parser of the event union (built on first use, not at import)."""
    return TypeAdapter(Event)


def parse_event(line: str | bytes) -> Event:
    """Parse one JSONL line into its typed event (for consumers and tests)."""
    return event_adapter().validate_json(line)


def events_json_schema() -> dict[str, Any]:
    schema = event_adapter().json_schema()
    schema["title"] = f"mentra session event (schema_version {SCHEMA_VERSION})"
    return schema
