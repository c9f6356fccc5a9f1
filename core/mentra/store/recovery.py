"""What `resume` can tell about a turn that committed nothing (#14.4).

A run's record, with its prompt, is written (`begin_run`) before the prompt is committed to
the transcript. When that commit fails (a full disk, a store locked too long, a kill at the
wrong moment), the transcript has nothing of the turn, but the run record still names the
prompt: `resume` says that it was not saved and must be given again, instead of "nothing to
re-run".
"""

from __future__ import annotations

from mentra.store.base import RunRecord, RunStore

PROMPT_SHOWN = 200  # characters of a lost prompt quoted in the message


def unsaved_turn(store: RunStore, agent_id: str) -> RunRecord | None:
    """The agent's last run if it did not finish well and committed nothing, its prompt
    included; None otherwise."""
    run = store.last_run(agent_id)
    if run is None or run.prompt is None or run.status == "success":
        return None
    if any(item.run_id == run.id for item in store.load_transcript(agent_id)):
        return None
    return run


def unsaved_prompt_message(store: RunStore | None, agent_id: str) -> str | None:
    """The message for `resume` with no prompt when the last turn's prompt was lost."""
    run = None if store is None else unsaved_turn(store, agent_id)
    if run is None or run.prompt is None:
        return None
    prompt = run.prompt
    shown = prompt if len(prompt) <= PROMPT_SHOWN else prompt[:PROMPT_SHOWN] + "…"
    how = f"it ended {run.status}: {run.error}" if run.error else f"it ended {run.status}"
    if run.status == "running":
        how = "its process stopped"
    return (
        f"agent {agent_id}: the prompt of its last turn was not saved ({how} before the "
        f"prompt was stored), so there is nothing to re-run; give the prompt again: {shown!r}"
    )


__all__ = ["PROMPT_SHOWN", "unsaved_prompt_message", "unsaved_turn"]
