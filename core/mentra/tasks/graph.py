"""The board's rules, as pure functions over ``{id: TaskItem}``.

Each operation works on a copy and returns it with its result, so a refused operation changes
nothing and a store can apply one in a single transaction. The rules are the reference's:
ids are max + 1; an edge ``a blocks b`` is kept on both ends (``a.blocks``, ``b.blockedBy``);
self-edges and cycles are refused; a task is blocked while any of its blockers is not
completed, so completing a task unblocks its dependents and reopening it re-blocks them;
``in_progress`` and ``completed`` are refused while a task is blocked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mentra.tasks.models import (
    TaskBoardError,
    TaskCreateArgs,
    TaskItem,
    TaskUpdateArgs,
)

Board = dict[int, TaskItem]


@dataclass(slots=True)
class UpdateResult:
    task: TaskItem
    unblocked: list[int] = field(default_factory=list)
    reblocked: list[int] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)  # every task whose record changed

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task.model_dump(mode="json"),
            "unblocked": self.unblocked,
            "reblocked": self.reblocked,
        }


Operation = Callable[[Board], tuple[Board, UpdateResult]]
"""One board change: the board in, the new board and what happened out."""


def copy_board(board: Board) -> Board:
    return {i: t.model_copy(deep=True) for i, t in board.items()}


def is_blocked(board: Board, task: TaskItem) -> bool:
    return any(b in board and board[b].status != "completed" for b in task.blockedBy)


def _require(board: Board, ids: list[int], what: str) -> None:
    missing = [i for i in ids if i not in board]
    if missing:
        names = ", ".join(str(i) for i in missing)
        raise TaskBoardError(f"{what}: no task with id {names}")


def _add_edge(board: Board, blocker: int, blocked: int) -> None:
    if blocker == blocked:
        raise TaskBoardError(f"task {blocked} cannot block itself")
    if blocker not in board[blocked].blockedBy:
        board[blocked].blockedBy.append(blocker)
    if blocked not in board[blocker].blocks:
        board[blocker].blocks.append(blocked)


def _remove_edge(board: Board, blocker: int, blocked: int) -> None:
    if blocker in board[blocked].blockedBy:
        board[blocked].blockedBy.remove(blocker)
    if blocked in board[blocker].blocks:
        board[blocker].blocks.remove(blocked)


def find_cycle(board: Board) -> list[int] | None:
    """A cycle of ``blocks`` edges as ``[a, b, ..., a]``, or None."""
    state: dict[int, int] = {}  # 1: on the path, 2: done
    path: list[int] = []

    def visit(node: int) -> list[int] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(board[node].blocks):
            if nxt not in board:
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(board):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def _refuse_cycles(board: Board) -> None:
    cycle = find_cycle(board)
    if cycle is not None:
        chain = " blocks ".join(str(i) for i in cycle)
        raise TaskBoardError(f"refused: that dependency would make a cycle ({chain})")


def _blocked_set(board: Board) -> set[int]:
    return {i for i, t in board.items() if is_blocked(board, t)}


def create(board: Board, args: TaskCreateArgs) -> tuple[Board, UpdateResult]:
    out = copy_board(board)
    new_id = max(out, default=0) + 1
    blockers = list(dict.fromkeys(args.blockedBy or []))
    _require(out, blockers, "blockedBy")
    out[new_id] = TaskItem(
        id=new_id,
        subject=args.subject,
        description=args.description or "",
        owner=args.owner,
        workingDirectory=args.workingDirectory,
    )
    for blocker in blockers:
        _add_edge(out, blocker, new_id)
    _refuse_cycles(out)
    return out, UpdateResult(task=out[new_id], changed=[new_id, *blockers])


def update(board: Board, args: TaskUpdateArgs) -> tuple[Board, UpdateResult]:
    if args.taskId not in board:
        raise TaskBoardError(f"no task with id {args.taskId}")
    out = copy_board(board)
    tid = args.taskId
    task = out[tid]
    before = _blocked_set(out)
    given = args.model_fields_set
    if args.subject is not None:
        task.subject = args.subject
    if "description" in given:
        task.description = args.description or ""
    if "owner" in given:
        task.owner = args.owner
    if "workingDirectory" in given:  # null clears it
        task.workingDirectory = args.workingDirectory
    for name in ("addBlockedBy", "removeBlockedBy", "addBlocks", "removeBlocks"):
        _require(out, getattr(args, name) or [], name)
    for other in args.removeBlockedBy or []:
        _remove_edge(out, other, tid)
    for other in args.removeBlocks or []:
        _remove_edge(out, tid, other)
    for other in args.addBlockedBy or []:
        _add_edge(out, other, tid)
    for other in args.addBlocks or []:
        _add_edge(out, tid, other)
    _refuse_cycles(out)
    if args.status is not None and args.status != "pending" and is_blocked(out, task):
        waiting = [b for b in task.blockedBy if out[b].status != "completed"]
        raise TaskBoardError(
            f"refused: task {tid} cannot be {args.status} while it is blocked by "
            + ", ".join(str(b) for b in waiting)
        )
    if args.status is not None:
        task.status = args.status
    after = _blocked_set(out)
    changed = [i for i in sorted(out) if out[i] != board[i]]
    if tid in changed:
        changed.remove(tid)
    return out, UpdateResult(
        task=task,
        unblocked=sorted(before - after),
        reblocked=sorted(after - before),
        changed=[tid, *changed],
    )


def listing(board: Board) -> dict[str, Any]:
    """``task_list``: every task, and the ids by state (blocked wins over pending)."""
    tasks = [board[i] for i in sorted(board)]
    blocked = _blocked_set(board)
    return {
        "tasks": [t.model_dump(mode="json") for t in tasks],
        "ready": [t.id for t in tasks if t.status == "pending" and t.id not in blocked],
        "blocked": [t.id for t in tasks if t.status != "completed" and t.id in blocked],
        "inProgress": [t.id for t in tasks if t.status == "in_progress"],
        "completed": [t.id for t in tasks if t.status == "completed"],
    }


def unfinished(board: Board) -> bool:
    return any(t.status != "completed" for t in board.values())
