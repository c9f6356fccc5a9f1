"""Permission rules: ``TOOL`` or ``TOOL(PATTERN)``, parsed once and matched against subjects.

A subject is what a tool says a call touches (`Tool.permission_subjects`): the command line for
``shell``/``background_run``, ``OP:PATH`` for each ``files`` operation, canonical JSON otherwise.

Matching is deliberately lopsided, because the two mistakes cost different amounts:

* **allow** rules match *strictly*. A shell command is parsed with bashlex into its simple
  commands (split on ``;``, ``&&``, ``||``, ``|``, ``&``, newlines, subshells and brace groups) and
  every one must be covered by some allow rule. A command that cannot be split safely (command or
  process substitution, backticks, ``$'…'`` quoting, heredocs, functions, loops, parse errors)
  never matches an allow *pattern*; only a bare ``shell`` rule covers it. A redirection to or from
  a file also makes a command unsplittable, so ``git status > /etc/x`` never passes
  ``shell(git status*)``; only fd duplication (``2>&1``) and ``/dev/null`` are understood, and they
  are dropped from the text a pattern sees (``shell(ls)`` covers ``ls 2>/dev/null``).
* **deny** and **ask** rules match *liberally*: a hit on any part, on the whole command text, on
  the part with quotes removed, or with wrappers (``env``, ``command``, ``sudo``…) and directory
  stripped from the program (``/bin/rm`` -> ``rm``), or on any command found inside a substitution
  or an ``sh -c``/``eval`` string. This is best effort: a shell can always hide a program from a
  deny-list, which is why the default mode asks for what no allow rule covers.

bashlex runs under a step budget (it loops forever on a few malformed inputs) and commands over
8 KiB are not split: both count as "cannot be split safely".

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
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from mentra.errors import ConfigError

SHELL_TOOLS = frozenset({"shell", "background_run"})
FILES_TOOL = "files"
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
# shell splitting


class _Unsafe(Exception):
    """The command has a construct we do not split."""


_SAFE_REDIRECT_TARGETS = frozenset({"/dev/null"})
_WRAPPERS = frozenset(
    {"env", "command", "builtin", "exec", "nohup", "nice", "sudo", "doas", "time", "xargs"}
)
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "fish"})


@dataclass(frozen=True, slots=True)
class ShellPart:
    """One simple command: ``text`` as written (words joined by one space, harmless
    redirections dropped) and ``argv``, the words with quotes removed."""

    text: str
    argv: tuple[str, ...]


_MAX_COMMAND_CHARS = 8192
_BASE_STEPS = 50_000
_STEPS_PER_CHAR = 600  # bashlex takes ~200 traced steps per character of ordinary commands


class _ParserStuckError(BaseException):
    """Raised from the trace hook; a BaseException so no ``except Exception`` in the parser
    can swallow it."""


def _parse(cmd: str) -> list[Any]:
    """bashlex's parse under a step budget: it loops forever on some inputs (``'${'*``), and a
    model must not be able to hang a run with a command line."""
    import bashlex

    if not cmd.strip():
        raise _Unsafe("empty command")
    if len(cmd) > _MAX_COMMAND_CHARS:
        raise _Unsafe("command too long to split")
    budget = _BASE_STEPS + _STEPS_PER_CHAR * len(cmd)

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        nonlocal budget
        budget -= 1
        if budget < 0:
            raise _ParserStuckError
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return list(bashlex.parse(cmd))
    except _ParserStuckError:
        raise _Unsafe("the shell parser gave up") from None
    except Exception as exc:  # bashlex raises ParsingError, NotImplementedError, AttributeError…
        raise _Unsafe(str(exc)) from None
    finally:
        sys.settrace(previous)


def _word_is_safe(raw: str) -> bool:
    if "`" not in raw and "$(" not in raw and "<(" not in raw and ">(" not in raw:
        return "$'" not in raw and '$"' not in raw
    # a word entirely inside single quotes is literal text
    return raw.startswith("'") and raw.endswith("'") and raw.count("'") == 2 and len(raw) >= 2


def _has_substitution(node: Any) -> bool:
    for child in getattr(node, "parts", None) or []:
        if child.kind in ("commandsubstitution", "processsubstitution"):
            return True
        if _has_substitution(child):
            return True
    return False


def _simple(node: Any, cmd: str) -> ShellPart:
    words: list[str] = []
    argv: list[str] = []
    for part in node.parts:
        kind = part.kind
        if kind in ("word", "assignment"):
            raw = cmd[part.pos[0] : part.pos[1]]
            if not _word_is_safe(raw) or _has_substitution(part):
                raise _Unsafe("substitution")
            words.append(raw)
            argv.append(part.word)
        elif kind == "redirect":
            _check_redirect(part, cmd)
        else:
            raise _Unsafe(kind)
    if not words:
        raise _Unsafe("redirection without a command")
    return ShellPart(" ".join(words), tuple(argv))


def _check_redirect(node: Any, cmd: str) -> None:
    target = node.output
    if isinstance(target, int) or target == "-":
        if node.type in (">&", "<&"):
            return  # fd duplication or close: 2>&1, >&2, 2<&-
        raise _Unsafe("redirect")
    to_file = node.type in (">", ">>", "&>", "&>>", ">&", ">|")
    is_word = getattr(target, "kind", "") == "word"
    if to_file and is_word and cmd[target.pos[0] : target.pos[1]] in _SAFE_REDIRECT_TARGETS:
        return
    raise _Unsafe("redirection to or from a file")


def _collect(node: Any, cmd: str, out: list[ShellPart]) -> None:
    kind = node.kind
    if kind == "command":
        out.append(_simple(node, cmd))
    elif kind in ("list", "pipeline"):
        for part in node.parts:
            if part.kind in ("operator", "pipe"):
                continue
            if part.kind == "reservedword" and part.word == "!":
                continue
            _collect(part, cmd, out)
    elif kind == "compound":
        if getattr(node, "redirects", None):
            raise _Unsafe("redirected group")
        inner = [p for p in node.list if p.kind != "reservedword"]
        opening = [p.word for p in node.list if p.kind == "reservedword"]
        if opening[:1] not in (["("], ["{"]):
            raise _Unsafe("control structure")
        for part in inner:
            _collect(part, cmd, out)
    else:
        raise _Unsafe(kind)


@lru_cache(maxsize=256)
def shell_parts(cmd: str) -> tuple[ShellPart, ...] | None:
    """The simple commands of ``cmd``, or None when it cannot be split safely."""
    try:
        out: list[ShellPart] = []
        for node in _parse(cmd):
            _collect(node, cmd, out)
        return tuple(out) or None
    except (_Unsafe, RecursionError):
        return None
    except Exception:  # an AST shape we did not expect: refuse rather than guess
        return None


def split_shell_command(cmd: str) -> list[str] | None:
    """Each simple command of ``cmd`` as a pattern sees it, or None if it cannot be split
    safely (such a command never matches an allow pattern)."""
    parts = shell_parts(cmd)
    return None if parts is None else [p.text for p in parts]


def _all_argvs(cmd: str, depth: int = 0) -> Iterator[tuple[str, ...]]:
    """Every simple command bashlex can find anywhere in ``cmd``, substitutions included."""
    if depth > 3:
        return
    try:
        nodes = _parse(cmd)
    except _Unsafe:
        return
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if getattr(node, "kind", None) == "command":
            argv = tuple(p.word for p in node.parts if p.kind == "word")
            if argv:
                yield argv
                yield from _nested(argv, depth)
        for attr in ("parts", "list", "redirects"):
            stack.extend(c for c in getattr(node, attr, None) or [] if hasattr(c, "kind"))
        for attr in ("command", "output"):
            child = getattr(node, attr, None)
            if hasattr(child, "kind"):
                stack.append(child)


def _nested(argv: tuple[str, ...], depth: int) -> Iterator[tuple[str, ...]]:
    stripped = _strip_wrappers(argv)
    if not stripped:
        return
    if stripped[0] == "eval":
        yield from _all_argvs(" ".join(stripped[1:]), depth + 1)
    elif stripped[0] in _SHELLS and "-c" in stripped[1:]:
        idx = stripped.index("-c", 1)
        if idx + 1 < len(stripped):
            yield from _all_argvs(stripped[idx + 1], depth + 1)


def _strip_wrappers(argv: tuple[str, ...]) -> tuple[str, ...]:
    words = list(argv)
    while words:
        head = posixpath.basename(words[0])
        if "=" in words[0] and not words[0].startswith("="):
            words.pop(0)  # FOO=bar prefix, or env's VAR=value argument
        elif head in _WRAPPERS:
            words.pop(0)
            while words and words[0].startswith("-"):
                words.pop(0)  # wrapper options (best effort: values of options are kept)
        else:
            words[0] = head
            break
    return tuple(words)


@lru_cache(maxsize=256)
def _deny_texts(cmd: str) -> frozenset[str]:
    texts = {cmd, cmd.strip()}
    for part in shell_parts(cmd) or []:
        texts.add(part.text)
    try:
        for argv in _all_argvs(cmd):
            texts.add(" ".join(argv))
            stripped = _strip_wrappers(argv)
            if stripped:
                texts.add(" ".join(stripped))
    except Exception:  # an AST shape we did not expect: keep what was found
        pass
    return frozenset(texts)


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
        if op not in group:
            return False
    elif not glob_match(pop, op):
        return False
    if strict and _escapes(path) and not _escapes(ppath):
        return False
    ppath = posixpath.normpath(ppath) if ppath not in ("", "**") else ppath
    return glob_match(ppath, path, path=True)


def _subject_covered(rule: Rule, tool: str, subject: str) -> bool:
    """Strict (allow) match of one subject; shell subjects must be split by the caller."""
    if rule.pattern is None:
        return True
    if tool == FILES_TOOL:
        return _file_match(rule.pattern, subject, strict=True)
    return glob_match(rule.pattern, subject)


def covering_rules(rules: Sequence[Rule], tool: str, subjects: Sequence[str]) -> list[Rule] | None:
    """The allow rules that together cover every unit of the call, or None if some unit is
    not covered. A shell command's units are its simple commands."""
    candidates = [r for r in rules if r.matches_tool(tool)]
    if not candidates:
        return None
    bare = next((r for r in candidates if r.pattern is None), None)
    if bare is not None:
        return [bare]
    units: list[str] = []
    for subject in subjects:
        if tool in SHELL_TOOLS:
            parts = split_shell_command(subject)
            if parts is None:
                return None
            units.extend(parts)
        else:
            units.append(subject)
    if not units:
        return None
    used: list[Rule] = []
    for unit in units:
        hit = next((r for r in candidates if _subject_covered(r, tool, unit)), None)
        if hit is None:
            return None
        if hit not in used:
            used.append(hit)
    return used


def first_hit(rules: Sequence[Rule], tool: str, subjects: Sequence[str]) -> Rule | None:
    """The first deny/ask rule that matches any unit of the call (liberal matching)."""
    candidates = [r for r in rules if r.matches_tool(tool)]
    if not candidates:
        return None
    texts_per_subject: list[frozenset[str]] | None = None
    for rule in candidates:
        if rule.pattern is None:
            return rule
        if tool == FILES_TOOL:
            if any(_file_match(rule.pattern, s, strict=False) for s in subjects):
                return rule
            continue
        if tool in SHELL_TOOLS:
            if texts_per_subject is None:
                texts_per_subject = [_deny_texts(s) for s in subjects]
            if any(glob_match(rule.pattern, t) for texts in texts_per_subject for t in texts):
                return rule
            continue
        if any(glob_match(rule.pattern, s) for s in subjects):
            return rule
    return None


def exact_rules(tool: str, subjects: Sequence[str]) -> list[str] | None:
    """Rules that cover exactly this call, for remembering an "always" answer. None when the
    call cannot be pinned down (an unsplittable shell command)."""
    if tool in SHELL_TOOLS:
        texts: list[str] = []
        for subject in subjects:
            parts = split_shell_command(subject)
            if parts is None:
                return None
            texts.extend(parts)
        return _dedupe(f"{tool}({escape_glob(t)})" for t in texts) or None
    if tool == FILES_TOOL:
        out = []
        for subject in subjects:
            op, path = _split_file_subject(subject)
            if not op:
                return None
            out.append(f"{tool}({escape_glob(op)}:{escape_glob(path)})")
        return _dedupe(out) or None
    return [tool]


def _dedupe(items: Iterator[str] | list[str]) -> list[str]:
    return list(dict.fromkeys(items))
