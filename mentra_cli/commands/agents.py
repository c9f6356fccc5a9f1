"""Commands over persisted agents: `list-agents`, `show`, `export`, `import`.

They talk to the store directly (no providers, tools or runtime are loaded). A command that
only reads opens the store read-only (it works on a read-only filesystem) and never creates a
store file that does not exist yet. ``--all`` without ``--store``/``MENTRA_STORE`` covers every
workspace store of this user.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
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

    from mentra.store.base import AgentRecord, JobRecord, Store

StoreOpt = Annotated[str | None, typer.Option("--store", help="Store path (or MENTRA_STORE).")]
CwdOpt = Annotated[Path | None, typer.Option("--cwd", "-C", help="The workspace directory.")]
AgentArg = Annotated[str, typer.Argument(help="Agent id, or a unique prefix of one.")]


def _explicit_store(store_flag: str | None) -> bool:
    from mentra.store.location import STORE_ENV

    return bool(store_flag or os.environ.get(STORE_ENV))


def _open_for_reading(store_flag: str | None, workspace: Path) -> Store:
    """The store of ``--store``/``MENTRA_STORE``/the workspace, read-only; a store that does
    not exist yet reads as empty."""
    from mentra.store.location import open_store, resolve_store_path

    path = resolve_store_path(store_flag, workspace)
    if str(path).startswith(("postgres:", "postgresql:")):
        return open_store(path)  # its clear "not supported" error
    if not path.exists():
        return open_store(None)
    return open_store(path, read_only=True)


def _stores(
    store_flag: str | None, workspace: Path, *, every: bool, write: bool
) -> Iterator[Store]:
    """The stores a command covers: the one of ``--store``/``MENTRA_STORE``/this workspace,
    or with ``every`` (``--all`` and no explicit store) each workspace store of this user.
    Each is closed when the caller moves on to the next."""
    opened: Iterator[Store]
    if every and not _explicit_store(store_flag):
        opened = _each_workspace_store(write=write)
    elif write:
        opened = iter([open_workspace_store(store_flag, workspace, create=False)])
    else:
        opened = iter([_open_for_reading(store_flag, workspace)])
    for s in opened:
        try:
            yield s
        finally:
            s.close()


def _each_workspace_store(*, write: bool) -> Iterator[Store]:
    """Each workspace store of this user; one that cannot be opened is skipped with a
    one-line warning on stderr, so one damaged store does not hide the others."""
    from mentra.errors import StoreError
    from mentra.store.location import open_store, workspace_store_paths

    for path in workspace_store_paths():
        try:
            yield open_store(path, read_only=not write)
        except StoreError as exc:
            sys.stderr.write(f"mentra: warning: skipped a store: {exc.message}\n")


def _row(agent: AgentRecord) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "model": agent.model,
        "status": agent.status,
        "turns": agent.turns,
        "items": agent.items,
        "created_at": agent.created_at.isoformat() if agent.created_at else None,
        "updated_at": agent.updated_at.isoformat() if agent.updated_at else None,
        "workspace": agent.workspace,
        "parent": agent.parent_id,
    }


_EPOCH = datetime.min.replace(tzinfo=UTC)
_JOB_COLUMNS = ("id", "status", "exit_code", "started_at", "finished_at", "command", "directory")


def _job_row(job: JobRecord) -> dict[str, Any]:
    """A job as listed. A job still recorded as running is looked up in its directory (the
    truth while it runs), without writing to the store."""
    status: str = job.status
    code, finished = job.exit_code, job.finished_at
    if status == "running" and job.output_path:
        from mentra.tools.builtin.background import job_outcome

        seen = job_outcome(Path(job.output_path))
        status, code, finished = seen if seen is not None else ("lost", None, None)
    return {
        "id": job.id,
        "status": status,
        "exit_code": code,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": finished.isoformat() if finished else None,
        "command": job.command,
        "directory": job.output_path,
    }


def list_agents(
    all_workspaces: Annotated[
        bool, typer.Option("--all", help="Agents of every workspace, not only this one.")
    ] = False,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="table | json | jsonl (table on a tty)")
    ] = None,
    store: StoreOpt = None,
    cwd: CwdOpt = None,
    children: Annotated[
        bool, typer.Option("--children", help="Subagents too (started by the task tool).")
    ] = False,
) -> None:
    """List persisted agents, most recently active first (subagents with --children)."""
    with cli_errors():
        fmt = listing_format(output)
        workspace = workspace_dir(cwd)
        agents: list[tuple[AgentRecord, Any]] = []
        for s in _stores(store, workspace, every=all_workspaces, write=False):
            found = s.list_agents(None if all_workspaces else str(workspace))
            # how the last run ended (`timeout`, `limit_reached`...): `status` only says failed
            agents += [(a, s.last_run(a.id)) for a in found if children or a.parent_id is None]
        agents.sort(key=lambda p: p[0].updated_at or p[0].created_at or _EPOCH, reverse=True)
        rows = [{**_row(a), "last_run": run.status if run else None} for a, run in agents]
        if fmt == "table":
            for row in rows:
                for key in ("created_at", "updated_at"):
                    row[key] = (row[key] or "")[:19].replace("T", " ")
        columns = ["id", "name", "model", "status", "last_run", "turns", "items"]
        columns += ["created_at", "updated_at", "parent"]
        print_listing(rows, fmt, [*columns, "workspace"] if all_workspaces else columns)


def show(
    agent_id: AgentArg,
    jobs: Annotated[
        bool,
        typer.Option("--jobs", help="List the agent's background jobs instead of its transcript."),
    ] = False,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="With --jobs: table | json | jsonl (table on a tty)"),
    ] = None,
    store: StoreOpt = None,
    cwd: CwdOpt = None,
) -> None:
    """Print an agent's transcript as JSON lines (seq, run_id, role, content), or its jobs.
    A compaction marker's line carries its summary as the content and a ``compaction`` key."""
    with cli_errors():
        if output is not None and not jobs:
            raise UsageError("--output goes with --jobs (the transcript is always JSON lines)")
        fmt = listing_format(output)
        from mentra.store.lookup import find_agent

        s = _open_for_reading(store, workspace_dir(cwd))
        try:
            agent = find_agent(s, agent_id)
            if jobs:
                rows = [_job_row(j) for j in s.list_jobs(agent.id)]
                print_listing(rows, fmt, list(_JOB_COLUMNS))
                return
            items = s.load_transcript(agent.id)
        finally:
            s.close()
        out = sys.stdout
        for item in items:
            line = {"seq": item.seq, "run_id": item.run_id, **item.message.model_dump(mode="json")}
            if item.compaction is not None:  # a marker: requests start from its summary
                marker = item.compaction
                line["compaction"] = {
                    "trigger": marker.trigger,
                    "tokens_before": marker.tokens_before,
                    "tokens_after": marker.tokens_after,
                    "summary": marker.fields,
                    "items": len(marker.context),
                }
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
        out.flush()


