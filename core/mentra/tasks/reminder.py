"""The reference's nudge: after 3 rounds without board activity while unfinished tasks exist,
a reminder goes into the system prompt.

A small state object, fed once per round; the session's ``after_round`` hook calls
`TaskReminder.after_round` and its ``before_request`` hook appends what it returned.
"""

from __future__ import annotations

from dataclasses import dataclass

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
