"""`RuntimePolicy`: the hard fence around every tool. No permission can lift it.

Paths are resolved with symlinks followed and must land inside a root; the environment a command
sees is cut down to an allow-list.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

from mentra.errors import MentraError

DEFAULT_ENV_ALLOW = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ", "USER", "TMPDIR")
# the builtin providers' key variables: never passed to a command, whatever env_allow names
PROVIDER_KEY_ENV = frozenset(
    {
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "OPENROUTER_API_KEY",
    }
)


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
    secret_env: frozenset[str] = PROVIDER_KEY_ENV  # removed even when env_allow names them

    def __post_init__(self) -> None:
        self.working_dir = Path(os.path.realpath(self.working_dir))
        wd = self.working_dir
        self.read_roots = [Path(os.path.realpath(p)) for p in (self.read_roots or [wd])]
        self.write_roots = [Path(os.path.realpath(p)) for p in (self.write_roots or [wd])]

    def resolve(self, path: str | Path, *, write: bool = False, base: Path | None = None) -> Path:
        """Resolve ``path`` (relative to ``base`` or the working dir), following symlinks, and
        check it lies inside the read (or write) roots. Raises `PolicyViolationError`.

        ``..`` is applied after symlinks are followed (as the kernel does), so neither ``..`` nor
        a symlink planted inside a root can lead outside it; a symlink loop is refused.
        """
        joined = self._join(path, base)
        real = _realpath(joined, shown=str(path))
        self._check(real, shown=str(path), write=write)
        return real

    def resolve_entry(
        self, path: str | Path, *, write: bool = False, base: Path | None = None
    ) -> Path:
        """Like `resolve`, but the last component is not followed: the directory entry itself
        (a symlink stays a symlink). For deleting or moving an entry, not its target."""
        joined = self._join(path, base)
        name = joined.name
        if name in ("", ".", ".."):
            return self.resolve(path, write=write, base=base)
        parent = _realpath(joined.parent, shown=str(path))
        entry = parent / name
        self._check(entry, shown=str(path), write=write)
        return entry

    def is_inside(self, path: Path, *, write: bool = False) -> bool:
        """Whether an already resolved path lies inside the read (or write) roots."""
        roots = self.write_roots if write else self.read_roots
        return any(path == root or path.is_relative_to(root) for root in roots)

    def _join(self, path: str | Path, base: Path | None) -> Path:
        text = str(path)
        if not text.strip():
            raise PolicyViolationError("empty path")
        if "\x00" in text:
            raise PolicyViolationError(f"path {text!r} contains a NUL byte")
        raw = Path(text).expanduser() if text.startswith("~") else Path(text)
        return raw if raw.is_absolute() else (base or self.working_dir) / raw

    def _check(self, real: Path, *, shown: str, write: bool) -> None:
        if not self.is_inside(real, write=write):
            kind = "write" if write else "read"
            roots = self.write_roots if write else self.read_roots
            listed = ", ".join(str(r) for r in roots)
            raise PolicyViolationError(
                f"path {shown!r} resolves to {str(real)!r}, outside the allowed {kind} roots "
                f"({listed})"
            )

    def display(self, path: Path) -> str:
        """A path as the model should see it: relative to the working dir when inside it."""
        try:
            return str(path.relative_to(self.working_dir)) or "."
        except ValueError:
            return str(path)

    def child_env(self) -> dict[str, str]:
        """The environment a command may see: only allow-listed variables (names, not patterns),
        never a provider's key."""
        return {
            k: v
            for k in self.env_allow
            if k not in self.secret_env and (v := os.environ.get(k)) is not None
        }


def _realpath(path: Path, *, shown: str) -> Path:
    """``realpath`` that refuses symlink loops instead of returning a half-resolved path."""
    try:
        return Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:
        pass  # a path still to be created: resolve what exists
    except (OSError, RuntimeError) as exc:
        raise PolicyViolationError(f"cannot resolve path {shown!r}: {_reason(exc)}") from None
    # Non-strict resolution of a missing path: a loop further up must still be refused.
    probe = path
    while not os.path.lexists(probe) and probe.parent != probe:
        probe = probe.parent
    try:
        os.path.realpath(probe, strict=True)
    except FileNotFoundError:
        pass  # a dangling symlink: realpath below resolves it to its (missing) target
    except (OSError, RuntimeError) as exc:
        raise PolicyViolationError(f"cannot resolve path {shown!r}: {_reason(exc)}") from None
    return Path(os.path.realpath(path))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP:
        return "symlink loop"
    return getattr(exc, "strerror", None) or str(exc)
