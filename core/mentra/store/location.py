"""Where a workspace's store lives, and opening it.

By default each workspace has its own SQLite file in the platform data directory, named by a
hash of the workspace's resolved path (as the reference runtime does). ``--store PATH`` wins
over ``MENTRA_STORE``, which wins over the default. sqlite3 and platformdirs load only when a
store is actually located or opened.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from mentra.errors import StoreError

if TYPE_CHECKING:
    from mentra.store.base import PermissionRuleRecord, Store

STORE_ENV = "MENTRA_STORE"
# A URL passed through Path() keeps one slash after the scheme, so match on that.
_REMOTE_SCHEMES = ("postgres:/", "postgresql:/")


def workspace_key(workspace: Path) -> str:
    """First 16 hex digits of the SHA-256 of the workspace's resolved path."""
    resolved = str(Path(workspace).expanduser().resolve())
    return hashlib.sha256(resolved.encode("utf-8")).hexdigest()[:16]


def default_store_path(workspace: Path) -> Path:
    import platformdirs

    data = platformdirs.user_data_path("mentra", appauthor=False)
    return data / "workspaces" / workspace_key(workspace) / "store.sqlite"


def workspace_store_paths() -> list[Path]:
    """Every workspace store of this user that exists (the default location of each), in a
    stable order: what ``--all`` covers when no ``--store`` is given."""
    import platformdirs

    root = platformdirs.user_data_path("mentra", appauthor=False) / "workspaces"
    try:
        folders = sorted(root.iterdir())
    except OSError:
        return []
    return [f / "store.sqlite" for f in folders if (f / "store.sqlite").is_file()]


def global_store_path() -> Path:
    """The user's own store, shared by every workspace: answers remembered "everywhere"."""
    import platformdirs

    return platformdirs.user_data_path("mentra", appauthor=False) / "global.sqlite"


def resolve_store_path(store_flag: str | None, workspace: Path) -> Path:
    """``--store`` if given, else ``$MENTRA_STORE`` if set and non-empty, else the default."""
    chosen = store_flag or os.environ.get(STORE_ENV) or None
    if chosen is None:
        return default_store_path(workspace)
    if chosen.startswith(_REMOTE_SCHEMES):
        # Let open_store give the clear "not supported" message rather than a path error.
        return Path(chosen)
    return Path(chosen).expanduser().absolute()  # once, against where mentra started


def agent_files_dir(store_path: Path, agent_id: str) -> Path:
    """Where an agent's files live beside an SQLite store file (what `SQLiteStore.files_dir`
    answers). Prefer ``store.files_dir(agent_id)``: a store need not be a file."""
    from mentra.store._common import agent_dir_name

    return store_path.parent / "agents" / agent_dir_name(agent_id)


def open_store(path: str | os.PathLike[str] | None, *, read_only: bool = False) -> Store:
    """Open the store at ``path`` (created if missing); ``None`` means in memory only. With
    ``read_only`` the store must exist and is opened for reading only (works on a read-only
    filesystem; no migration)."""
    if path is None:
        from mentra.store.in_memory import InMemoryStore

        return InMemoryStore()
    text = os.fspath(path)
    if text.startswith(_REMOTE_SCHEMES):
        raise StoreError(f"{text.split(':', 1)[0]} stores are not supported yet: use a file path")
    if Path(text).is_dir():
        raise StoreError(f"the store path {text} is a directory; give a file path")
    from mentra.store.sqlite import SQLiteStore

    return SQLiteStore(text, read_only=read_only)


class UserRuleStore:
    """The user's global store, for permission answers remembered "everywhere". Opened only
    when it already exists or receives its first rule, so runs that never ask pay nothing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._store: Store | None = None

    def _open(self, *, create: bool) -> Store | None:
        if self._store is None and (create or self.path.exists()):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._store = open_store(self.path)
        return self._store

    def list_permission_rules(self, scope: str | None = None) -> list[PermissionRuleRecord]:
        store = self._open(create=False)
        return store.list_permission_rules(scope) if store is not None else []

    def add_permission_rule(self, rule: PermissionRuleRecord) -> None:
        store = self._open(create=True)
        assert store is not None
        store.add_permission_rule(rule)

    def remove_permission_rule(self, rule: PermissionRuleRecord) -> bool:
        store = self._open(create=False)
        return store.remove_permission_rule(rule) if store is not None else False

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
