"""Programs the shell analysis knows (see `shell_parse`): command runners and how to find the
command they run, options whose value is a command line, and `runs_code`, the table of options
and forms that make a program run other code (such a command never matches an allow pattern).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "fish", "ash", "csh", "tcsh"})

# program -> (options that take a value as the next word, positional words before the command)
RUNNERS: dict[str, tuple[frozenset[str], int]] = {
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
STRING_COMMAND_OPTS: dict[str, frozenset[str]] = {
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


def option_values(rest: Sequence[str], opts: Sequence[str]) -> list[str]:
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


def command_values(head: str, rest: Sequence[str]) -> list[str]:
    """Option values that are command lines (for deny rules): ``git -c core.pager=CMD``,
    ``--upload-pack=CMD``, ``tar --to-command=CMD``, ``rsync -e CMD``, ``ssh -o
    ProxyCommand=CMD``."""
    out: list[str] = []
    for opt_value in option_values(rest, _COMMAND_VALUE_OPTS.get(head, ())):
        value = opt_value.removeprefix("exec=").removeprefix("!")
        out.append(value)
    if head == "git":
        for setting in option_values(rest, ("-c",)):
            key, _, value = setting.partition("=")
            key = key.lower()
            if key.startswith(("alias.", "pager.")) or key in _GIT_COMMAND_KEYS:
                out.append(value.removeprefix("!"))
    if head in ("ssh", "scp", "sftp"):
        for setting in option_values(rest, ("-o",)):
            key, value = ([*re.split(r"[=\s]", setting.strip(), maxsplit=1), ""])[:2]
            if key.lower() in ("proxycommand", "localcommand", "knownhostscommand"):
                out.append(value)
    if head in ("vim", "vi", "nvim", "ex", "view"):
        out.extend(v[1:] for v in option_values(rest, ("-c", "--cmd")) if v.startswith("!"))
    return [v for v in out if v.strip()]


def shell_script(rest: Sequence[str]) -> str | None:
    for i, word in enumerate(rest):
        if word.startswith("-") and not word.startswith("--") and "c" in word[1:]:
            return rest[i + 1] if i + 1 < len(rest) else ""
        if not word.startswith("-"):
            return None
    return None


def find_commands(rest: Sequence[str]) -> list[tuple[str, ...]]:
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
