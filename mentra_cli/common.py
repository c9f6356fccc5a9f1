"""Helpers every command shares: error reporting, output formats, store and runtime set-up."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer

from mentra.errors import ConfigError, MentraError, UsageError

if TYPE_CHECKING:
    from mentra import RunOverrides
    from mentra.config import LoadedConfig, UserConfig
    from mentra.runtime import Runtime
    from mentra.store.base import Store

ListingFormat = Literal["table", "json", "jsonl"]


def fail(message: str, exit_code: int) -> typer.Exit:
    """Print one line on stderr and give the exit to raise."""
    sys.stderr.write(f"mentra: error: {message}\n")
    sys.stderr.flush()
    return typer.Exit(exit_code)


@contextmanager
def cli_errors() -> Iterator[None]:
    """The one place a `MentraError` becomes a line on stderr and an exit code."""
    try:
        yield
    except MentraError as exc:
        raise fail(exc.message, exc.exit_code) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None


def user_config_dir() -> Path:
    base = os.environ.get("MENTRA_CONFIG_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return Path(xdg) / "mentra" if xdg else Path.home() / ".config" / "mentra"


def workspace_dir(cwd: Path | None) -> Path:
    path = (cwd or Path.cwd()).resolve()
    if not path.is_dir():
        raise ConfigError(f"--cwd {path} is not a directory")
    return path


def load_config(
    config: Path | None, *, variables: list[str], no_user_config: bool
) -> tuple[LoadedConfig, UserConfig | None]:
    from mentra.config import load_agent_config

    values: dict[str, str] = {}
    for item in variables:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--var expects KEY=VALUE, got {item!r}")
        values[key] = value
    user_file = None if no_user_config else user_config_dir() / "config.yaml"
    return load_agent_config(config, variables=values, user_config=user_file)


def open_runtime(
    *,
    workspace: Path,
    store_flag: str | None,
    ephemeral: bool,
    no_user_config: bool,
    user: UserConfig | None = None,
    interactive: bool = False,
) -> Runtime:
    """A runtime with the store this command should use (None when ephemeral)."""
    from mentra.runtime import Runtime

    store = None
    label = None
    if not ephemeral:
        from mentra.store.location import open_store, resolve_store_path

        path = resolve_store_path(store_flag, workspace)
        store = open_store(path)
        label = str(path)
    approver = None
    if interactive:
        from mentra_cli.render.approvals import TerminalApprover, terminal_approver_available

        if terminal_approver_available():
            approver = TerminalApprover()
    runtime = Runtime(
        workspace=workspace,
        store=store,
        store_label=label,
        user_config_dir=user_config_dir(),
        no_user_config=no_user_config,
        interactive_approver=approver,
    )
    if user is not None:
        runtime.trusted_folders = [
            str(Path(p).expanduser().resolve()) for p in user.trusted_folders
        ]
    return runtime


def inspection_runtime(
    config: Path | None, *, cwd: Path | None, no_user_config: bool
) -> tuple[Runtime, LoadedConfig]:
    """The config and an ephemeral runtime for commands that look without running."""
    workspace = workspace_dir(cwd)
    loaded, user = load_config(config, variables=[], no_user_config=no_user_config)
    runtime = open_runtime(
        workspace=workspace,
        store_flag=None,
        ephemeral=True,
        no_user_config=no_user_config,
        user=user,
    )
    runtime.declare_providers(loaded.config.providers)
    return runtime, loaded


def permission_overrides(
    *,
    allow: list[str] | None,
    ask: list[str] | None,
    deny: list[str] | None,
    policy: list[Path] | None,
    permission_mode: str | None,
    trust_project: bool,
) -> RunOverrides:
    """The permission flags as run overrides (`--policy` paths relative to the current dir)."""
    from mentra import RunOverrides

    return RunOverrides(
        allow=allow or [],
        ask=ask or [],
        deny=deny or [],
        policy_files=[p if p.is_absolute() else Path.cwd() / p for p in policy or []],
        permission_mode=permission_mode,
        trust_project=trust_project,
    )


def listing_format(value: str | None) -> ListingFormat:
    """``--output`` of a listing command; by default a table on a terminal, JSONL otherwise."""
    if value is None:
        return "table" if sys.stdout.isatty() else "jsonl"
    if value not in ("table", "json", "jsonl"):
        raise ConfigError(f"--output must be table, json or jsonl, got {value!r}")
    return value  # type: ignore[return-value]


def print_listing(rows: list[dict[str, Any]], fmt: ListingFormat, columns: list[str]) -> None:
    """Rows as a rich table (terminal), one JSON array, or JSON lines."""
    if fmt == "json":
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
    elif fmt == "jsonl":
        for row in rows:
            sys.stdout.write(json.dumps(row, default=str) + "\n")
    else:
        from mentra_cli.render.table import print_table

        print_table(rows, columns)
    sys.stdout.flush()


def require_store(store_flag: str | None, workspace: Path, missing: str) -> None:
    """A command that needs an agent already stored (`resume`, `fork`) fails with ``missing``
    (exit 2) when its store does not exist, before opening it would make an empty file."""
    from mentra.store.location import resolve_store_path

    if _absent(resolve_store_path(store_flag, workspace)):
        raise UsageError(missing)


def _absent(path: Path) -> bool:
    """A store file not made yet (a server's URL always counts as there)."""
    return not path.exists() and not str(path).startswith(("postgres:", "postgresql:"))


def open_workspace_store(store_flag: str | None, workspace: Path, *, create: bool) -> Store:
    """The store of ``--store``/``MENTRA_STORE``/the workspace. With ``create=False`` a store
    that does not exist yet reads as empty, and no file is made (read-only commands)."""
    from mentra.store.location import open_store, resolve_store_path

    path = resolve_store_path(store_flag, workspace)
    if not create and _absent(path):
        return open_store(None)
    return open_store(path)
