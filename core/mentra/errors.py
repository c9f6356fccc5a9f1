"""One error root with structured attributes.

Code branches on attributes (``exit_code``, ``status_code``, ``retry_after``), never on message
text. The CLI's single ``except MentraError`` turns ``exit_code`` into the process exit code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, Literal

# How a run ended: `run_finished.status`, a stored run's final state, and `MentraError.status`.
RunEndStatus = Literal[
    "success",
    "error",
    "config_error",
    "provider_error",
    "limit_reached",
    "timeout",
    "busy",
    "invalid_output",
    "interrupted",
    "denied",
]


class MentraError(Exception):
    """Root of every error the runtime raises on purpose."""

    exit_code: ClassVar[int] = 1
    status: ClassVar[RunEndStatus] = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(MentraError):
    """Bad flag, invalid YAML, unknown key or tool. ``location`` is ``file:line:col`` if known."""

    exit_code = 2
    status = "config_error"

    def __init__(self, message: str, *, location: str | None = None) -> None:
        super().__init__(f"{location}: {message}" if location else message)
        self.location = location


class UsageError(ConfigError):
    """A command was called in a way that cannot work (empty prompt, nothing to resume)."""


# HTTP statuses worth retrying: timeouts, conflicts, rate limits, server errors, Anthropic's 529
TRANSIENT_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


class ProviderError(MentraError):
    """The model provider failed: auth, unknown model, bad request, or retries exhausted."""

    exit_code = 3
    status = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
        transient: bool = False,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status_code = status_code
        self.retry_after = retry_after
        self.transient = transient
        # the provider's whole error body (redacted); ``message`` carries one trimmed line of it
        self.detail = detail


# A secret shorter than this is never searched for in text: replacing ``k`` or ``ollama``
# wherever it occurs mangles messages (``fa***e``) and tells a reader what the key is. Such a
# key cannot leak through mentra's own text either: request headers are never logged.
MIN_REDACT_LEN = 8


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every exact occurrence of each secret of ``MIN_REDACT_LEN`` characters or
    more replaced by ``***``; shorter values are left alone (see ``MIN_REDACT_LEN``)."""
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_REDACT_LEN}, key=len)[::-1]:
        text = text.replace(secret, "***")
    return text


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line (runs of whitespace, newlines included, become one space), cut to
    ``limit`` characters: what a provider's multi-line error body becomes on stderr."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


class LimitReachedError(MentraError):
    """A budget ran out: rounds, tool calls, tokens or cost."""

    exit_code = 4
    status = "limit_reached"

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class RunTimeoutError(MentraError):
    """The wall-clock timeout of the run was reached."""

    exit_code = 5
    status = "timeout"


class AgentBusyError(MentraError):
    """Another live process holds the agent's lease."""

    exit_code = 6
    status = "busy"


class InvalidOutputError(MentraError):
    """The final answer did not match ``--json-schema`` after the allowed retries."""

    exit_code = 7
    status = "invalid_output"


class PermissionDeniedRunError(MentraError):
    """A tool call was denied and the run was asked to fail on that (``--fail-on-denial``,
    ``permissions.fail_on_denial``)."""

    exit_code = 8
    status = "denied"


class InterruptedRunError(MentraError):
    """The run was stopped by a signal; state is saved and the run is resumable."""

    status = "interrupted"

    def __init__(self, message: str, *, signal_number: int) -> None:
        super().__init__(message)
        self.signal_number = signal_number
        self.signal_exit_code = 128 + signal_number


class StoreError(MentraError):
    """The store could not be opened, read or written."""


class ToolError(MentraError):
    """A tool failed in a way the model should hear about (becomes an error tool result)."""
