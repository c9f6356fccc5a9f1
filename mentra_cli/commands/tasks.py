"""`mentra tasks AGENT_ID`: an agent's task board, read from the store (no runtime loaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mentra.errors import UsageError
from mentra_cli.common import (
    cli_errors,
    listing_format,
    open_workspace_store,
    print_listing,
    workspace_dir,
)

_COLUMNS = ["id", "status", "state", "subject", "blockedBy", "blocks", "owner"]


def tasks(
    agent_id: Annotated[str, typer.Argument(help="Agent id, or a unique prefix of one.")],
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="table | json | jsonl (table on a tty)")
    ] = None,
    store: Annotated[
        str | None, typer.Option("--store", help="Store path (or MENTRA_STORE).")
    ] = None,
    cwd: Annotated[
        Path | None, typer.Option("--cwd", "-C", help="The workspace directory.")
    ] = None,
) -> None:
    """List an agent's task board: each task with its status, dependencies and state
    (ready, blocked, in_progress, completed)."""
    with cli_errors():
        fmt = listing_format(output)
        s = open_workspace_store(store, workspace_dir(cwd), create=False)
        try:
            agent = s.get_agent(agent_id)
            if agent is None:
                raise UsageError(f"no agent {agent_id!r} in this store")
            from mentra.tasks import graph
            from mentra.tasks.store import task_store_for

            board = task_store_for(s).load(agent.id)
        finally:
            s.close()
        rows: list[dict[str, Any]] = []
        for task in (board[i] for i in sorted(board)):
            row = task.model_dump(mode="json")
            if task.status == "pending":
                row["state"] = "blocked" if graph.is_blocked(board, task) else "ready"
            else:
                row["state"] = task.status
            if fmt == "table":
                row["blockedBy"] = ", ".join(map(str, task.blockedBy))
                row["blocks"] = ", ".join(map(str, task.blocks))
                row["owner"] = task.owner or ""
            rows.append(row)
        print_listing(rows, fmt, _COLUMNS)