def delete_agent(
    agent_ids: Annotated[
        list[str] | None, typer.Argument(help="Agent ids, or unique prefixes of them.")
    ] = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="Instead of ids: every agent of this workspace (with --all, of every "
            "workspace) not active for this long, e.g. 7d, 12h.",
        ),
    ] = None,
    all_workspaces: Annotated[
        bool, typer.Option("--all", help="With --older-than: agents of every workspace.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be deleted; delete nothing.")
    ] = False,
    store: StoreOpt = None,
    cwd: CwdOpt = None,
) -> None:
    """Delete agents with their runs, transcript, audit, jobs and files; one JSON line each.

    An agent another process is running is skipped (exit 6 at the end); an unknown id deletes
    nothing (exit 2)."""
    with cli_errors():
        from datetime import timedelta

        from mentra._duration import parse_duration
        from mentra.errors import AgentBusyError
        from mentra.store.lookup import find_agent

        if bool(agent_ids) == (older_than is not None):
            raise UsageError("give agent ids or --older-than DURATION (one of the two)")
        if all_workspaces and older_than is None:
            raise UsageError("--all goes with --older-than")
        cutoff = None
        if older_than is not None:
            try:
                cutoff = datetime.now(UTC) - timedelta(seconds=parse_duration(older_than))
            except ValueError as exc:
                raise UsageError(f"--older-than: {exc}") from None
        workspace = workspace_dir(cwd)
        busy: list[str] = []
        for s in _stores(store, workspace, every=all_workspaces, write=True):
            if cutoff is not None:
                chosen = [
                    a
                    for a in s.list_agents(None if all_workspaces else str(workspace))
                    if (a.updated_at or a.created_at or cutoff) < cutoff
                ]
            else:
                chosen = []
                for given in agent_ids or []:  # every id is checked before anything goes
                    found = find_agent(s, given)
                    if found.id not in {a.id for a in chosen}:
                        chosen.append(found)
            for agent in chosen:
                if not dry_run:
                    try:
                        s.delete_agent(agent.id)
                    except AgentBusyError as exc:
                        busy.append(exc.message)
                        continue
                    from mentra import memory  # its long-term memory goes with it

                    memory.delete_agent_memory(s, agent.id)
                    shutil.rmtree(s.files_dir(agent.id), ignore_errors=True)
                row = {"id": agent.id, "name": agent.name, "deleted": not dry_run}
                sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        if busy:
            raise AgentBusyError("; ".join(busy))


