"""YAML loading that remembers where every value came from, so errors name file:line:col.

PyYAML is imported by the parse itself: a command that reads no YAML (``resume`` of a stored
agent, the listings) does not pay for it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from mentra.errors import ConfigError

if TYPE_CHECKING:
    import yaml

Marks = dict[tuple[str | int, ...], tuple[int, int]]
M = TypeVar("M", bound=BaseModel)

KEY = "\x00key"  # path suffix under which a mapping key's own position is recorded
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def _construct(
    node: yaml.Node, path: tuple[str | int, ...], marks: Marks, loader: yaml.SafeLoader
) -> Any:
    import yaml

    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, (str, int)):
                marks[(*path, key, KEY)] = (
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
                out[key] = _construct(value_node, (*path, key), marks, loader)
            else:
                out[key] = loader.construct_object(value_node, deep=True)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, (*path, i), marks, loader) for i, v in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def interpolate_env(text: str) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}``; an unset variable without default is an error."""

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise KeyError(name)
            return default
        return value

    return _ENV_RE.sub(repl, text)


def interpolate_tree(value: Any, path: tuple[str | int, ...], marks: Marks, file: str) -> Any:
    if isinstance(value, str) and "${" in value:
        try:
            return interpolate_env(value)
        except KeyError as exc:
            raise ConfigError(
                f"environment variable {exc.args[0]} is not set (use ${{{exc.args[0]}:-default}})",
                location=location(file, marks, path),
            ) from None
    if isinstance(value, dict):
        return {k: interpolate_tree(v, (*path, k), marks, file) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate_tree(v, (*path, i), marks, file) for i, v in enumerate(value)]
    return value


def location(file: str, marks: Marks, path: tuple[str | int, ...]) -> str:
    """The best ``file:line:col`` for ``path``: the deepest prefix that has a mark."""
    for end in range(len(path), -1, -1):
        mark = marks.get(path[:end])
        if mark is not None:
            return f"{file}:{mark[0]}:{mark[1]}"
    return f"{file}:1:1"


def load_yaml(path: Path, *, what: str, env: bool = True) -> tuple[Any, Marks]:
    """Read a YAML file into plain data plus the marks of each key and value."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} file not found: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} file {file}: {exc}") from None
    return parse_yaml(text, file=file, what=what, env=env)


def parse_yaml(text: str, *, file: str, what: str, env: bool = True) -> tuple[Any, Marks]:
    import yaml

    loader = yaml.SafeLoader(text)
    marks: Marks = {}
    try:
        node = loader.get_single_node()
        data = None if node is None else _construct(node, (), marks, loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        raise ConfigError(f"invalid YAML: {exc.problem or exc.context}", location=where) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", location=file) from None
    finally:
        loader.dispose()
    if data is None:
        raise ConfigError(f"{what} is empty", location=f"{file}:1:1")
    if env:
        data = interpolate_tree(data, (), marks, file)
    return data, marks


def validate(model: type[M], data: Any, *, file: str, marks: Marks, what: str) -> M:
    """Validate into ``model``; the first error becomes a `ConfigError` at its file:line:col."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
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
        count = exc.error_count()
        if count > 1:
            msg += f" (and {count - 1} more problem{'s' if count > 2 else ''})"
        raise ConfigError(msg, location=location(file, marks, real or loc)) from None
