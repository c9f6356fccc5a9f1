"""The `files` tool: read, list and search, and edits that commit together or not at all.

One call carries a list of operations. They apply in order to a staged view of the workspace
(a later operation sees what an earlier one wrote); only when every one of them succeeded are the
changes written, each file through a temporary file and an atomic rename. A call that fails
changes nothing. Every path passes `RuntimePolicy.resolve`: reads inside the read roots, writes
inside the write roots, symlinks followed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from mentra.permissions.policy import PolicyViolationError, RuntimePolicy
from mentra.permissions.rules import WRITE_OPS
from mentra.tools._threads import run_blocking
from mentra.tools.base import ArgsTool, ToolContext, ToolResult
from mentra.tools.builtin._staging import StagedView, StagingError, is_binary

MAX_LINE_CHARS = 2000
MAX_SEARCH_FILE_BYTES = 4 * 1024 * 1024
SKIP_DIRS = frozenset({".git"})


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReadOp(_Op):
    op: Literal["read"]
    path: str
    offset: int = Field(1, ge=1, description="First line to return (1-based).")
    limit: int = Field(2000, ge=1, le=20000, description="Most lines to return.")


class ListOp(_Op):
    op: Literal["list"]
    path: str = "."
    depth: int = Field(2, ge=1, le=20, description="1 lists direct children only.")
    limit: int = Field(200, ge=1, le=5000, description="Most entries to return.")


class SearchOp(_Op):
    op: Literal["search"]
    pattern: str = Field(description="Python regular expression, matched per line.")
    path: str = "."
    limit: int = Field(100, ge=1, le=2000, description="Most matching lines to return.")


class CreateOp(_Op):
    op: Literal["create"]
    path: str
    content: str = Field(description="Content of the new file; fails if the file exists.")


class SetOp(_Op):
    op: Literal["set"]
    path: str
    content: str = Field(description="The whole new content; creates or overwrites.")


class ReplaceOp(_Op):
    op: Literal["replace"]
    path: str
    old: str = Field(min_length=1, description="Exact text to find.")
    new: str = Field(description="Replacement text.")
    count: int = Field(1, ge=1, description="Exact number of occurrences expected.")


class InsertOp(_Op):
    op: Literal["insert"]
    path: str
    content: str
    anchor: str | None = Field(
        None,
        description="Exact text that must occur once; omitted = start (before) or end (after).",
    )
    position: Literal["before", "after"] = "after"


class MoveOp(_Op):
    op: Literal["move"]
    path: str
    to: str = Field(description="Destination path; fails if it exists.")


class DeleteOp(_Op):
    op: Literal["delete"]
    path: str


Operation = Annotated[
    ReadOp | ListOp | SearchOp | CreateOp | SetOp | ReplaceOp | InsertOp | MoveOp | DeleteOp,
    Field(discriminator="op"),
]


class FilesArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operations: list[Operation] = Field(min_length=1, max_length=200)


class FilesTool(ArgsTool[FilesArgs]):
    name = "files"
    permission_kind = "file_ops"
    description = (
        "Read, list, search and edit files in the workspace. `operations` run in order; "
        "read (numbered lines, offset/limit), list (depth/limit), search (regex per line; skips "
        ".git and binary files), create, set (whole content), replace (old -> new, exact "
        "expected count), insert (content before/after a unique anchor), move, delete. "
        "Edits of one call are committed together, or nothing changes if any operation fails."
    )
    mutates = True
    Args = FilesArgs

    def is_mutating(self, args: FilesArgs) -> bool:
        return any(op.op in WRITE_OPS for op in args.operations)

    def permission_subjects(self, args: FilesArgs) -> list[str]:
        subjects: list[str] = []
        for op in args.operations:
            subjects.append(f"{op.op}:{_subject_path(op.path, self._wd)}")
            if isinstance(op, MoveOp):
                subjects.append(f"{op.op}:{_subject_path(op.to, self._wd)}")
        return subjects

    def __init__(self, working_dir: Path | None = None) -> None:
        # only for permission subjects; the policy's working dir is what `run` uses
        self._wd = Path(os.path.realpath(working_dir)) if working_dir else None

    async def run(self, args: FilesArgs, ctx: ToolContext) -> ToolResult:
        return await run_blocking(run_operations, args, ctx.policy)


def _subject_path(path: str, working_dir: Path | None) -> str:
    """The path as given, normalised, relative to the working dir when it lies inside it."""
    norm = os.path.normpath(path) if path else "."
    if Path(norm).is_absolute():
        wd = working_dir or Path(os.path.realpath(Path.cwd()))
        rel = os.path.relpath(norm, wd)
        if rel != ".." and not rel.startswith(".." + os.sep):
            return rel
    return norm


def run_operations(args: FilesArgs, policy: RuntimePolicy) -> ToolResult:
    """Apply the operations to a staged view; commit when all succeeded (blocking I/O)."""
    view = StagedView()
    writing = any(op.op in WRITE_OPS for op in args.operations)
    outputs: list[str] = []
    failed = 0
    for index, op in enumerate(args.operations, start=1):
        try:
            outputs.append(_apply(op, view, policy))
        except (PolicyViolationError, StagingError, OSError, re.error) as exc:
            message = _describe(exc)
            if writing:
                return ToolResult(
                    f"Operation {index} ({op.op} {op.path}) failed: {message}\n"
                    "No changes were made: the operations of a call are committed together.",
                    is_error=True,
                )
            failed += 1
            outputs.append(f"== {op.op} {op.path} ==\nerror: {message}")
    if writing:
        try:
            changed = view.commit()
        except OSError as exc:
            return ToolResult(
                f"Committing the changes failed: {_describe(exc)}\nNo changes were made.",
                is_error=True,
            )
        outputs.append(f"Committed changes to {changed} path(s).")
    return ToolResult("\n\n".join(outputs), is_error=failed == len(args.operations))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, PolicyViolationError | StagingError):
        return exc.message
    if isinstance(exc, re.error):
        return f"invalid regular expression: {exc}"
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    return str(exc)


def _apply(op: _Op, view: StagedView, policy: RuntimePolicy) -> str:
    if isinstance(op, ReadOp):
        return _read(op, view, policy)
    if isinstance(op, ListOp):
        return _list(op, view, policy)
    if isinstance(op, SearchOp):
        return _search(op, view, policy)
    if isinstance(op, CreateOp | SetOp):
        target = policy.resolve(op.path, write=True)
        existed = view.is_file(target)
        if isinstance(op, CreateOp) and view.exists(target):
            raise StagingError(f"{op.path} already exists; use `set` or `replace` to change it")
        view.write(target, op.content.encode())
        verb = "overwrote" if existed else "created"
        return f"{verb} {policy.display(target)} ({_count_lines(op.content)} lines)"
    if isinstance(op, ReplaceOp):
        target = policy.resolve(op.path, write=True)
        text = view.read_text(target, shown=op.path)
        found = text.count(op.old)
        if found != op.count:
            raise StagingError(
                f"expected {op.count} occurrence(s) of `old` in {op.path}, found {found}"
                + ("; copy the exact text from a fresh read" if found == 0 else "")
            )
        view.write(target, text.replace(op.old, op.new).encode())
        return f"replaced {found} occurrence(s) in {policy.display(target)}"
    if isinstance(op, InsertOp):
        target = policy.resolve(op.path, write=True)
        text = view.read_text(target, shown=op.path)
        if op.anchor is None:
            at = 0 if op.position == "before" else len(text)
        else:
            found = text.count(op.anchor)
            if found != 1:
                raise StagingError(
                    f"the anchor must occur exactly once in {op.path}; found {found}"
                )
            start = text.index(op.anchor)
            at = start if op.position == "before" else start + len(op.anchor)
        view.write(target, (text[:at] + op.content + text[at:]).encode())
        return f"inserted {_count_lines(op.content)} line(s) into {policy.display(target)}"
    if isinstance(op, MoveOp):
        source = policy.resolve_entry(op.path, write=True)
        dest = policy.resolve(op.to, write=True)
        view.move(source, dest, shown=op.path, shown_to=op.to)
        return f"moved {policy.display(source)} -> {policy.display(dest)}"
    if isinstance(op, DeleteOp):
        target = policy.resolve_entry(op.path, write=True)
        view.delete(target, shown=op.path)
        return f"deleted {policy.display(target)}"
    raise StagingError(f"unknown operation {op!r}")  # pragma: no cover


def _count_lines(text: str) -> int:
    return len(text.splitlines())


def _read(op: ReadOp, view: StagedView, policy: RuntimePolicy) -> str:
    target = policy.resolve(op.path)
    if view.is_dir(target):
        raise StagingError(f"{op.path} is a directory; use the `list` operation")
    data = view.read_bytes(target, shown=op.path)
    if is_binary(data):
        raise StagingError(f"{op.path} is a binary file ({len(data)} bytes)")
    text = data.decode("utf-8", errors="replace")
    lines = text.splitlines()
    first = op.offset - 1
    chunk = lines[first : first + op.limit]
    shown = policy.display(target)
    if not lines:
        return f"== read {shown} (empty file) =="
    if not chunk:
        return f"== read {shown} ==\n(offset {op.offset} is past the end: {len(lines)} lines)"
    last = first + len(chunk)
    header = f"== read {shown} (lines {op.offset}-{last} of {len(lines)}) =="
    body = "\n".join(f"{n:6}\t{_clip(line)}" for n, line in enumerate(chunk, start=op.offset))
    more = f"\n(more: continue with offset {last + 1})" if last < len(lines) else ""
    return f"{header}\n{body}{more}"


def _clip(line: str) -> str:
    if len(line) <= MAX_LINE_CHARS:
        return line
    return line[:MAX_LINE_CHARS] + f" [… {len(line) - MAX_LINE_CHARS} more characters]"


def _list(op: ListOp, view: StagedView, policy: RuntimePolicy) -> str:
    root = policy.resolve(op.path)
    if not root.is_dir():
        if root.exists():
            return f"== list {op.path} ==\n{policy.display(root)}"
        raise StagingError(f"{op.path} does not exist")
    entries: list[str] = []
    truncated = False

    def walk(directory: Path, level: int) -> None:
        nonlocal truncated
        try:
            children = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            entries.append(f"{policy.display(directory)}/ [unreadable: {exc.strerror}]")
            return
        for child in children:
            if len(entries) >= op.limit:
                truncated = True
                return
            path = Path(child.path)
            if child.is_symlink():
                entries.append(f"{policy.display(path)}@")
            elif child.is_dir():
                entries.append(f"{policy.display(path)}/")
                if level < op.depth and child.name not in SKIP_DIRS:
                    walk(path, level + 1)
            else:
                entries.append(policy.display(path))

    walk(root, 1)
    note = (
        f"\n(limit of {op.limit} entries reached; narrow the path or the depth)"
        if truncated
        else ""
    )
    return f"== list {policy.display(root)} (depth {op.depth}) ==\n" + "\n".join(entries) + note


def _search(op: SearchOp, view: StagedView, policy: RuntimePolicy) -> str:
    regex = re.compile(op.pattern)
    root = policy.resolve(op.path)
    if not root.exists():
        raise StagingError(f"{op.path} does not exist")
    matches: list[str] = []
    skipped = 0
    scanned = 0
    for file in _walk_files(root, policy):
        try:
            data = view.read_bytes(file, shown=str(file))
        except (OSError, StagingError):
            skipped += 1
            continue
        if len(data) > MAX_SEARCH_FILE_BYTES or is_binary(data):
            skipped += 1
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            skipped += 1
            continue
        scanned += 1
        for number, line in enumerate(text.splitlines(), start=1):
            if regex.search(line):
                matches.append(f"{policy.display(file)}:{number}: {_clip(line[:500])}")
                if len(matches) >= op.limit:
                    break
        if len(matches) >= op.limit:
            break
    header = f"== search /{op.pattern}/ in {policy.display(root)} =="
    lines = matches or ["(no matches)"]
    notes = []
    if len(matches) >= op.limit:
        notes.append(f"limit of {op.limit} matches reached; narrow the pattern or the path")
    if skipped:
        notes.append(f"skipped {skipped} binary, oversized or non-UTF-8 file(s)")
    tail = "".join(f"\n({n})" for n in notes)
    return f"{header}\n" + "\n".join(lines) + tail


def _walk_files(root: Path, policy: RuntimePolicy) -> list[Path]:
    """Files under ``root`` in name order; `.git` skipped, directory symlinks not followed,
    file symlinks kept only when their target lies inside the read roots."""
    if not root.is_dir():
        return [root]
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink():
                try:
                    path = policy.resolve(path)
                except PolicyViolationError:
                    continue
                if not path.is_file():
                    continue
            found.append(path)
    return found
