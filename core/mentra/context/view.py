"""`ContextView`: where an agent's requests start once a compaction has run.

The agent keeps its whole history (every message the store holds, in order); the view says
that requests carry ``prefix`` (the latest marker's context) and then the history from
``start`` on. An agent never compacted has no view and sends its history as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mentra.messages import Message
    from mentra.store.base import TranscriptItem


@dataclass(frozen=True, slots=True)
class ContextView:
    prefix: list[Message]
    start: int  # index into the agent's history of the first message after the marker
    folded_turns: int = 0  # assistant turns the summaries stand for

    def messages(self, history: Sequence[Message]) -> list[Message]:
        return [*self.prefix, *history[self.start :]]


def history_and_view(items: Sequence[TranscriptItem]) -> tuple[list[Message], ContextView | None]:
    """A stored transcript as the agent's whole history and the view of its latest marker."""
    history: list[Message] = []
    view: ContextView | None = None
    for item in items:
        marker = item.compaction
        if marker is None:
            history.append(item.message)
        else:
            view = ContextView(list(marker.context), len(history), marker.folded_turns)
    return history, view
