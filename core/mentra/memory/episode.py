"""Episode text: one line per block of a run's messages, secrets redacted.

``"<role>: <text>"``, ``"<role>: tool use <name> <json>"``, ``"<role>: tool result <text>"``
(the reference's format). Reasoning and images are left out. The text passes the same
redaction as provider errors: the values of the API-key variables (and of any variable whose
name says it holds a secret) become ``***``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable

from mentra.messages import Message, TextBlock, ToolResultBlock, ToolUseBlock

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
_MIN_LEN = 8  # the redaction's own floor: shorter values are not searched for


def secret_values(extra_env_names: Iterable[str] = ()) -> list[str]:
    """Values of the environment that must never be stored."""
    names = {n for n in os.environ if _SECRET_NAME.search(n)} | set(extra_env_names)
    return [v for n in names if (v := os.environ.get(n, "").strip())]


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``mentra.errors.redact`` where it exists (the one shared helper), else the same rule:
    each secret of 8 characters or more replaced by ``***``, longest first."""
    from mentra import errors

    shared = getattr(errors, "redact", None)
    if shared is not None:
        out: str = shared(text, secrets)
        return out
    for secret in sorted({s for s in secrets if s and len(s) >= _MIN_LEN}, key=len)[::-1]:
        text = text.replace(secret, "***")
    return text


def episode_lines(messages: Iterable[Message]) -> list[str]:
    lines: list[str] = []
    for message in messages:
        role = message.role
        for block in message.content:
            if isinstance(block, TextBlock):
                if block.text.strip():
                    lines.append(f"{role}: {block.text}")
            elif isinstance(block, ToolUseBlock):
                args = (
                    block.raw_input
                    if block.raw_input is not None
                    else json.dumps(block.input, sort_keys=True, ensure_ascii=False)
                )
                lines.append(f"{role}: tool use {block.name} {args}")
            elif isinstance(block, ToolResultBlock):
                lines.append(f"{role}: tool result {block.content}")
    return lines


def episode_text(messages: Iterable[Message], secrets: Iterable[str | None] = ()) -> str:
    """The episode of a run, redacted."""
    return redact("\n".join(episode_lines(messages)), [*secret_values(), *secrets])
