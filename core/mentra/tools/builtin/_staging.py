"""A staged view of files: writes go to an overlay, then commit all together or not at all.

Commit writes every new content to a temporary file beside its target first (the step that can
fail on a full disk or a permission), and only when all of them exist renames them into place
(`os.replace`, atomic per file) and removes deleted entries. A failure while preparing removes
the temporary files and any directory it created, so nothing changed.
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

from mentra.errors import MentraError

MAX_FILE_BYTES = 64 * 1024 * 1024


class StagingError(MentraError):
    """An operation cannot apply to the staged view (missing file, count mismatch, …)."""


def is_binary(data: bytes) -> bool:
    return b"\x00" in data[:8192]


@dataclass(slots=True)
class _Entry:
    data: bytes | None  # None: deleted
    mode: int | None = None  # permission bits to keep (from the file it replaces or moves)


class StagedView:
    def __init__(self) -> None:
        self._overlay: dict[Path, _Entry] = {}

    # -- queries -------------------------------------------------------------------------------
    def exists(self, path: Path) -> bool:
        entry = self._overlay.get(path)
        if entry is not None:
            return entry.data is not None
        return os.path.lexists(path)

    def is_file(self, path: Path) -> bool:
        entry = self._overlay.get(path)
        if entry is not None:
            return entry.data is not None
        return path.is_file()

    def is_dir(self, path: Path) -> bool:
        return path not in self._overlay and path.is_dir()

    def read_bytes(self, path: Path, *, shown: str) -> bytes:
        entry = self._overlay.get(path)
        if entry is not None:
            if entry.data is None:
                raise StagingError(f"{shown} was deleted by an earlier operation of this call")
            return entry.data
        if path.is_dir():
            raise StagingError(f"{shown} is a directory")
        if not path.exists():
            raise StagingError(f"{shown} does not exist")
        if not path.is_file():  # a FIFO or a device would block or never end
            raise StagingError(f"{shown} is not a regular file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise StagingError(
                f"{shown} is too large ({size} bytes; the limit is {MAX_FILE_BYTES}); "
                "use the shell (head, tail, sed -n) to look at parts of it"
            )
        return path.read_bytes()

    def read_text(self, path: Path, *, shown: str) -> str:
        data = self.read_bytes(path, shown=shown)
        if is_binary(data):
            raise StagingError(f"{shown} is a binary file; it cannot be edited as text")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise StagingError(f"{shown} is not UTF-8 text; it cannot be edited") from None

    # -- changes -------------------------------------------------------------------------------
    def write(self, path: Path, data: bytes) -> None:
        if self.is_dir(path):
            raise StagingError(f"{path.name} is a directory")
        for parent in path.parents:
            staged = self._overlay.get(parent)
            if (staged is not None and staged.data is not None) or (
                staged is None and parent.exists() and not parent.is_dir()
            ):
                raise StagingError(f"{parent.name} is a file, not a directory")
            if staged is None and parent.is_dir():
                break
        previous = self._overlay.get(path)
        mode = previous.mode if previous is not None else _mode_of(path)
        self._overlay[path] = _Entry(data, mode)

    def move(self, source: Path, dest: Path, *, shown: str, shown_to: str) -> None:
        if source == dest:
            raise StagingError(f"{shown} and {shown_to} are the same path")
        if source not in self._overlay:
            if source.is_symlink():
                raise StagingError(f"{shown} is a symlink; move it with the shell tool")
            if source.is_dir():
                raise StagingError(f"{shown} is a directory; only files can be moved")
        if self.exists(dest):
            raise StagingError(f"{shown_to} already exists; delete it first")
        data = self.read_bytes(source, shown=shown)
        entry = self._overlay.get(source)
        mode = entry.mode if entry is not None else _mode_of(source)
        self.write(dest, data)
        self._overlay[dest].mode = mode
        self._overlay[source] = _Entry(None)

    def delete(self, path: Path, *, shown: str) -> None:
        if not self.exists(path):
            raise StagingError(f"{shown} does not exist")
        if path not in self._overlay and path.is_dir() and not path.is_symlink():
            raise StagingError(f"{shown} is a directory; only files can be deleted")
        self._overlay[path] = _Entry(None)

    # -- commit --------------------------------------------------------------------------------
    def commit(self) -> int:
        """Write everything or nothing; returns the number of paths changed."""
        temps: list[tuple[Path, Path]] = []
        made_dirs: list[Path] = []
        try:
            for path, entry in self._overlay.items():
                if entry.data is None:
                    continue
                made_dirs.extend(_make_parents(path.parent))
                temp = path.with_name(f".{path.name}.mentra-{uuid.uuid4().hex[:8]}.tmp")
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                temps.append((temp, path))
                with os.fdopen(fd, "wb") as handle:
                    handle.write(entry.data)
                    handle.flush()
                    os.fsync(handle.fileno())
                if entry.mode is not None:
                    temp.chmod(entry.mode)
        except OSError:
            for temp, _ in temps:
                with contextlib.suppress(OSError):
                    temp.unlink()
            for directory in reversed(made_dirs):
                with contextlib.suppress(OSError):
                    directory.rmdir()
            raise
        for temp, path in temps:
            temp.replace(path)
        for path, entry in self._overlay.items():
            if entry.data is None and os.path.lexists(path):
                path.unlink()
        return len(self._overlay)


def _mode_of(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


def _make_parents(directory: Path) -> list[Path]:
    missing: list[Path] = []
    probe = directory
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        path.mkdir()
    return list(reversed(missing))
