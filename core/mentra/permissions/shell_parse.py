"""What a shell command line could run, for permission rules (see `rules`).

`analyze` walks bashlex's tree of a command line and returns a `ShellAnalysis`:

* ``units``: the simple commands as written, for **allow** rules; None when no allow pattern
  may cover the line (substitutions, control structures, redirections from files, heredocs,
  a program option that runs other code, see `runs_code`);
* ``deny_texts``: every command the line could run, for **deny** and **ask** rules: each simple
  command, wherever it is (substitutions, compound commands, function bodies), with command
  runners unwrapped (``timeout 5 rm x`` -> ``rm x``), ``sh -c``/``eval``/``watch`` strings
  parsed, ``find -exec`` commands, ``find -delete`` as ``rm``;
* ``opaque``: a command word that is not literal text (``$R``, ``$(…)``, a glob) or a line the
  parser cannot read: such a line matches every deny and ask rule and no allow rule;
* ``writes``: the files redirections write to (``>``, ``>>``, ``&>``, ``<>``), as written.
"""

from __future__ import annotations

import posixpath
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from mentra.permissions.shell_programs import (
    RUNNERS,
    SHELLS,
    STRING_COMMAND_OPTS,
    command_values,
    find_commands,
    runs_code,
    shell_script,
)

_MAX_COMMAND_CHARS = 8192
_BASE_STEPS = 50_000
_STEPS_PER_CHAR = 600  # bashlex takes ~200 traced steps per character of ordinary commands
_MAX_DEPTH = 4
_SAFE_TARGETS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr"})
_WRITE_REDIRECTS = frozenset({">", ">>", "&>", "&>>", ">&", ">|", "<>"})


@dataclass(frozen=True, slots=True)
class ShellAnalysis:
    units: tuple[str, ...] | None
    deny_texts: frozenset[str]
    opaque: bool
    writes: tuple[str, ...]


@dataclass(slots=True)
class _State:
    units: list[str] = field(default_factory=list)
    texts: set[str] = field(default_factory=set)
    writes: list[str] = field(default_factory=list)
    no_allow: bool = False
    opaque: bool = False


class _ParserStuckError(BaseException):
    """Raised from the trace hook; a BaseException so no ``except Exception`` in the parser
    can swallow it."""


class _Unreadable(Exception):
    pass


def parse(cmd: str) -> list[Any]:
    """bashlex's parse under a step budget (it loops forever on some inputs, and a model must
    not be able to hang a run with a command line); `_Unreadable` when it cannot."""
    import bashlex

    if not cmd.strip():
        raise _Unreadable("empty command")
    if len(cmd) > _MAX_COMMAND_CHARS:
        raise _Unreadable("command too long")
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
        raise _Unreadable("the shell parser gave up") from None
    except Exception as exc:  # bashlex raises ParsingError, NotImplementedError, AttributeError…
        raise _Unreadable(str(exc)) from None
    finally:
        sys.settrace(previous)


@lru_cache(maxsize=512)
def analyze(cmd: str) -> ShellAnalysis:
    state = _State()
    state.texts.update({cmd, cmd.strip()})
    _analyze_into(cmd, state, 0)
    units = None if state.no_allow or state.opaque or not state.units else tuple(state.units)
    return ShellAnalysis(units, frozenset(state.texts), state.opaque, tuple(state.writes))


def _analyze_into(cmd: str, state: _State, depth: int) -> None:
    if depth > _MAX_DEPTH:
        state.opaque = True
        return
    try:
        nodes = parse(cmd)
        for node in nodes:
            _walk(node, cmd, state, depth)
    except (_Unreadable, RecursionError):
        state.opaque = True
    except Exception:  # an AST shape we did not expect: fail closed
        state.opaque = True


