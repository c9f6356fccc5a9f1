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
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

_MAX_COMMAND_CHARS = 8192
_BASE_STEPS = 50_000
_STEPS_PER_CHAR = 600  # bashlex takes ~200 traced steps per character of ordinary commands
_MAX_DEPTH = 4
_SAFE_TARGETS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr"})
_WRITE_REDIRECTS = frozenset({">", ">>", "&>", "&>>", ">&", ">|", "<>"})

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "fish", "ash", "csh", "tcsh"})

# program -> (options that take a value as the next word, positional words before the command)
_RUNNERS: dict[str, tuple[frozenset[str], int]] = {
    "timeout": (frozenset({"-s", "--signal", "-k", "--kill-after"}), 1),
    "time": (frozenset({"-f", "--format", "-o", "--output"}), 0),
    "nice": (frozenset({"-n", "--adjustment"}), 0),
    "ionice": (frozenset({"-c", "--class", "-n", "--classdata", "-p", "--pid", "-P", "-u"}), 0),
    "stdbuf": (frozenset({"-i", "-o", "-e", "--input", "--output", "--error"}), 0),
    "nohup": (frozenset(), 0),
    "setsid": (frozenset(), 0),
    "command": (frozenset(), 0),
    "builtin": (frozenset(), 0),
    "exec": (frozenset({"-a"}), 0),
    "unbuffer": (frozenset(), 0),
    "env": (frozenset({"-u", "--unset", "-C", "--chdir"}), 0),
    "sudo": (
        frozenset({"-u", "--user", "-g", "--group", "-C", "-D", "--chdir", "-h", "--host"})
        | frozenset({"-p", "--prompt", "-r", "--role", "-t", "--type", "-T", "-U"}),
        0,
    ),
    "doas": (frozenset({"-u", "-C"}), 0),
    "watch": (frozenset({"-n", "--interval", "-q", "--equexit"}), 0),
    "xargs": (
        frozenset({"-a", "--arg-file", "-d", "--delimiter", "-E", "-I", "-L", "--max-lines"})
        | frozenset({"-n", "--max-args", "-P", "--max-procs", "-s", "--max-chars"}),
        0,
    ),
    "busybox": (frozenset(), 0),
    "strace": (frozenset({"-o", "-e", "-p", "-s", "-u", "-E", "-a", "-b", "-I", "-O", "-S"}), 0),
    "ltrace": (frozenset({"-o", "-e", "-p", "-s", "-u", "-a", "-n", "-l", "-L", "-F"}), 0),
    "flock": (frozenset({"-w", "--timeout", "-E", "--conflict-exit-code"}), 1),
    "chrt": (frozenset(), 1),
    "taskset": (frozenset(), 1),
    "chroot": (frozenset({"--userspec", "--groups"}), 1),
    "nsenter": (frozenset({"-t", "--target", "-S", "-G"}), 0),
    "unshare": (frozenset(), 0),
    "caffeinate": (frozenset({"-t", "-w"}), 0),
}
# options whose value is a command line run by a shell
_STRING_COMMAND_OPTS: dict[str, frozenset[str]] = {
    "env": frozenset({"-S", "--split-string"}),
    "flock": frozenset({"-c", "--command"}),
    "su": frozenset({"-c", "--command"}),
    "runuser": frozenset({"-c", "--command"}),
    "script": frozenset({"-c", "--command"}),
}
_FIND_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})
_FIND_WRITES = frozenset({"-delete", "-fprint", "-fprint0", "-fprintf", "-fls"})
_ALWAYS_CODE = frozenset(
    {"xargs", "awk", "gawk", "mawk", "nawk", "busybox", "eval", "source", ".", "trap", "alias"}
    | {"less", "more", "most", "pg", "man", "vi", "vim", "nvim", "view", "ex", "emacs", "watch"}
    | {"coproc", "fc", "su", "runuser", "script", "parallel", "gdb"}
)
_GIT_CODE_OPTS = (
    "-c",
    "--config-env",
    "--exec-path",
    "--upload-pack",
    "--receive-pack",
    "--exec",
    "--extcmd",
    "--template",
    "-x",
    "-u",
)
_GIT_CODE_SUBCOMMANDS = frozenset(
    {"config", "filter-branch", "difftool", "mergetool", "submodule", "bisect", "daemon"}
)
_TAR_CODE_OPTS = (
    "--to-command",
    "--checkpoint-action",
    "--use-compress-program",
    "--info-script",
    "--new-volume-script",
    "--rsh-command",
    "--rmt-command",
    "-I",
    "-F",
)
_COMMAND_VALUE_OPTS: dict[str, tuple[str, ...]] = {
    "git": (
        *("--upload-pack", "--receive-pack", "--exec", "-x", "--extcmd", "--tree-filter"),
        *("--index-filter", "--msg-filter", "--env-filter", "--commit-filter", "--parent-filter"),
    ),
    "tar": (
        *("--to-command", "--checkpoint-action", "--use-compress-program", "-I"),
        *("--info-script", "--new-volume-script", "--rsh-command", "--rmt-command"),
    ),
    "rsync": ("-e", "--rsh", "--rsync-path"),
}
_GIT_COMMAND_KEYS = frozenset(
    {"core.pager", "core.editor", "core.sshcommand", "core.fsmonitor", "diff.external"}
    | {"sequence.editor", "core.askpass", "credential.helper", "gpg.program"}
)
_INLINE_CODE_OPTS = ("-c", "-e", "-E", "--eval", "-p", "--print", "-r", "-x")
_INTERPRETER_RE = re.compile(
    r"^(python[0-9.]*|pypy[0-9.]*|perl[0-9.]*|ruby|node|nodejs|php|lua.*)$"
)
_SED_SAFE_RE = re.compile(
    r"^\s*(?:(?:\d+|\$)(?:,(?:\d+|\$))?)?\s*(?:[pdqn=]|s(.)(?:\\.|(?!\1).)*\1(?:\\.|(?!\1).)*\1[gpiI0-9]*)\s*$",
    re.DOTALL,
)


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
        script = _shell_script(rest)
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
        return _find_commands(rest)
    for value in _command_values(head, rest):
        _analyze_into(value, state, depth + 1)
    if head == "git":
        sub = [w for w in rest if not w.startswith("-")]
        if sub[:2] == ["bisect", "run"]:
            out.append(tuple(rest[rest.index("run") + 1 :]))
        elif sub[:2] == ["submodule", "foreach"]:
            _analyze_into(" ".join(rest[rest.index("foreach") + 1 :]), state, depth + 1)
        return out
    for opt in _STRING_COMMAND_OPTS.get(head, ()):
        for i, word in enumerate(rest):
            if word == opt and i + 1 < len(rest):
                _analyze_into(rest[i + 1], state, depth + 1)
            elif word.startswith(opt + "=") or (
                len(opt) == 2 and word.startswith(opt) and word != opt
            ):
                _analyze_into(word.split("=", 1)[1] if "=" in word else word[2:], state, depth + 1)
    if head not in _RUNNERS:
        return out
    value_opts, positional = _RUNNERS[head]
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