def export(
    agent_id: AgentArg,
    output_file: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    store: StoreOpt = None,
    cwd: CwdOpt = None,
) -> None:
    """Write an agent (record, runs, transcript, audit) as one JSON document."""
    with cli_errors():
        from mentra.store.transfer import export_agent
        from mentra.tasks.store import export_board  # taskboard

        s = _open_for_reading(store, workspace_dir(cwd))
        try:
            from mentra import memory  # the agent's long-term memory travels with it

            doc = export_agent(s, agent_id)
            doc["memory"] = memory.export_memory(s, doc["agent"]["id"])
            doc["tasks"] = export_board(s, doc["agent"]["id"])  # the task board too
            text = json.dumps(doc, ensure_ascii=False) + "\n"
        finally:
            s.close()
        if output_file is None or str(output_file) == "-":
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        _write_atomically(output_file, text)


def _write_atomically(path: Path, text: str) -> None:
    """A reader never sees half an export: write beside the target, then rename."""
    directory = path.parent if str(path.parent) else Path()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        Path(tmp).replace(path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None


def import_(
    file: Annotated[Path, typer.Argument(help="An export written by `mentra export` (- = stdin).")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite an agent with the same id.")
    ] = False,
    store: StoreOpt = None,
    cwd: CwdOpt = None,
) -> None:
    """Recreate an exported agent in this store, bound to this workspace."""
    with cli_errors():
        from mentra.store.transfer import import_agent
        from mentra.tasks.store import import_board, parse_board  # taskboard

        workspace = workspace_dir(cwd)
        data = _read_json(file)
        s = open_workspace_store(store, workspace, create=True)
        try:
            from mentra import memory  # and its long-term memory, checked first

            records = memory.parse_memory(data.get("memory") if isinstance(data, dict) else None)
            tasks = parse_board(data)  # the task board, checked before anything is written
            agent = import_agent(s, data, workspace=str(workspace), replace=replace)
            memory.import_memory(s, agent.id, records, workspace=str(workspace))
            import_board(s, agent.id, tasks)
        finally:
            s.close()
        summary = {k: v for k, v in _row(agent).items() if k not in ("created_at", "updated_at")}
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
        sys.stdout.flush()


def _read_json(file: Path) -> object:
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{file} is not a mentra agent export (not UTF-8 text)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{file}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None


def fork(
    agent_id: AgentArg,
    new_id: Annotated[
        str | None,
        typer.Option("--agent-id", help="Id for the copy (a plain name; must be new)."),
    ] = None,
    store: StoreOpt = None,
    cwd: CwdOpt = None,
) -> None:
    """Copy an agent (transcript, runs, memory, task board) to a new id; print the new id."""
    with cli_errors():
        from mentra_cli.common import open_runtime, require_store

        require_store(store, workspace_dir(cwd), f"no agent {agent_id!r} in this store")
        runtime = open_runtime(
            workspace=workspace_dir(cwd), store_flag=store, ephemeral=False, no_user_config=True
        )
        try:
            forked = runtime.fork_agent(agent_id, new_id)
        finally:
            runtime.close()
        sys.stdout.write(forked + "\n")
        sys.stdout.flush()
