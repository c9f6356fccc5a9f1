"""Finding an agent by what a user typed: the one lookup every command uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mentra.errors import UsageError

if TYPE_CHECKING:
    from mentra.store.base import AgentRecord, AgentStore


def find_agent(store: AgentStore, given: str) -> AgentRecord:
    """The agent with id ``given``, or the one whose id starts with it.

    Not found is a `UsageError` (exit 2) with the same text from every command; an ambiguous
    prefix is the store's `UsageError`; a damaged store is its `StoreError`."""
    agent = store.get_agent(given)
    if agent is None:
        raise UsageError(f"no agent {given!r} in this store")
    return agent


__all__ = ["find_agent"]