def _option_values(rest: Sequence[str], opts: Sequence[str]) -> list[str]:
    values: list[str] = []
    for i, word in enumerate(rest):
        for opt in opts:
            if word == opt and i + 1 < len(rest):
                values.append(rest[i + 1])
            elif word.startswith(opt + "="):
                values.append(word[len(opt) + 1 :])
            elif len(opt) == 2 and word.startswith(opt) and len(word) > 2 and "=" not in opt:
                values.append(word[2:])
    return values


def _command_values(head: str, rest: Sequence[str]) -> list[str]:
    """Option values that are command lines (for deny rules): ``git -c core.pager=CMD``,
    ``--upload-pack=CMD``, ``tar --to-command=CMD``, ``rsync -e CMD``, ``ssh -o
    ProxyCommand=CMD``."""
    out: list[str] = []
    for opt_value in _option_values(rest, _COMMAND_VALUE_OPTS.get(head, ())):
        value = opt_value.removeprefix("exec=").removeprefix("!")
        out.append(value)
    if head == "git":
        for setting in _option_values(rest, ("-c",)):
            key, _, value = setting.partition("=")
            key = key.lower()
            if key.startswith(("alias.", "pager.")) or key in _GIT_COMMAND_KEYS:
                out.append(value.removeprefix("!"))
    if head in ("ssh", "scp", "sftp"):
        for setting in _option_values(rest, ("-o",)):
            key, value = ([*re.split(r"[=\s]", setting.strip(), maxsplit=1), ""])[:2]
            if key.lower() in ("proxycommand", "localcommand", "knownhostscommand"):
                out.append(value)
    if head in ("vim", "vi", "nvim", "ex", "view"):
        out.extend(v[1:] for v in _option_values(rest, ("-c", "--cmd")) if v.startswith("!"))
    return [v for v in out if v.strip()]


