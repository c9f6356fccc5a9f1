"""Moving an agent between stores (e.g. between short-lived CI runners) as one JSON document.

The document is versioned (``format``/``version``) and holds the agent record, its runs, its
transcript and its audit records, and ``pending_tool_results`` (results of calls committed one
by one that no round's message carries yet: a crash cut their round short) when there are any;
without them a document is exactly what earlier versions wrote. Leases and background jobs
belong to a machine and are not carried. Import goes through the `Store` protocol only, so it
works for every backend.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mentra._version import __version__
from mentra.errors import UsageError
from mentra.messages import Message, ToolResultBlock, Usage
from mentra.store._common import utcnow
from mentra.store.base import (
    AgentRecord,
    AgentStatus,
    AuditRecord,
    CompactionMarker,
    RunRecord,
    Store,
    StoredRunStatus,
)

EXPORT_FORMAT: Literal["mentra-agent"] = "mentra-agent"
EXPORT_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# An id names files and directories (the agent's files beside its store): no separators, no ".."
SAFE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"


class ExportedAgent(_Model):
    id: str = Field(pattern=SAFE_ID)
    name: str
    model: str
    workspace: str
    config: dict[str, Any]
    status: AgentStatus
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ExportedRun(_Model):
    id: str = Field(pattern=SAFE_ID)
    prompt: str | None
    status: StoredRunStatus
    error: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    rounds: int = 0
    tool_calls: int = 0


class ExportedItem(_Model):
    seq: int
    run_id: str
    message: Message
    # a compaction marker's fields (`CompactionMarker.to_json`); absent on a message
    compaction: dict[str, Any] | None = None


class ExportedAudit(_Model):
    run_id: str
    call_id: str
    tool: str
    subject: str
    outcome: Literal["allow", "deny"]
    decided_by: str
    rule: str | None = None
    at: datetime | None = None


class ExportedToolResult(_Model):
    run_id: str
    call_id: str
    result: ToolResultBlock


class AgentExport(_Model):
    format: Literal["mentra-agent"] = EXPORT_FORMAT
    version: int = EXPORT_VERSION
    mentra_version: str = __version__
    exported_at: datetime = Field(default_factory=utcnow)
    agent: ExportedAgent
    runs: list[ExportedRun] = Field(default_factory=list)
    transcript: list[ExportedItem] = Field(default_factory=list)
    audit: list[ExportedAudit] = Field(default_factory=list)
    pending_tool_results: list[ExportedToolResult] = Field(default_factory=list)
    # the agent's long-term memory records (`mentra.memory`), filled and replayed by the
    # memory package (mentra_cli's export/import), which the store layer may not import
    memory: list[dict[str, Any]] = Field(default_factory=list)
    # taskboard: the agent's task board (TaskItem objects), filled and read by mentra.tasks
    tasks: list[dict[str, Any]] = Field(default_factory=list)


def export_agent(store: Store, agent_id: str) -> dict[str, Any]:
    """The agent (id or unique prefix) as a JSON-safe dict; `UsageError` if it is unknown."""
    from mentra.store.lookup import find_agent

    agent = find_agent(store, agent_id)
    doc = AgentExport(
        agent=ExportedAgent(
            id=agent.id,
            name=agent.name,
            model=agent.model,
            workspace=agent.workspace,
            config=agent.config,
            status=agent.status,
            created_at=agent.created_at,
            updated_at=agent.updated_at,
        ),
        runs=[
            ExportedRun(
                id=r.id,
                prompt=r.prompt,
                status=r.status,
                error=r.error,
                usage=r.usage,
                cost_usd=r.cost_usd,
                started_at=r.started_at,
                finished_at=r.finished_at,
                rounds=r.rounds,
                tool_calls=r.tool_calls,
            )
            for r in store.list_runs(agent.id)
        ],
        transcript=[
            ExportedItem(
                seq=i.seq,
                run_id=i.run_id,
                message=i.message,
                compaction=json.loads(i.compaction.to_json()) if i.compaction else None,
            )
            for i in store.load_transcript(agent.id)
        ],
        audit=[
            ExportedAudit(
                run_id=a.run_id,
                call_id=a.call_id,
                tool=a.tool,
                subject=a.subject,
                outcome=a.outcome,
                decided_by=a.decided_by,
                rule=a.rule,
                at=a.at,
            )
            for a in store.list_audit(agent.id)
        ],
        pending_tool_results=_pending(store, agent.id),
    )
    out = doc.model_dump(
        mode="json", exclude=None if doc.pending_tool_results else {"pending_tool_results"}
    )
    for item in out["transcript"]:  # a message item is exactly what earlier versions wrote
        if item.get("compaction") is None:
            item.pop("compaction", None)
    return out


def _pending(store: Store, agent_id: str) -> list[ExportedToolResult]:
    """Pending results with the run that committed them (the run of the last reply)."""
    pending = store.pending_tool_results(agent_id)
    if not pending:
        return []
    items = store.load_transcript(agent_id)
    run_id = items[-1].run_id if items else ""
    return [ExportedToolResult(run_id=run_id, call_id=k, result=v) for k, v in pending.items()]


def parse_export(data: object) -> AgentExport:
    """Validate an export document; `UsageError` names what is wrong with it."""
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise UsageError('not a mentra agent export (expected "format": "mentra-agent")')
    version = data.get("version")
    if isinstance(version, int) and version > EXPORT_VERSION:
        raise UsageError(
            f"the export has format version {version}, newer than this mentra reads "
            f"({EXPORT_VERSION}); upgrade mentra to import it"
        )
    try:
        doc = AgentExport.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(f"invalid agent export at {where}: {first['msg']}") from None
    run_ids = {r.id for r in doc.runs}
    for item in doc.transcript:
        if item.run_id not in run_ids:
            raise UsageError(
                f"invalid agent export: item {item.seq} names an unknown run {item.run_id}"
            )
    for pending in doc.pending_tool_results:
        if pending.run_id not in run_ids:
            raise UsageError(
                f"invalid agent export: the result of call {pending.call_id} names an unknown "
                f"run {pending.run_id}"
            )
    return doc


def _existing(store: Store, agent_id: str) -> AgentRecord | None:
    try:
        found = store.get_agent(agent_id)
    except UsageError:  # an ambiguous prefix is not an exact match
        return None
    return found if found is not None and found.id == agent_id else None


def import_agent(
    store: Store, data: object, *, workspace: str | Path, replace: bool = False
) -> AgentRecord:
    """Recreate an exported agent in ``store``, bound to ``workspace``.

    An agent with the same id is refused (`UsageError`) unless ``replace``; replacing an agent
    that another live process is running is refused (`AgentBusyError`)."""
    doc = parse_export(data)
    a = doc.agent
    if _existing(store, a.id) is not None:
        if not replace:
            raise UsageError(
                f"agent {a.id} already exists in this store; pass --replace to overwrite it"
            )
        store.delete_agent(a.id)
    for r in doc.runs:
        other = store.get_run(r.id)
        if other is not None:
            raise UsageError(f"run {r.id} already exists in this store (agent {other.agent_id})")
    store.create_agent(
        AgentRecord(
            id=a.id,
            name=a.name,
            model=a.model,
            workspace=str(workspace),
            config=a.config,
            status=a.status,
            created_at=a.created_at,
            updated_at=a.updated_at,
        )
    )
    try:
        _replay(store, doc)
    except BaseException:
        try:
            store.delete_agent(a.id)  # leave no half-imported agent behind
        except Exception:
            pass
        raise
    imported = store.get_agent(a.id)
    assert imported is not None
    return imported


def _replay(store: Store, doc: AgentExport) -> None:
    agent_id = doc.agent.id
    runs: dict[str, RunRecord] = {}
    for r in doc.runs:
        record = RunRecord(agent_id=agent_id, **r.model_dump(exclude={"usage"}), usage=r.usage)
        store.begin_run(record)
        runs[r.id] = record
    items = sorted(doc.transcript, key=lambda i: i.seq)
    start = 0
    while start < len(items):  # one commit per stretch of messages from the same run
        run = runs[items[start].run_id]
        if items[start].compaction is not None:
            try:
                marker = CompactionMarker.from_json(json.dumps(items[start].compaction))
            except ValueError as exc:
                raise UsageError(
                    f"invalid agent export: item {items[start].seq} is an unreadable "
                    f"compaction marker ({exc})"
                ) from None
            store.commit_compaction(agent_id, run.id, marker, run)
            start += 1
            continue
        end = start
        while (
            end < len(items)
            and items[end].run_id == items[start].run_id
            and items[end].compaction is None
        ):
            end += 1
        store.commit_round(agent_id, run.id, [i.message for i in items[start:end]], run)
        start = end
    for pending in doc.pending_tool_results:
        store.commit_tool_result(agent_id, pending.run_id, pending.call_id, pending.result)
    for au in doc.audit:
        store.append_audit(AuditRecord(agent_id=agent_id, **au.model_dump()))
    store.set_agent_status(agent_id, doc.agent.status)


def fork_export(doc: dict[str, Any], new_agent_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    """An export document (`export_agent`) made into a copy under ``new_agent_id``: every run
    gets a new id (run ids are unique across a store), the transcript, audit and pending
    results follow their runs, and a run the original had in progress is ``interrupted`` in
    the copy (no process runs it). The copy, and the new run id of each old one; the
    original's document is left as it was."""
    import copy

    from mentra.ids import new_id

    forked = copy.deepcopy(doc)
    forked["agent"]["id"] = new_agent_id
    run_ids = {run["id"]: new_id() for run in forked.get("runs", [])}
    for run in forked.get("runs", []):
        run["id"] = run_ids[run["id"]]
        if run["status"] == "running":
            run["status"], run["error"] = "interrupted", "forked while it was running"
    if forked["agent"]["status"] == "running":
        forked["agent"]["status"] = "interrupted"
    for key in ("transcript", "audit", "pending_tool_results"):
        for item in forked.get(key, []):
            item["run_id"] = run_ids.get(item["run_id"], item["run_id"])
    return forked, run_ids
