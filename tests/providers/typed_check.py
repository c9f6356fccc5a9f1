"""A strict structural check of a JSON value against an official SDK's TypedDict request params.

pydantic validates TypedDicts leniently (extra keys ignored, iterables left lazy); this walks the
type and fails on an undeclared key, a missing required key or a value of the wrong shape, so
the SDKs' published request types serve as an oracle for the bodies our adapters build.
"""

from __future__ import annotations

import collections.abc
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from typing_extensions import is_typeddict


class Mismatch(AssertionError):
    pass


def check(value: Any, tp: Any, path: str = "$") -> None:
    problem = _problem(value, tp, path)
    if problem:
        raise Mismatch(problem)


def _problem(value: Any, tp: Any, path: str) -> str | None:
    origin = get_origin(tp)
    if tp is Any or tp is object:
        return None
    if origin is typing.Annotated:
        return _problem(value, get_args(tp)[0], path)
    if origin in (typing.Required, typing.NotRequired):
        return _problem(value, get_args(tp)[0], path)
    if tp is type(None) or tp is None:
        return None if value is None else f"{path}: expected null, got {value!r}"
    if origin in (Union, types.UnionType):
        problems = [_problem(value, arg, path) for arg in get_args(tp)]
        if any(p is None for p in problems):
            return None
        return min((p for p in problems if p), key=len)
    if origin is Literal:
        return None if value in get_args(tp) else f"{path}: {value!r} not in {get_args(tp)}"
    if is_typeddict(tp):
        if not isinstance(value, dict):
            return f"{path}: expected object for {tp.__name__}, got {type(value).__name__}"
        hints = typing.get_type_hints(tp, include_extras=True)
        extra = set(value) - set(hints)
        if extra:
            return f"{path}: {tp.__name__} has no field(s) {sorted(extra)}"
        missing = set(getattr(tp, "__required_keys__", ())) - set(value)
        if missing:
            return f"{path}: {tp.__name__} is missing {sorted(missing)}"
        for key, item in value.items():
            problem = _problem(item, hints[key], f"{path}.{key}")
            if problem:
                return problem
        return None
    if tp is str:
        return None if isinstance(value, str) else f"{path}: expected string, got {value!r}"
    if tp is bool:
        return None if isinstance(value, bool) else f"{path}: expected bool, got {value!r}"
    if tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"{path}: expected int, got {value!r}"
    if tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else f"{path}: expected number, got {value!r}"
    if origin in (dict, collections.abc.Mapping) or tp is dict:
        return None if isinstance(value, dict) else f"{path}: expected object"
    if origin in (list, collections.abc.Iterable, collections.abc.Sequence) or tp is list:
        if not isinstance(value, list):
            return f"{path}: expected array, got {type(value).__name__}"
        args = get_args(tp)
        for i, item in enumerate(value):
            problem = _problem(item, args[0] if args else Any, f"{path}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(tp, typing.TypeAliasType if hasattr(typing, "TypeAliasType") else ()):
        return _problem(value, tp.__value__, path)
    return None  # anything exotic (bytes, file types) is not produced by our adapters
