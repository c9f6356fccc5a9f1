"""The SQLite store's schema, as numbered migrations.

A database records the version it is at in ``PRAGMA user_version`` and each applied step in
``schema_migrations``. Steps are only ever appended: never edit a released one.
"""

from __future__ import annotations

SCHEMA_VERSION = 6
# the step that added transcript_items.compaction (compaction markers, mentra.context)
COMPACTION_MARKERS = 6

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE schema_migrations (
            version INTEGER PRIMARY KEY,
            applied_at TEXT NOT NULL
        )""",
        """CREATE TABLE agents (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            model TEXT NOT NULL,
            workspace TEXT NOT NULL,
            config TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            items INTEGER NOT NULL DEFAULT 0,
            turns INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX agents_by_workspace ON agents (workspace, updated_at)",
        "CREATE INDEX agents_by_update ON agents (updated_at)",
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL REFERENCES agents (id),
            prompt TEXT,
            status TEXT NOT NULL,
            error TEXT,
            usage TEXT NOT NULL,
            cost_usd REAL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            rounds INTEGER NOT NULL DEFAULT 0,
            tool_calls INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX runs_by_agent ON runs (agent_id)",
        """CREATE TABLE transcript_items (
            agent_id TEXT NOT NULL REFERENCES agents (id),
            seq INTEGER NOT NULL,
            run_id TEXT,
            message TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (agent_id, seq)
        )""",
        """CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            agent_id TEXT NOT NULL,
            run_id TEXT NOT NULL,
            call_id TEXT NOT NULL,
            tool TEXT NOT NULL,
            subject TEXT NOT NULL,
            outcome TEXT NOT NULL,
            decided_by TEXT NOT NULL,
            rule TEXT,
            at TEXT NOT NULL
        )""",
        "CREATE INDEX audit_by_agent ON audit (agent_id, run_id)",
        """CREATE TABLE permission_rules (
            id INTEGER PRIMARY KEY,
            scope TEXT NOT NULL,
            rule TEXT NOT NULL,
            decision TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (scope, rule, decision)
        )""",
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL REFERENCES agents (id),
            command TEXT NOT NULL,
            status TEXT NOT NULL,
            exit_code INTEGER,
            output_path TEXT,
            pid INTEGER,
            started_at TEXT NOT NULL,
            finished_at TEXT
        )""",
        "CREATE INDEX jobs_by_agent ON jobs (agent_id)",
        """CREATE TABLE leases (
            agent_id TEXT PRIMARY KEY REFERENCES agents (id),
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            run_id TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL
        )""",
    ),
    # 2: lease fencing (a generation per lease, kept per agent so it grows across releases)
    # and tool results committed one by one, before their round's message
    2: (
        "ALTER TABLE agents ADD COLUMN lease_generation INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE leases ADD COLUMN generation INTEGER NOT NULL DEFAULT 0",
        """CREATE TABLE tool_results (
            agent_id TEXT NOT NULL REFERENCES agents (id),
            call_id TEXT NOT NULL,
            run_id TEXT NOT NULL,
            result TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (agent_id, call_id)
        )""",
    ),
    # 3: long-term memory (mentra.memory). The FTS5 index over `content` is derived data, made
    # by `mentra.memory.sqlite` where the SQLite build has FTS5 (a plain scan serves otherwise).
    3: (
        """CREATE TABLE memory_records (
            n INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            content TEXT NOT NULL,
            workspace TEXT NOT NULL,
            agent_id TEXT,
            source TEXT NOT NULL,
            pinned INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX memory_by_workspace ON memory_records (workspace, created_at)",
        "CREATE INDEX memory_by_agent ON memory_records (agent_id, created_at)",
    ),
    # 4: the task board (mentra.tasks.store), one row per task, keyed by the
    # top-level agent's id (the board's namespace); the task itself as JSON (TaskItem)
    4: (
        """CREATE TABLE tasks (
            agent_id TEXT NOT NULL,
            id INTEGER NOT NULL,
            task TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (agent_id, id)
        )""",
    ),
    # 5: subagents (mentra.agent.subagents): a child agent names the agent that started it
    5: (
        "ALTER TABLE agents ADD COLUMN parent_id TEXT",
        "CREATE INDEX agents_by_parent ON agents (parent_id)",
    ),
    # 6: compaction markers (mentra.context): a transcript item whose `compaction` column holds
    # the marker (summary, the context requests start from) as JSON; NULL for a message
    6: ("ALTER TABLE transcript_items ADD COLUMN compaction TEXT",),
}
