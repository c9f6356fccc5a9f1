"""`mentra memory list|search|pin|forget`: the workspace's long-term memory.

They read the store of ``--store``/``MENTRA_STORE``/the workspace directly (no providers or
runtime). A command that only reads never creates a store file.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mentra.errors import UsageError
from mentra_cli.common import (
    cli_errors,
    listing_format,
    open_workspace_store,
    print_listing,
    workspace_dir,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mentra.memory.base import MemoryStore
    from mentra.store.base import Store

app = typer.Typer(
    name="memory",
    help="Long-term memory: facts, episodes and summaries later runs can search.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

StoreOpt = Annotated[str | None, typer.Option("--store", help="Store path (or MENTRA_STORE).")]
CwdOpt = Annotated[Path | None, typer.Option("--cwd", "-C", help="The workspace directory.")]
OutputOpt = Annotated[str | None, typer.Option("--output", "-o", help="table, json or jsonl.")]
AgentOpt = Annotated[
    str | None, typer.Option("--agent", help="Only this agent's records (id or unique prefix).")
]
COLUMNS = ["id", "kind", "agent_id", "source", "created_at", "content"]


class _Opened:
    def __init__(self, store: Store, memory: MemoryStore, workspace: str) -> None:
        self.store = store
        self.memory = memory
        self.workspace = workspace

    def agent_id(self, given: str | None) -> str | None:
        if given is None:
            return None
        found = self.store.get_agent(given)
        if found is None:
            raise UsageError(f"no agent {given!r} in this store")
        return found.id


def _open_for_reading(store_flag: str | None, workspace: Path) -> Store:
    """The store read-only (nothing is created or migrated), or an empty one if none."""
    from mentra.store.location import open_store, resolve_store_path

    path = resolve_store_path(store_flag, workspace)
    if not path.exists() or str(path).startswith(("postgres:", "postgresql:")):
        return open_workspace_store(store_flag, workspace, create=False)
    return open_store(path, read_only=True)


@contextmanager
def _open(
    store_flag: str | None, cwd: Path | None, *, create: bool, write: bool = True
) -> Iterator[_Opened]:
    from mentra import memory

    workspace = workspace_dir(cwd)
    s = (
        open_workspace_store(store_flag, workspace, create=create)
        if write
        else _open_for_reading(store_flag, workspace)
    )
    try:
        yield _Opened(s, memory.store_for(s), str(workspace))
    finally:
        memory.close_store(s)
        s.close()


def _row(record: Any) -> dict[str, Any]:
    return dict(record.to_json())


@app.command("list")
def list_records(
    agent: AgentOpt = None,
    workspace: Annotated[
        bool, typer.Option("--workspace", help="Every record of this workspace (the default).")
    ] = False,
    kind: Annotated[str | None, typer.Option("--kind", help="fact, episode or summary.")] = None,
    store: StoreOpt = None,
    cwd: CwdOpt = None,
    output: OutputOpt = None,
) -> None:
    """List memory records of this workspace (or of one agent), newest first."""
    with cli_errors():
        from mentra.memory.base import KINDS, Scope

        fmt = listing_format(output)
        if agent is not None and workspace:
            raise UsageError("give --agent ID or --workspace, not both")
        if kind is not None and kind not in KINDS:
            raise UsageError(f"--kind must be fact, episode or summary, got {kind!r}")
        with _open(store, cwd, create=False, write=False) as opened:
            scope = Scope(workspace=opened.workspace, agent_id=opened.agent_id(agent))
            records = opened.memory.list_records(scope, kind=kind)
            print_listing([_row(r) for r in records], fmt, COLUMNS)


@app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="Words to look for.")],
    limit: Annotated[int, typer.Option("--limit", help="Hits to show (1-10).")] = 5,
    agent: AgentOpt = None,
    store: StoreOpt = None,
    cwd: CwdOpt = None,
    output: OutputOpt = None,
) -> None:
    """Search this workspace's memory the way `memory_search` does, best first."""
    with cli_errors():
        from mentra.memory.base import MAX_SEARCH_LIMIT, Scope

        fmt = listing_format(output)
        if not 1 <= limit <= MAX_SEARCH_LIMIT:
            raise UsageError(f"--limit must be between 1 and {MAX_SEARCH_LIMIT}, got {limit}")
        if not query.strip():
            raise UsageError("QUERY is empty")
        with _open(store, cwd, create=False, write=False) as opened:
            scope = Scope(workspace=opened.workspace, agent_id=opened.agent_id(agent))
            hits = opened.memory.search(query, scope, limit=limit)
            rows = [{**h.to_json(), "agent_id": h.record.agent_id} for h in hits]
            cols = ["id", "kind", "score", "why_retrieved", "timestamp", "content"]
            print_listing(rows, fmt, cols)


@app.command("pin")
def pin(
    text: Annotated[str, typer.Argument(help="The fact to remember.")],
    agent: AgentOpt = None,
    store: StoreOpt = None,
    cwd: CwdOpt = None,
) -> None:
    """Pin a fact (source "manual"): for every agent of the workspace, or one with --agent."""
    with cli_errors():
        from mentra.ids import new_id
        from mentra.memory.base import MemoryRecord

        if not text.strip():
            raise UsageError("TEXT is empty")
        with _open(store, cwd, create=True) as opened:
            record = opened.memory.add(
                MemoryRecord(
                    id=f"fact:{new_id()}",
                    kind="fact",
                    content=text.strip(),
                    workspace=opened.workspace,
                    agent_id=opened.agent_id(agent),
                    source="manual",
                    pinned=True,
                )
            )
            sys.stdout.write(json.dumps(_row(record), ensure_ascii=False) + "\n")


@app.command("forget")
def forget(
    record_id: Annotated[str, typer.Argument(help="The record id, as listed.")],
    store: StoreOpt = None,
    cwd: CwdOpt = None,
) -> None:
    """Delete one record of this workspace; exit 2 when there is none with that id."""
    with cli_errors():
        from mentra.memory.base import Scope

        with _open(store, cwd, create=False) as opened:
            gone = opened.memory.forget(record_id, Scope(workspace=opened.workspace))
            if gone is None:
                raise UsageError(f"no memory record {record_id!r} in this workspace")
            sys.stdout.write(json.dumps({"forgotten": gone.id, "kind": gone.kind}) + "\n")
