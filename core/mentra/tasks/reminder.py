"""The reference's nudge: after 3 rounds without board activity while unfinished tasks exist,
a reminder goes into the system prompt.

`TaskReminder` is the counting, fed once per round; `BoardReminderHook` is the hook
pipeline's ``before_request`` entry that feeds it and appends what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mentra.errors import MentraError

if TYPE_CHECKING:
    from mentra.providers.base import ModelRequest
    from mentra.tasks.tools import TaskBoard

IDLE_ROUNDS = 3
REMINDER = (
    "Reminder: the task board has unfinished tasks and has not been touched for a while. "
    "Use task_list to review it and task_update to record progress (mark tasks in_progress "
    "or completed) as you work."
)


@dataclass(slots=True)
class TaskReminder:
    idle_after: int = IDLE_ROUNDS
    idle_rounds: int = 0

    def after_round(self, board_touched: bool, *, unfinished: bool) -> str | None:
        """The reminder for the next request, or None. ``board_touched``: a ``task_*`` tool
        ran this round; ``unfinished``: the board holds a task not completed."""
        if board_touched:
            self.idle_rounds = 0
            return None
        self.idle_rounds += 1
        if unfinished and self.idle_rounds >= self.idle_after:
            self.idle_rounds = 0  # once per idle stretch, not every round after
            return REMINDER
        return None


def with_reminder(system: str | None, reminder: str | None) -> str | None:
    """The system prompt of the next request, with the reminder appended when there is one."""
    if reminder is None:
        return system
    return f"{system}\n\n{reminder}" if system else reminder


class BoardReminderHook:
    """`before_request` entry: counts the rounds since the board was last used and, once
    `TaskReminder` says so, appends the reminder to this request's system prompt.

    A request closes the round before it, so the reminder rides on the request after three
    completed idle rounds. It is added only when the request offers ``task_list`` (the board
    tools may be disabled or filtered out) and only to the request, never to the history.
    """

    __slots__ = ("_board", "_rounds_seen", "state")

    def __init__(self, board: TaskBoard, state: TaskReminder | None = None) -> None:
        self._board = board
        self.state = state or TaskReminder()
        self._rounds_seen = False  # the first request of the process closes no round

    def __call__(self, request: ModelRequest) -> ModelRequest:
        if not self._rounds_seen:
            self._rounds_seen = True
            self._board.take_touched()  # activity before any round (none yet) starts fresh
            return request
        touched = self._board.take_touched()
        reminder = self.state.after_round(touched, unfinished=not touched and self._unfinished())
        if reminder is None or not any(t.name == "task_list" for t in request.tools):
            return request
        return replace(request, system=with_reminder(request.system, reminder))

    def _unfinished(self) -> bool:
        try:
            return self._board.has_unfinished()
        except MentraError:  # an unreadable board is the board tools' error to report
            return False
