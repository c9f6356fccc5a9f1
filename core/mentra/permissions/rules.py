"""Permission rules: ``TOOL`` or ``TOOL(PATTERN)``, parsed once and matched against subjects.

A subject is what a tool says a call touches (`Tool.permission_subjects`), read by the kind the
tool declares (``permission_kind``): ``shell`` (a command line; ``shell`` and ``background_run``),
``file_ops`` (``OP:PATH`` per operation; ``files``) or ``json`` (canonical JSON, as text). A shell
call may also carry ``write:PATH`` subjects, one per redirection to a file outside the write
roots (see `decide.outside_writes`).

Matching is deliberately lopsided, because the two mistakes cost different amounts (the shell
analysis is in `shell_parse`):

* **allow** rules match *strictly*: every simple command of a shell line (and what a runner such
  as ``timeout`` runs) must be covered by some allow rule. A line with substitutions, control
  structures, redirections to or from files, a command word that is not literal, or an option
  that runs other code (`shell_programs.runs_code`) never matches an allow *pattern*; only a bare
  ``shell`` rule covers it (and a ``write:`` subject needs a ``write:`` pattern even then).
* **deny** and **ask** rules match *liberally*: a hit on any command the line could run,
  wherever it is, runners unwrapped and the directory stripped from the program; ``rm *`` also
  hits a bare ``rm``. A line that is opaque (a command word that is not literal, a line the
  parser cannot read) hits every deny and ask rule of its tool.

Glob syntax: ``*`` any run of characters, ``?`` one character, ``[abc]``/``[!abc]`` a class; write
``[*]`` for a literal star. In ``files`` patterns the path is matched per segment (``*`` and ``?``
stop at ``/``, ``**`` crosses segments, ``src/**`` also matches ``src``), the op may be a glob or a
group (``read`` = read, list, search; ``write`` = create, set, replace, insert, move, delete),
and ``files(OP)`` means ``files(OP:**)``. An allow pattern for a relative path never covers an
absolute path or one that climbs out with ``..``.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, get_args

from mentra.errors import ConfigError

PermissionKind = Literal["shell", "file_ops", "json"]
"""How a tool's permission subjects are read: a shell command line, ``OP:PATH`` file
operations, or anything else (canonical JSON of the input, matched as text)."""
PERMISSION_KINDS: tuple[str, ...] = get_args(PermissionKind)
WRITE_SUBJECT_PREFIX = "write:"
"""A shell subject ``write:PATH``: a redirection to a file outside the write roots."""
READ_OPS = frozenset({"read", "list", "search"})
WRITE_OPS = frozenset({"create", "set", "replace", "insert", "move", "delete"})
OP_GROUPS: dict[str, frozenset[str]] = {"read": READ_OPS, "write": WRITE_OPS}

_RULE_RE = re.compile(r"\s*([A-Za-z0-9_.*?\[\]!-]+)\s*(?:\((.*)\))?\s*", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Rule:
    """One parsed rule. ``source`` says where it was written (``file:line:col`` or a flag)."""

    tool: str
    pattern: str | None = None
    source: str | None = field(default=None, compare=False)

    @property
    def text(self) -> str:
        return self.tool if self.pattern is None else f"{self.tool}({self.pattern})"

    def __str__(self) -> str:
        return self.text

    def matches_tool(self, name: str) -> bool:
        return _compile(self.tool, False).fullmatch(name) is not None


def parse_rule(text: str, *, source: str | None = None) -> Rule:
    """Parse ``TOOL`` or ``TOOL(PATTERN)``; a malformed rule is a `ConfigError` at ``source``."""
    if not isinstance(text, str):
        raise ConfigError(f"a permission rule must be a string, got {text!r}", location=source)
    match = _RULE_RE.fullmatch(text)
    if match is None:
        raise ConfigError(
            f"malformed permission rule {text!r}: expected TOOL or TOOL(PATTERN), "
            "e.g. shell(git status) or files(read:src/**)",
            location=source,
        )
    tool, pattern = match.group(1), match.group(2)
    if pattern is not None and not pattern.strip():
        raise ConfigError(
            f"malformed permission rule {text!r}: empty pattern (write {tool} for every call)",
            location=source,
        )
    return Rule(tool=tool, pattern=pattern, source=source)


def check_rule(text: Any) -> str:
    """Pydantic-friendly validation: the parse message as a validation error."""
    from pydantic_core import PydanticCustomError

    try:
        parse_rule(text)
    except ConfigError as exc:
        raise PydanticCustomError("permission_rule", exc.message) from None
    return str(text)


def escape_glob(text: str) -> str:
    """Make ``text`` match only itself as a pattern (for remembered exact rules)."""
    return re.sub(r"([*?\[])", r"[\1]", text)


# ---------------------------------------------------------------------------------------------
# glob


@lru_cache(maxsize=1024)
def _compile(pattern: str, path_mode: bool) -> re.Pattern[str]:
    out: list[str] = []
    i, n = 0, len(pattern)
    star = "[^/]*" if path_mode else ".*"
    one = "[^/]" if path_mode else "."
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                j = i + 2
                if path_mode and pattern.startswith("/", j):  # "**/" also matches no directory
                    out.append("(?:.*/)?")
                    i = j + 1
                    continue
                if path_mode and out and out[-1] == "/" and j == n:  # "dir/**" matches "dir"
                    out[-1] = "(?:/.*)?"
                    i = j
                    continue
                out.append(".*")
                i = j
                continue
            out.append(star)
        elif c == "?":
            out.append(one)
        elif c == "[":
            end = _class_end(pattern, i)
            if end == -1:
                out.append(re.escape(c))
            else:
                out.append(_class(pattern[i + 1 : end]))
                i = end + 1
                continue
        else:
            out.append("/" if c == "/" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _class_end(pattern: str, start: int) -> int:
    j = start + 1
    if pattern[j : j + 1] in ("!", "^"):
        j += 1
    if pattern[j : j + 1] == "]":
        j += 1
    return pattern.find("]", j)


def _class(body: str) -> str:
    negate = body[:1] in ("!", "^")
    if negate:
        body = body[1:]
    chars = []
    for k, ch in enumerate(body):
        is_range = ch == "-" and 0 < k < len(body) - 1 and "-" not in (body[k - 1], body[k + 1])
        chars.append("-" if is_range else re.escape(ch))
    return f"[{'^' if negate else ''}{''.join(chars)}]"


def glob_match(pattern: str, text: str, *, path: bool = False) -> bool:
    return _compile(pattern, path).fullmatch(text) is not None


# ---------------------------------------------------------------------------------------------
# shell splitting (the analysis lives in `shell_parse`)


def shell_analysis(cmd: str) -> Any:
    from mentra.permissions.shell_parse import analyze

    return analyze(cmd)


def split_shell_command(cmd: str) -> list[str] | None:
    """Each simple command of ``cmd`` as an allow pattern sees it, or None if no allow pattern
    may cover it (see `shell_parse`)."""
    units = shell_analysis(cmd).units
    return None if units is None else list(units)


# ---------------------------------------------------------------------------------------------
# matching


def _split_file_subject(subject: str) -> tuple[str, str]:
    op, sep, path = subject.partition(":")
    if not sep:
        return "", subject
    norm = posixpath.normpath(path) if path else path
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    return op, norm


def _escapes(path: str) -> bool:
    return path.startswith(("/", "~")) or path == ".." or path.startswith("../")


def _file_match(pattern: str, subject: str, *, strict: bool) -> bool:
    op, path = _split_file_subject(subject)
    pop, sep, ppath = pattern.partition(":")
    if not sep:
        ppath = "**"
    group = OP_GROUPS.get(pop)
    if group is not None:
        if op not in group and op != pop:
            return False
    elif not glob_match(pop, op):
        return False
    if strict and _escapes(path) and not _escapes(ppath):
        return False
    ppath = posixpath.normpath(ppath) if ppath not in ("", "**") else ppath
    return glob_match(ppath, path, path=True)


def _subject_covered(rule: Rule, kind: PermissionKind, subject: str) -> bool:
    """Strict (allow) match of one unit; shell subjects must be split by the caller."""
    if rule.pattern is None:
        return True
    if subject.startswith(WRITE_SUBJECT_PREFIX) and kind == "shell":
        if not rule.pattern.startswith(WRITE_SUBJECT_PREFIX):
            return False
        return _file_match(rule.pattern, subject, strict=False)
    if kind == "file_ops":
        return _file_match(rule.pattern, subject, strict=True)
    return glob_match(rule.pattern, subject)


def covering_rules(
    rules: Sequence[Rule], tool: str, subjects: Sequence[str], kind: PermissionKind = "json"
) -> list[Rule] | None:
    """The allow rules that together cover every unit of the call, or None if some unit is
    not covered. A shell command's units are its simple commands (and what runners run)."""
    candidates = [r for r in rules if r.matches_tool(tool)]
    if not candidates:
        return None
    bare = next((r for r in candidates if r.pattern is None), None)
    writes = [s for s in subjects if kind == "shell" and s.startswith(WRITE_SUBJECT_PREFIX)]
    if bare is not None and not writes:
        return [bare]
    units: list[str] = []
    used: list[Rule] = [bare] if bare is not None else []
    for subject in subjects:
        if kind == "shell" and not subject.startswith(WRITE_SUBJECT_PREFIX):
            if bare is not None:
                continue
            parts = split_shell_command(subject)
            if parts is None:
                return None
            units.extend(parts)
        else:
            units.append(subject)
    if not units:
        return None
    for unit in units:
        # a write outside the roots is covered only by a write: pattern, never a bare rule
        pool = [r for r in candidates if r.pattern is not None]
        hit = next((r for r in pool if _subject_covered(r, kind, unit)), None)
        if hit is None:
            return None
        if hit not in used:
            used.append(hit)
    return used


