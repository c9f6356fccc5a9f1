"""Identifiers that sort by creation time and are unique across processes and machines."""

from __future__ import annotations

import secrets
import time


def new_id() -> str:
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(4)}"
