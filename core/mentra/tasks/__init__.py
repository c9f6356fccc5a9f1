"""The task board: a persisted dependency graph of work items, and subagent profiles.

`models` holds `TaskItem` and the tools' inputs (camelCase, as the reference), `graph` the
rules (pure functions), `store` the `TaskStore` concern (SQLite beside the agent store, or
in memory for ``--ephemeral``), `tools` the ``task_*`` tools and the per-run board service,
`reminder` the nudge after idle rounds, `profiles` the ``agents:`` config and the ``task`` tool's
schema. Nothing here is imported by ``mentra --help``.
"""
