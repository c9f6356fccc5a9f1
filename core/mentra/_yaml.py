"""YAML loading that remembers where every value came from, so errors name file:line:col.

Every YAML file mentra reads (agent and user config, policy files, scripted-provider scripts,
SKILL.md front matter) goes through `parse_yaml`, which is bounded: aliases may expand to at
most `MAX_NODES` values in all (counted while composing, so an alias bomb is refused before
it costs memory), nesting is at most `MAX_DEPTH` levels, an alias may not point into the node
that holds it, mapping keys are plain values, and a value PyYAML cannot build (an integer of
more than 4,300 digits, a bad date) is a problem at its own line and column.

Strings are filled in one pass (`expand_tree`): ``${VAR}``/``${VAR:-default}`` from the
environment, ``{{name}}`` from ``--var``, and ``$${`` for a literal ``${``. What a substitution
brings in is never scanned again, so a ``--var`` value that reads ``${SECRET}`` stays that text.

PyYAML is imported by the parse itself: a command that reads no YAML (``resume`` of a stored
agent, the listings) does not pay for it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from mentra.errors import ConfigError

if TYPE_CHECKING:
    import yaml

Marks = dict[tuple[str | int, ...], tuple[int, int]]
M = TypeVar("M", bound=BaseModel)

KEY = "\x00key"  # path suffix under which a mapping key's own position is recorded
MAX_NODES = 100_000  # values a document may hold once its aliases are expanded
MAX_DEPTH = 200  # nesting of lists and mappings

_SUB_RE = re.compile(
    r"\$\$\{"  # an escaped, literal ${
    r"|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}"  # ${VAR} / ${VAR:-default}
    r"|\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}"  # {{name}}
)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file, at ``file:line:col``."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class ConfigProblems(ConfigError):
    """Several problems at once, in file order. The message is the first one (and a count);
    ``problems`` holds them all, for ``mentra validate``."""

    def __init__(self, problems: list[Problem]) -> None:
        ordered = sorted(problems, key=lambda p: (p.file, p.line, p.col))
        unique = list(dict.fromkeys(ordered))
        first = unique[0]
        more = len(unique) - 1
        message = first.message
        if more:
            message += (
                f" (and {more} more problem{'s' if more > 1 else ''}: `mentra validate` lists them)"
            )
        super().__init__(message, location=f"{first.file}:{first.line}:{first.col}")
        self.problems = unique


def problem_at(file: str, marks: Marks, path: tuple[str | int, ...], message: str) -> Problem:
    where = location(file, marks, path)
    rest, col = where.rsplit(":", 1)
    name, line = rest.rsplit(":", 1)
    return Problem(name, int(line), int(col), message)


@cache
def _loader_class() -> type[yaml.SafeLoader]:
    import yaml
    from yaml.composer import ComposerError
    from yaml.events import AliasEvent

    class BoundedLoader(yaml.SafeLoader):
        """A SafeLoader whose composer counts what aliases expand to and how deep it goes."""

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.total = 0  # values in the document, aliases expanded
            self.sizes: dict[int, int] = {}  # id(node) -> its expanded size
            self.open_anchors: set[str] = set()
            self.acc: list[int] = [0]  # expanded sizes of the children composed so far

        def _add(self, size: int, mark: Any, what: str) -> None:
            self.total += size
            if self.total > MAX_NODES:
                raise ComposerError(
                    None, None, f"{what} expand the document past {MAX_NODES} values", mark
                )
            self.acc[-1] += size

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()  # type: ignore[no-untyped-call]
            if self.check_event(AliasEvent):
                if event.anchor in self.open_anchors:
                    raise ComposerError(
                        None,
                        None,
                        f"alias *{event.anchor} points into the node that holds it",
                        event.start_mark,
                    )
                node = super().compose_node(parent, index)
                self._add(self.sizes.get(id(node), 1), event.start_mark, "aliases")
                return node
            if len(self.acc) > MAX_DEPTH:
                raise ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark
                )
            anchor = event.anchor
            if anchor is not None:
                self.open_anchors.add(anchor)
            self.acc.append(0)
            try:
                node = super().compose_node(parent, index)
            finally:
                children = self.acc.pop()
                if anchor is not None:
                    self.open_anchors.discard(anchor)
            size = 1 + children
            self.sizes[id(node)] = size
            # the node itself is new; its children were counted as they were composed
            self.total += 1
            if self.total > MAX_NODES:
                raise ComposerError(
                    None, None, f"the document holds more than {MAX_NODES} values", event.start_mark
                )
            self.acc[-1] += size
            return node

    return BoundedLoader


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _scalar(node: yaml.Node, loader: yaml.SafeLoader, file: str) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, TypeError, OverflowError) as exc:
        line, col = _mark(node)
        tag = str(getattr(node, "tag", ""))
        if tag.endswith(":int") and "digits" in str(exc):
            digits = sum(ch.isdigit() for ch in str(node.value))
            message = f"invalid YAML: an integer of {digits} digits (at most 4300)"
        else:
            message = f"invalid YAML: cannot read {str(node.value)[:40]!r}: {exc}"
        raise ConfigError(message, location=f"{file}:{line}:{col}") from None


def _construct(
    node: yaml.Node,
    path: tuple[str | int, ...],
    marks: Marks,
    loader: yaml.SafeLoader,
    file: str,
) -> Any:
    import yaml

    marks[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                line, col = _mark(key_node)
                kind = "list" if isinstance(key_node, yaml.SequenceNode) else "mapping"
                raise ConfigError(
                    f"invalid YAML: a {kind} used as a mapping key (keys are plain values)",
                    location=f"{file}:{line}:{col}",
                )
            key = _scalar(key_node, loader, file)
            if isinstance(key, (str, int)):
                marks[(*path, key, KEY)] = _mark(key_node)
                out[key] = _construct(value_node, (*path, key), marks, loader, file)
            else:
                out[key] = _construct(value_node, (*path, str(key)), marks, loader, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, (*path, i), marks, loader, file) for i, v in enumerate(node.value)]
    return _scalar(node, loader, file)


def escape_env(text: str) -> str:
    """``text`` written so that `expand_tree` gives it back unchanged (``${`` -> ``$${``)."""
    return text.replace("${", "$${")


def _expand_text(
    text: str,
    *,
    env: bool,
    variables: dict[str, str] | None,
    escape_values: bool,
    missing: list[str],
) -> str:
    def repl(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "$${":
            return "${" if env else whole
        var = match.group(3)
        if var is not None:
            if variables is None:
                return whole
            if var not in variables:
                missing.append(
                    f"template variable {{{{{var}}}}} has no value (pass --var {var}=...)"
                )
                return whole
            value = variables[var]
            return escape_env(value) if escape_values else value
        if not env:
            return whole
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found is None or (found == "" and default is not None):
            if default is None:
                missing.append(f"environment variable {name} is not set (use ${{{name}:-default}})")
                return whole
            return default
        return found

    return _SUB_RE.sub(repl, text)


def expand_tree(
    value: Any,
    path: tuple[str | int, ...],
    marks: Marks,
    file: str,
    *,
    env: bool = True,
    variables: dict[str, str] | None = None,
    escape_values: bool = False,
    problems: list[Problem] | None = None,
) -> Any:
    """Fill every string of a tree in one pass (see the module docstring). ``env=False`` leaves
    ``${...}`` as written; ``variables=None`` leaves ``{{name}}``; ``escape_values`` writes
    ``--var`` values so a later environment pass keeps them literal (the stored form). A
    missing variable is appended to ``problems`` (left as written), or raised without it."""
    if isinstance(value, str):
        if "${" not in value and "{{" not in value:
            return value
        missing: list[str] = []
        out = _expand_text(
            value, env=env, variables=variables, escape_values=escape_values, missing=missing
        )
        for message in missing:
            problem = problem_at(file, marks, path, message)
            if problems is None:
                raise ConfigError(message, location=location(file, marks, path))
            problems.append(problem)
        return out
    kw: dict[str, Any] = {
        "env": env,
        "variables": variables,
        "escape_values": escape_values,
        "problems": problems,
    }
    if isinstance(value, dict):
        return {k: expand_tree(v, (*path, k), marks, file, **kw) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_tree(v, (*path, i), marks, file, **kw) for i, v in enumerate(value)]
    return value


def interpolate_env(text: str) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}``; an unset variable without default is an error."""
    missing: list[str] = []
    out = _expand_text(text, env=True, variables=None, escape_values=False, missing=missing)
    if missing:
        name = missing[0].split()[2]
        raise KeyError(name)
    return out


def interpolate_tree(value: Any, path: tuple[str | int, ...], marks: Marks, file: str) -> Any:
    """``${VAR}`` filled from the environment, everywhere in the tree."""
    return expand_tree(value, path, marks, file, env=True)


def location(file: str, marks: Marks, path: tuple[str | int, ...]) -> str:
    """The best ``file:line:col`` for ``path``: the deepest prefix that has a mark."""
    for end in range(len(path), -1, -1):
        mark = marks.get(path[:end])
        if mark is not None:
            return f"{file}:{mark[0]}:{mark[1]}"
    return f"{file}:1:1"


def _line_col(text: str | bytes, offset: int) -> str:
    nl = "\n" if isinstance(text, str) else b"\n"
    head = text[:offset]
    line = head.count(nl) + 1  # type: ignore[arg-type]
    col = offset - (head.rfind(nl) + 1) + 1  # type: ignore[arg-type]
    return f"{line}:{col}"


def load_yaml(path: Path, *, what: str, env: bool = True) -> tuple[Any, Marks]:
    """Read a YAML file into plain data plus the marks of each key and value."""
    file = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} file not found: {file}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} file {file}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{what} is not valid UTF-8 (byte 0x{data[exc.start]:02x})",
            location=f"{file}:{_line_col(data, exc.start)}",
        ) from None
    return parse_yaml(text.removeprefix("\ufeff"), file=file, what=what, env=env)


