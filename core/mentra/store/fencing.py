"""Lease fencing and per-call results: what keeps a paused holder from writing over a taker.

A lease has a *generation* (a fencing token) that grows every time the lease is acquired anew
(a takeover, or a fresh acquisition after a release); renewing keeps it. `acquire_lease`
returns it, and the store object remembers it for the agent. Every write of a run checks, in
the same transaction, that the lease still carries that generation; a holder that lost its
lease gets `LeaseLostError` and its write does not happen. So a process frozen past its lease
(SIGSTOP, a suspended laptop, an event loop blocked for longer than the lease) cannot commit
after another process took the agent over: the loss is detected before its next write, however
long the heartbeat was starved.

Results of tool calls are committed one by one as each call completes (``commit_tool_result``);
the round's message still carries them all. `committed_results` is how a resumed agent answers
the calls of a round that a crash cut short: a call whose result was committed keeps it, only
the others get the "interrupted" result.
"""

from __future__ import annotations

import os

from mentra.errors import AgentBusyError
from mentra.messages import ContentBlock, ToolResultBlock

LEASE_TTL_ENV = "MENTRA_LEASE_TTL"
DEFAULT_LEASE_TTL_S = 30.0


class LeaseLostError(AgentBusyError):
    """Another process took the agent's lease over while this one held it: this run stops
    (``busy``, exit 6) and writes nothing more."""


def default_lease_ttl() -> float:
    """The lease's length in seconds: 30, or ``MENTRA_LEASE_TTL`` (a test knob, so a test can
    let a paused holder's lease run out in a second; values below 0.2 s are raised to 0.2)."""
    raw = os.environ.get(LEASE_TTL_ENV, "").strip()
    if not raw:
        return DEFAULT_LEASE_TTL_S
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_LEASE_TTL_S
    return max(0.2, value) if value == value else DEFAULT_LEASE_TTL_S  # NaN: the default


def lease_lost(agent_id: str, generation: int, current: str | None) -> LeaseLostError:
    """The error for a write whose fence (``generation``) no longer holds; ``current`` says
    who holds the lease now (None: nobody, the taker finished)."""
    now = f"now held by {current}" if current else "taken over and since released"
    return LeaseLostError(
        f"agent {agent_id} lost its lease (generation {generation}) to another process "
        f"({now}); this run stopped and wrote nothing more"
    )


def committed_results(
    pending: dict[str, ToolResultBlock], blocks: list[ContentBlock]
) -> list[ContentBlock]:
    """``blocks`` (the results a resume would give the calls of a cut-short round) with every
    call whose result was committed (``pending``, by call id) answered by that result."""
    return [pending.get(b.tool_use_id, b) if isinstance(b, ToolResultBlock) else b for b in blocks]


__all__ = [
    "DEFAULT_LEASE_TTL_S",
    "LEASE_TTL_ENV",
    "LeaseLostError",
    "committed_results",
    "default_lease_ttl",
    "lease_lost",
]
