"""Persistence: the `Store` protocol, its records, and where a workspace's store lives.

Backends load on demand (``mentra.store.sqlite``, ``mentra.store.in_memory``), as do the
async facade (``mentra.store.async_store``) and the contract suite (``mentra.store.testing``);
importing this package does not import sqlite3.
"""

from mentra.store.base import (
    AgentRecord,
    AgentStatus,
    AgentStore,
    AuditRecord,
    AuditStore,
    JobRecord,
    JobStatus,
    JobStore,
    LeaseHolder,
    LeaseRecord,
    LeaseStore,
    PermissionRuleRecord,
    RunRecord,
    RunStore,
    Store,
    StoredRunStatus,
    TranscriptItem,
)
from mentra.store.location import default_store_path, open_store, resolve_store_path
from mentra.store.lookup import find_agent

__all__ = [
    "AgentRecord",
    "AgentStatus",
    "AgentStore",
    "AuditRecord",
    "AuditStore",
    "JobRecord",
    "JobStatus",
    "JobStore",
    "LeaseHolder",
    "LeaseRecord",
    "LeaseStore",
    "PermissionRuleRecord",
    "RunRecord",
    "RunStore",
    "Store",
    "StoredRunStatus",
    "TranscriptItem",
    "default_store_path",
    "find_agent",
    "open_store",
    "resolve_store_path",
]