def first_hit(
    rules: Sequence[Rule], tool: str, subjects: Sequence[str], kind: PermissionKind = "json"
) -> Rule | None:
    """The first deny/ask rule that matches any unit of the call (liberal matching). A shell
    line that is opaque (a command word that is not literal, a line the parser cannot read)
    matches every rule of its tool."""
    candidates = [r for r in rules if r.matches_tool(tool)]
    if not candidates:
        return None
    texts: list[str] | None = None
    for rule in candidates:
        if rule.pattern is None:
            return rule
        if kind == "file_ops":
            if any(_file_match(rule.pattern, s, strict=False) for s in subjects):
                return rule
            continue
        if kind == "shell":
            if texts is None:
                texts = []
                for s in subjects:
                    if s.startswith(WRITE_SUBJECT_PREFIX):
                        texts.append(s)
                        continue
                    analysis = shell_analysis(s)
                    if analysis.opaque:
                        return rule
                    texts.extend(analysis.deny_texts)
            if any(_shell_deny_match(rule.pattern, t) for t in texts):
                return rule
            continue
        if any(glob_match(rule.pattern, s) for s in subjects):
            return rule
    return None


def _shell_deny_match(pattern: str, text: str) -> bool:
    if text.startswith(WRITE_SUBJECT_PREFIX):
        return pattern.startswith(WRITE_SUBJECT_PREFIX) and _file_match(pattern, text, strict=False)
    # "rm *" also matches a bare "rm" (what xargs or find -delete runs, arguments unseen)
    return glob_match(pattern, text) or glob_match(pattern, text + " ")


def exact_rules(
    tool: str, subjects: Sequence[str], kind: PermissionKind = "json"
) -> list[str] | None:
    """Rules that cover exactly this call, for remembering an "always" answer. None when the
    call cannot be pinned down (a shell line no allow pattern may cover)."""
    if kind == "shell":
        texts: list[str] = []
        for subject in subjects:
            if subject.startswith(WRITE_SUBJECT_PREFIX):
                texts.append(subject)
                continue
            parts = split_shell_command(subject)
            if parts is None:
                return None
            texts.extend(parts)
        return _dedupe(f"{tool}({escape_glob(t)})" for t in texts) or None
    if kind == "file_ops":
        out = []
        for subject in subjects:
            op, path = _split_file_subject(subject)
            if not op:
                return None
            out.append(f"{tool}({escape_glob(op)}:{escape_glob(path)})")
        return _dedupe(out) or None
    return [tool]


def is_file_edit(kind: PermissionKind, mutating: bool) -> bool:
    """Whether ``accept-edits`` mode allows the call: a mutating call of a file-ops tool."""
    return kind == "file_ops" and mutating


def _dedupe(items: Iterator[str] | list[str]) -> list[str]:
    return list(dict.fromkeys(items))
