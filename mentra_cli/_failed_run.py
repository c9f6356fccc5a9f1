"""`run_finished` for a run that could not start because of its store (#14.3).

Once `run`/`resume` has parsed its flags, stdout ends with `run_finished` whatever happens. The
agent loop emits it for everything after the run starts; a store that cannot be opened or
written before that (a read-only file system, a corrupt or foreign file, a write lock held by
another process) would leave stdout empty. `report_store_failure` closes that gap: a
`StoreError` raised inside it is printed as the ``session_started``, ``error`` and
``run_finished`` events (status ``error``, exit 1, the reason in ``errors``) through the
normal event classes and output sink, then goes on to the CLI's error handler, which prints
the one line on stderr and exits 1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mentra.errors import StoreError

if TYPE_CHECKING:
    from mentra_cli.render.sinks import OutputFormat


@contextmanager
def report_store_failure(
    *,
    fmt: OutputFormat,
    output_last_message: Path | None,
    loaded: Any,
    overrides: Any,
    workspace: Path,
    store_flag: str | None,
    ephemeral: bool,
    agent_id: str | None,
    resumed: bool,
) -> Iterator[None]:
    """Around the start of a run: a `StoreError` escaping it is reported as a failed run."""
    started = time.monotonic()
    try:
        yield
    except StoreError as exc:
        emit_failed_start(
            exc.message,
            fmt=fmt,
            output_last_message=output_last_message,
            loaded=loaded,
            overrides=overrides,
            workspace=workspace,
            store_label=None if ephemeral else _store_label(store_flag, workspace),
            agent_id=agent_id,
            resumed=resumed,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        raise


def emit_failed_start(
    reason: str,
    *,
    fmt: OutputFormat,
    output_last_message: Path | None,
    loaded: Any,
    overrides: Any,
    workspace: Path,
    store_label: str | None,
    agent_id: str | None,
    resumed: bool,
    duration_ms: int = 0,
    status: str = "error",
    exit_code: int = 1,
) -> None:
    """Print the events of a run that failed before it started. ``agent_id`` is the id given
    to `resume` (as typed), or empty when no agent could be created; the run id is new.
    ``status``/``exit_code``: a store failure's by default; the prompt's deadline passing
    while stdin is read gives ``timeout``/5."""
    from mentra._version import __version__
    from mentra.events import ErrorEvent, Event, RunFinished, SessionStarted
    from mentra.ids import new_id
    from mentra.messages import Usage
    from mentra_cli.render.sinks import OutputSink

    config = getattr(loaded, "config", None)
    model = getattr(overrides, "model", None) or _config_model(config)
    provider = model.partition(":")[0] if model else ""
    mode = getattr(overrides, "permission_mode", None) or _config_mode(config)
    envelope: dict[str, Any] = {"agent_id": agent_id or "", "run_id": new_id()}
    sink = OutputSink(fmt, last_message_file=output_last_message)
    events: list[Event] = [
        SessionStarted(
            seq=1,
            ts=_now(),
            **envelope,
            mentra_version=__version__,
            agent_name=getattr(config, "name", None) or "agent",
            model=model or "",
            provider=provider,
            cwd=str(workspace),
            tools=[],
            permission_mode=mode,
            resumed=resumed,
            store=store_label,
        ),
        ErrorEvent(seq=2, ts=_now(), **envelope, status=status, message=reason),
        RunFinished(
            seq=3,
            ts=_now(),
            **envelope,
            status=status,
            exit_code=exit_code,
            final_text=None,
            usage=Usage(),
            cost_usd=None,
            duration_ms=duration_ms,
            rounds=0,
            tool_calls=0,
            permission_denials=[],
            errors=[reason],
        ),
    ]
    for event in events:
        sink(event)
    sink.flush()


def _store_label(store_flag: str | None, workspace: Path) -> str | None:
    from mentra.store import resolve_store_path

    try:
        return str(resolve_store_path(store_flag, workspace))
    except Exception:  # the label is only informative
        return store_flag


def _config_model(config: Any) -> str | None:
    model = getattr(config, "model", None)
    if model is None or isinstance(model, str):
        return model
    return f"{model.provider}:{model.name}"  # an inline mapping


def _config_mode(config: Any) -> str:
    permissions = getattr(config, "permissions", None)
    return str(getattr(permissions, "mode", None) or "default")


def _now() -> str:
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    return f"{stamp}.{int(now * 1000) % 1000:03d}Z"


__all__ = ["emit_failed_start", "report_store_failure"]