def _walk(node: Any, cmd: str, state: _State, depth: int) -> None:
    kind = node.kind
    if kind == "command":
        _simple(node, cmd, state, depth)
    elif kind in ("list", "pipeline"):
        for part in node.parts:
            if part.kind in ("operator", "pipe"):
                continue
            if part.kind == "reservedword" and part.word == "!":
                continue
            _walk(part, cmd, state, depth)
    elif kind == "compound":
        opening = [p.word for p in node.list if p.kind == "reservedword"]
        if opening[:1] not in (["("], ["{"]):
            state.no_allow = True  # control structures never match an allow pattern
        for part in node.list:
            if part.kind != "reservedword":
                _walk(part, cmd, state, depth)
        for redirect in getattr(node, "redirects", None) or []:
            _redirect(redirect, cmd, state, depth)
    elif kind in ("if", "for", "while", "until"):
        state.no_allow = True
        for part in node.parts:
            if part.kind == "word":
                _word(part, cmd, state, depth)
            elif part.kind not in ("reservedword", "operator"):
                _walk(part, cmd, state, depth)
    elif kind == "function":
        state.no_allow = True
        for part in node.parts:
            if part.kind == "compound":
                _walk(part, cmd, state, depth)
    else:
        state.opaque = True  # an unknown node: fail closed


def _substitutions(node: Any, cmd: str, state: _State, depth: int) -> None:
    """Walk every substitution inside a word (parameter expansions included)."""
    for child in getattr(node, "parts", None) or []:
        kind = child.kind
        if kind in ("commandsubstitution", "processsubstitution"):
            state.no_allow = True
            _walk(child.command, cmd, state, depth)
        elif kind == "parameter":
            value = str(getattr(child, "value", ""))
            if any(s in value for s in ("$(", "`", "<(", ">(", "${")):
                state.opaque = True  # bashlex does not parse inside ${…}: fail closed
        _substitutions(child, cmd, state, depth)


def _word(part: Any, cmd: str, state: _State, depth: int) -> str:
    raw: str = cmd[part.pos[0] : part.pos[1]]
    _substitutions(part, cmd, state, depth)
    if "$'" in raw or '$"' in raw or "`" in raw or "$(" in raw:
        single_quoted = raw.startswith("'") and raw.endswith("'") and raw.count("'") == 2
        if not single_quoted:
            state.no_allow = True
    return raw


def _is_literal(raw: str) -> bool:
    """A command word that names one program: no expansion, no glob, no brace expansion."""
    if raw.startswith("'") and raw.endswith("'") and raw.count("'") == 2 and len(raw) >= 2:
        return True
    return not any(c in raw for c in "$`*?[{")


def _simple(node: Any, cmd: str, state: _State, depth: int) -> None:
    words: list[str] = []
    argv: list[str] = []
    head_raw: str | None = None
    for part in node.parts:
        kind = part.kind
        if kind in ("word", "assignment"):
            raw = _word(part, cmd, state, depth)
            words.append(raw)
            if kind == "word" or head_raw is not None:
                if head_raw is None:
                    head_raw = raw
                argv.append(part.word)
        elif kind == "redirect":
            _redirect(part, cmd, state, depth)
        else:
            state.opaque = True
    if not words:
        state.no_allow = True
        return
    text = " ".join(words)
    state.units.append(text)
    state.texts.add(text)
    if head_raw is None:
        return  # assignments only
    if not _is_literal(head_raw):
        state.opaque = True
        return
    args_raw = words[words.index(head_raw) + 1 :]
    dynamic = any(("$" in w or "`" in w) and not _single_quoted(w) for w in args_raw)
    _command(tuple(argv), cmd, state, depth, dynamic=dynamic)


def _redirect(node: Any, cmd: str, state: _State, depth: int) -> None:
    rtype = node.type
    target = node.output
    if rtype in ("<<", "<<-", "<<<"):
        state.no_allow = True
        heredoc = getattr(node, "heredoc", None)
        body = str(getattr(heredoc, "value", "")) if heredoc is not None else ""
        quoted = hasattr(target, "pos") and any(
            q in cmd[target.pos[0] : target.pos[1]] for q in "'\"\\"
        )
        if not quoted and any(s in body for s in ("$(", "`", "${")):
            state.opaque = True  # substitutions in a heredoc body: not parsed, fail closed
        if hasattr(target, "kind"):
            _substitutions(target, cmd, state, depth)
        return
    if isinstance(target, int) or target == "-":
        if rtype in (">&", "<&"):
            return  # fd duplication or close: 2>&1, >&2, 2<&-
        state.no_allow = True
        return
    if not hasattr(target, "pos"):
        state.opaque = True
        return
    raw = _word(target, cmd, state, depth)
    if rtype in _WRITE_REDIRECTS:
        if raw in _SAFE_TARGETS:
            return
        state.writes.append(target.word if _is_literal(raw) else raw)
    state.no_allow = True  # a redirection to or from a file never matches an allow pattern


