"""The ``task_*`` tools and `TaskBoard`, the per-agent service they work through.

The tools are stateless: a run puts its `TaskBoard` in the tool services
(``services["task_board"]``), bound to the run's emitter so every change is a
``task_updated`` event. `TaskBoard.begin_run` / `end_run` keep the reference's promise that a
failed run leaves the board as it was when the run began.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from mentra.errors import MentraError
from mentra.tasks import graph
from mentra.tasks.models import (
    TaskBoardError,
    TaskCreateArgs,
    TaskGetArgs,
    TaskItem,
    TaskListArgs,
    TaskUpdateArgs,
)
from mentra.tasks.store import TaskStore, task_store_for
from mentra.tools.base import ArgsTool, Tool, ToolContext, ToolResult

if TYPE_CHECKING:
    from mentra.store.base import Store

SERVICE_KEY = "task_board"
TASK_TOOL_NAMES = ("task_create", "task_update", "task_list", "task_get")
# run statuses after which the board is kept: an interrupted run resumes where it stood
_KEEP_ON = frozenset({"success", "interrupted"})


class _Emitter(Protocol):
    """What `TaskBoard.bind` needs of the run's `mentra.agent.emitter.Emitter`."""

    def emit(self, cls: Any, **fields: Any) -> Any: ...


class TaskBoard:
    """One namespace's board in a `TaskStore`, with change notification and run snapshots."""

    def __init__(self, store: TaskStore, namespace: str, *, snapshots: bool = True) -> None:
        self.store = store
        self.namespace = namespace
        # a subagent's board (its parent's namespace) takes no snapshot: the top-level run
        # owns the restore, so a failed child never undoes what its parent did meanwhile
        self.snapshots = snapshots
        self.on_change: Callable[[TaskItem], None] | None = None
        self.touched = False  # set by any task_* call; read (and reset) by the reminder hook
        self._snapshot: list[TaskItem] | None = None

    def bind(self, emitter: _Emitter) -> None:
        """Announce every changed task on ``emitter`` as ``task_updated``."""
        from mentra.events import TaskUpdated

        def emit(task: TaskItem) -> None:
            emitter.emit(
                TaskUpdated,
                task_id=str(task.id),
                status=task.status,
                summary=task.subject,
                task=task.model_dump(mode="json"),
            )

        self.on_change = emit

    def _apply(self, op: graph.Operation) -> graph.UpdateResult:
        def change(
            board: graph.Board,
        ) -> tuple[graph.Board, tuple[graph.UpdateResult, list[TaskItem]]]:
            new, result = op(board)
            return new, (result, [new[i] for i in result.changed])

        self.touched = True
        result, changed = self.store.mutate(self.namespace, change)
        if self.on_change is not None:
            for task in changed:
                self.on_change(task)
        return result

    def create(self, args: TaskCreateArgs) -> graph.UpdateResult:
        return self._apply(lambda b: graph.create(b, args))

    def update(self, args: TaskUpdateArgs) -> graph.UpdateResult:
        return self._apply(lambda b: graph.update(b, args))

    def listing(self) -> dict[str, Any]:
        self.touched = True
        return graph.listing(self.store.load(self.namespace))

    def get(self, task_id: int) -> TaskItem:
        self.touched = True
        task = self.store.load(self.namespace).get(task_id)
        if task is None:
            raise TaskBoardError(f"no task with id {task_id}")
        return task

    def take_touched(self) -> bool:
        """Whether a ``task_*`` tool ran since the last call (the reminder's ``board_touched``)."""
        touched, self.touched = self.touched, False
        return touched

    def has_unfinished(self) -> bool:
        return graph.unfinished(self.store.load(self.namespace))

    def begin_run(self) -> None:
        if not self.snapshots:
            return
        self._snapshot = list(self.store.load(self.namespace).values())

    def end_run(self, status: str) -> str | None:
        """After a run that failed, put the board back as it was when the run began. Returns
        the error when that could not be done (the run's errors list it), else None."""
        snapshot, self._snapshot = self._snapshot, None
        if snapshot is None or status in _KEEP_ON:
            return None
        try:
            self.store.replace(self.namespace, snapshot)
        except MentraError as exc:
            return f"the task board could not be restored: {exc.message}"
        return None


def board_for(store: Store | None, namespace: str) -> TaskBoard:
    """The board of the top-level agent ``namespace``, kept beside ``store``."""
    return TaskBoard(task_store_for(store), namespace)


def tool_entries(enabled: bool) -> dict[str, tuple[Tool, str]]:
    """The board tools for a config's tool set (``tasks: {enabled: false}`` leaves them out)."""
    if not enabled:
        return {}
    return {t.name: (t, "builtin") for t in task_tools()}


def bind_services(services: dict[str, Any], emitter: _Emitter) -> None:
    """Point the run's board (if any) at the emitter of the run."""
    board = services.get(SERVICE_KEY)
    if isinstance(board, TaskBoard):
        board.bind(emitter)


def _board(ctx: ToolContext) -> TaskBoard:
    board = ctx.services.get(SERVICE_KEY)
    if not isinstance(board, TaskBoard):
        raise TaskBoardError("the task board is not available in this run")
    return board


def _ok(value: Any) -> ToolResult:
    return ToolResult(json.dumps(value, ensure_ascii=False))


class _TaskTool(ArgsTool[Any]):
    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        try:
            return _ok(self.call(_board(ctx), args))
        except TaskBoardError as exc:
            return ToolResult(exc.message, is_error=True)

    def call(self, board: TaskBoard, args: Any) -> Any:
        raise NotImplementedError


class TaskCreateTool(_TaskTool):
    name: ClassVar[str] = "task_create"
    description: ClassVar[str] = (
        "Add a task to the task board, the shared list of work items and their dependencies. "
        "`blockedBy` lists ids that must be completed first. Returns the new task."
    )
    mutates: ClassVar[bool] = True
    Args = TaskCreateArgs

    def call(self, board: TaskBoard, args: TaskCreateArgs) -> Any:
        return board.create(args).task.model_dump(mode="json")


class TaskUpdateTool(_TaskTool):
    name: ClassVar[str] = "task_update"
    description: ClassVar[str] = (
        "Change a task: fields, status (pending, in_progress, completed) and dependencies. "
        "Completing a task unblocks its dependents; reopening it re-blocks them. Returns "
        "{task, unblocked, reblocked}."
    )
    mutates: ClassVar[bool] = True
    Args = TaskUpdateArgs

    def call(self, board: TaskBoard, args: TaskUpdateArgs) -> Any:
        return board.update(args).to_json()


class TaskListTool(_TaskTool):
    name: ClassVar[str] = "task_list"
    description: ClassVar[str] = (
        "The task board: every task, and the ids that are ready, blocked, in progress and "
        "completed."
    )
    Args = TaskListArgs

    def call(self, board: TaskBoard, args: TaskListArgs) -> Any:
        return board.listing()


class TaskGetTool(_TaskTool):
    name: ClassVar[str] = "task_get"
    description: ClassVar[str] = "One task of the task board, by id."
    Args = TaskGetArgs

    def call(self, board: TaskBoard, args: TaskGetArgs) -> Any:
        return board.get(args.taskId).model_dump(mode="json")


def task_tools() -> list[Tool]:
    """Fresh instances of the four board tools."""
    return [TaskCreateTool(), TaskUpdateTool(), TaskListTool(), TaskGetTool()]