def _shell_script(rest: Sequence[str]) -> str | None:
    for i, word in enumerate(rest):
        if word.startswith("-") and not word.startswith("--") and "c" in word[1:]:
            return rest[i + 1] if i + 1 < len(rest) else ""
        if not word.startswith("-"):
            return None
    return None


def _find_commands(rest: Sequence[str]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    i = 0
    while i < len(rest):
        word = rest[i]
        if word in _FIND_EXEC:
            j = i + 1
            while j < len(rest) and rest[j] not in (";", "+"):
                j += 1
            out.append(tuple(rest[i + 1 : j]))
            i = j
        elif word == "-delete":
            out.append(("rm", "{}"))
        i += 1
    return out


def runs_code(argv: Sequence[str], *, dynamic: bool = False) -> bool:
    """True when ``argv`` (program without directory first) has an option or form that makes
    the program run other code: such a command never matches an allow pattern. ``dynamic``:
    some argument holds an expansion (``$X``), which could become any option."""
    head, args = argv[0], list(argv[1:])
    if head in _ALWAYS_CODE or head in SHELLS:
        return True
    if head == "env":
        return any(
            a in ("-S", "--split-string") or a.startswith(("-S", "--split-string=")) for a in args
        )
    if head == "find":
        return any(a in _FIND_EXEC or a in _FIND_WRITES for a in args)
    table_programs = ("git", "tar", "rsync", "ssh", "scp", "sftp", "sed", "gsed", "make")
    if dynamic and (head in table_programs or _INTERPRETER_RE.match(head)):
        return True  # an expansion could become any option
    if head == "git":
        if any(a.startswith(_GIT_CODE_OPTS) for a in args):
            return True
        sub = next((a for a in args if not a.startswith("-")), None)
        return sub in _GIT_CODE_SUBCOMMANDS or (sub == "rebase" and "-i" in args)
    if head in ("tar", "bsdtar", "gtar"):
        return any(a.startswith(_TAR_CODE_OPTS) for a in args)
    if head == "rsync":
        return any(
            a.startswith(("-e", "--rsh", "--rsync-path"))
            or (a.startswith("-") and not a.startswith("--") and "e" in a)
            for a in args
        )
    if head in ("ssh", "scp", "sftp"):
        for i, a in enumerate(args):
            value = a[2:] if a.startswith("-o") and a != "-o" else None
            if a == "-o" and i + 1 < len(args):
                value = args[i + 1]
            if value is not None and re.search(r"command|match|include", value, re.IGNORECASE):
                return True
            if a.startswith("-F"):
                return True
        return False
    if head in ("sed", "gsed"):
        return _sed_runs_code(args)
    if head in ("make", "gmake"):
        return any(a.startswith(("--eval", "-E", "SHELL=", "MAKESHELL=")) for a in args)
    if _INTERPRETER_RE.match(head):
        return any(
            (a.startswith(_INLINE_CODE_OPTS) and not a.startswith("--")) or a in _INLINE_CODE_OPTS
            for a in args
        )
    return False


def _sed_runs_code(args: Sequence[str]) -> bool:
    scripts: list[str] = []
    i = 0
    explicit = False
    while i < len(args):
        a = args[i]
        if a in ("-e", "--expression") and i + 1 < len(args):
            scripts.append(args[i + 1])
            explicit = True
            i += 2
            continue
        if a.startswith(("-f", "--file")):
            return True
        if a.startswith("--expression="):
            scripts.append(a.split("=", 1)[1])
            explicit = True
        elif not a.startswith("-") and not explicit and not scripts:
            scripts.append(a)
        i += 1
    for script in scripts:
        for piece in re.split(r"[;\n]", script):
            if piece.strip() and not _SED_SAFE_RE.match(piece):
                return True
    return False
