"""`RunOutcome`: how a run ended, as the `Session` reports it and ``run_finished`` carries it.

A leaf of the agent package, so hooks (``on_run_end``) can name it without importing the loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mentra.errors import RunEndStatus
from mentra.messages import Usage


@dataclass(slots=True)
class RunOutcome:
    status: RunEndStatus
    exit_code: int
    final_text: str | None
    structured_output: Any
    usage: Usage
    cost_usd: float | None
    rounds: int
    tool_calls: int
    error: str | None = None
