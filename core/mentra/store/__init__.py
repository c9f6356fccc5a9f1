"""Persistence: the `Store` protocol, its records, and where a workspace's store lives.

Backends load on demand (``mentra.store.sqlite``, ``mentra.store.in_memory``); importing this
package does not import sqlite3.
"""

from mentra.store.base import (
    AgentRecord,
    AgentStatus,
    AuditRecord,
    JobRecord,
    JobStatus,
    LeaseHolder,
    LeaseRecord,
    PermissionRuleRecord,
    RunRecord,
    RunStatus,
    Store,
    TranscriptItem,
)
from mentra.store.location import default_store_path, open_store, resolve_store_path

__all__ = [
    "AgentRecord",
    "AgentStatus",
    "AuditRecord",
    "JobRecord",
    "JobStatus",
    "LeaseHolder",
    "LeaseRecord",
    "PermissionRuleRecord",
    "RunRecord",
    "RunStatus",
    "Store",
    "TranscriptItem",
    "default_store_path",
    "open_store",
    "resolve_store_path",
]