def _single_quoted(raw: str) -> bool:
    return len(raw) >= 2 and raw.startswith("'") and raw.endswith("'") and raw.count("'") == 2


def _command(
    argv: tuple[str, ...], cmd: str, state: _State, depth: int, *, dynamic: bool = False
) -> None:
    """Record what ``argv`` runs: its own text with the directory stripped from the program,
    then whatever it runs in turn."""
    if not argv:
        return
    head = posixpath.basename(argv[0]) or argv[0]
    plain = (head, *argv[1:])
    state.texts.add(" ".join(argv))
    state.texts.add(" ".join(plain))
    if runs_code(plain, dynamic=dynamic):
        state.no_allow = True
    for inner in _inner_commands(plain, state, depth):
        if not inner:
            continue
        if not _is_literal(inner[0]) and inner[0] != "{}":
            state.opaque = True
            continue
        state.units.append(" ".join(inner))
        _command(inner, cmd, state, depth + 1, dynamic=dynamic)


def _inner_commands(argv: tuple[str, ...], state: _State, depth: int) -> list[tuple[str, ...]]:
    head, rest = argv[0], list(argv[1:])
    out: list[tuple[str, ...]] = []
    if head in SHELLS:
        script = shell_script(rest)
        if script is None:
            if not any(not w.startswith("-") for w in rest):
                state.opaque = True  # a shell reading commands from stdin
        else:
            _analyze_into(script, state, depth + 1)
        return out
    if head == "eval":
        _analyze_into(" ".join(rest), state, depth + 1)
        return out
    if head == "trap" and rest and not rest[0].startswith("-"):
        _analyze_into(rest[0], state, depth + 1)
        return out
    if head == "find":
        return find_commands(rest)
    for value in command_values(head, rest):
        _analyze_into(value, state, depth + 1)
    if head == "git":
        sub = [w for w in rest if not w.startswith("-")]
        if sub[:2] == ["bisect", "run"]:
            out.append(tuple(rest[rest.index("run") + 1 :]))
        elif sub[:2] == ["submodule", "foreach"]:
            _analyze_into(" ".join(rest[rest.index("foreach") + 1 :]), state, depth + 1)
        return out
    for opt in STRING_COMMAND_OPTS.get(head, ()):
        for i, word in enumerate(rest):
            if word == opt and i + 1 < len(rest):
                _analyze_into(rest[i + 1], state, depth + 1)
            elif word.startswith(opt + "=") or (
                len(opt) == 2 and word.startswith(opt) and word != opt
            ):
                _analyze_into(word.split("=", 1)[1] if "=" in word else word[2:], state, depth + 1)
    if head not in RUNNERS:
        return out
    value_opts, positional = RUNNERS[head]
    words = list(rest)
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            i += 1
            break
        if head == "env" and "=" in word and not word.startswith("-"):
            i += 1
            continue
        if not word.startswith("-") or word == "-":
            break
        i += 2 if word in value_opts else 1
    i += positional
    inner = tuple(words[i:])
    if head == "xargs" and not inner:
        inner = ("echo",)
    if head == "watch":
        _analyze_into(" ".join(inner), state, depth + 1)
    if inner:
        out.append(inner)
    # liberal fallback for deny rules: any later word might be the program (options we did
    # not model take values), so each suffix that starts with a non-option is a candidate
    for j in range(len(rest)):
        if j + 1 < len(rest) and not rest[j].startswith("-") and tuple(rest[j:]) != inner:
            state.texts.add(" ".join((posixpath.basename(rest[j]), *rest[j + 1 :])))
    return out
