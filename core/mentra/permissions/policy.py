"""`RuntimePolicy`: the hard fence around every tool. No permission can lift it.

Paths are resolved with symlinks followed and must land inside a root; the environment a command
sees is cut down to an allow-list.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mentra.errors import MentraError

DEFAULT_ENV_ALLOW = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ", "USER", "TMPDIR")


class PolicyViolationError(MentraError):
    """A tool tried to step outside the policy (a path outside the roots, say)."""


@dataclass(slots=True)
class RuntimePolicy:
    working_dir: Path
    read_roots: list[Path] = field(default_factory=list)
    write_roots: list[Path] = field(default_factory=list)
    env_allow: list[str] = field(default_factory=lambda: list(DEFAULT_ENV_ALLOW))
    command_timeout: float = 60.0
    max_output_bytes: int = 65536
    background_jobs: int = 8
    background_timeout: float = 600.0

    def __post_init__(self) -> None:
        self.working_dir = Path(os.path.realpath(self.working_dir))
        self.read_roots = [Path(os.path.realpath(p)) for p in (self.read_roots or [self.working_dir])]
        self.write_roots = [Path(os.path.realpath(p)) for p in (self.write_roots or [self.working_dir])]

    def resolve(self, path: str | Path, *, write: bool = False, base: Path | None = None) -> Path:
        """Resolve ``path`` (relative to ``base`` or the working dir), following symlinks, and
        check it lies inside the read (or write) roots. Raises `PolicyViolationError`."""
        raw = Path(path)
        joined = raw if raw.is_absolute() else (base or self.working_dir) / raw
        try:
            real = Path(os.path.realpath(joined, strict=False))
        except (OSError, RuntimeError) as exc:  # symlink loops
            raise PolicyViolationError(f"cannot resolve path {str(path)!r}: {exc}") from None
        roots = self.write_roots if write else self.read_roots
        if not any(real == root or real.is_relative_to(root) for root in roots):
            kind = "write" if write else "read"
            shown = ", ".join(str(r) for r in roots)
            raise PolicyViolationError(
                f"path {str(path)!r} resolves outside the allowed {kind} roots ({shown})"
            )
        return real

    def display(self, path: Path) -> str:
        """A path as the model should see it: relative to the working dir when inside it."""
        try:
            return str(path.relative_to(self.working_dir)) or "."
        except ValueError:
            return str(path)

    def child_env(self) -> dict[str, str]:
        """The environment a command may see: only allow-listed variables."""
        return {k: v for k in self.env_allow if (v := os.environ.get(k)) is not None}
