"""Durations written as ``90``, ``1.5``, ``500ms``, ``30s``, ``15m``, ``2h`` or ``7d`` (seconds)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like 30s, 15m, 2h")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _RE.match(str(value))
        if not match:
            raise ValueError(
                f"invalid duration {value!r}: use a number of seconds or 500ms, 30s, 15m, 2h, 7d"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