def parse_yaml(text: str, *, file: str, what: str, env: bool = True) -> tuple[Any, Marks]:
    import yaml
    from yaml.reader import ReaderError

    marks: Marks = {}
    loader: yaml.SafeLoader | None = None
    try:
        loader = _loader_class()(text)
        node = loader.get_single_node()
        data = None if node is None else _construct(node, (), marks, loader, file)
    except ReaderError as exc:
        char = exc.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        raise ConfigError(
            f"invalid YAML: control character {shown} is not allowed in YAML",
            location=f"{file}:{_line_col(text, exc.position)}",
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        raise ConfigError(f"invalid YAML: {exc.problem or exc.context}", location=where) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", location=file) from None
    except RecursionError:  # a guard of last resort: MAX_DEPTH should come first
        raise ConfigError("invalid YAML: nested too deeply", location=file) from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        raise ConfigError(f"{what} is empty", location=f"{file}:1:1")
    if env:
        data = interpolate_tree(data, (), marks, file)
    return data, marks


def _validation_problems(
    exc: ValidationError, *, file: str, marks: Marks, what: str
) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if isinstance(p, (str, int)))
        # pydantic adds union-member tags to loc; keep the longest prefix that is a real key
        real = loc
        while real and real not in marks:
            real = real[:-1]
        shown = ".".join(str(p) for p in loc)
        if err["type"] == "extra_forbidden":
            msg = f"unknown key {loc[-1]!r} in {what}" if loc else f"unknown key in {what}"
            if (*loc, KEY) in marks:
                real = (*loc, KEY)
        else:
            text = err["msg"].removeprefix("Value error, ")
            msg = f"{shown}: {text}" if shown else text
        problems.append(problem_at(file, marks, real or loc, msg))
    return problems


def validate(model: type[M], data: Any, *, file: str, marks: Marks, what: str) -> M:
    """Validate into ``model``; every error becomes a `Problem` at its file:line:col, raised
    together (first in file order shown) as `ConfigProblems`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigProblems(_validation_problems(exc, file=file, marks=marks, what=what)) from None
