"""Durations: ``90``, ``1.5`` (seconds), ``500ms``, ``30s``, ``15m``, ``2h``, ``7d``, ``1w``, or
several of them together, largest first: ``1h30m``, ``2d12h``, ``1m30s``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_ORDER = ("w", "d", "h", "m", "s", "ms")
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*")
_HINT = "use a number of seconds or 500ms, 30s, 15m, 2h, 7d, 1w, or a sum such as 1h30m"


def parse_duration(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like 30s, 15m, 2h")
    seconds = float(value) if isinstance(value, (int, float)) else _parse_text(str(value))
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


def _parse_text(text: str) -> float:
    plain = _NUMBER.match(text)
    if plain:
        return float(plain.group(1))
    body = text.strip()
    pos, seconds, last = 0, 0.0, -1
    while pos < len(body):
        part = _PART.match(body, pos)
        if part is None:
            raise ValueError(f"invalid duration {text!r}: {_HINT}")
        rank = _ORDER.index(part.group(2))
        if rank <= last:  # each unit once, largest first: 1h30m, not 30m1h or 1h1h
            raise ValueError(f"invalid duration {text!r}: units go largest first, once each")
        last = rank
        seconds += float(part.group(1)) * _UNITS[part.group(2)]
        pos = part.end()
    if not body:
        raise ValueError(f"invalid duration {text!r}: {_HINT}")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
