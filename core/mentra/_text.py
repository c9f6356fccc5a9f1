"""One rule for text that is not valid UTF-8, wherever it comes from (argv, stdin, files,
scripts, tool output): it is decoded with U+FFFD replacement characters, and the caller says
so in a `notice`. A Python string can hold what UTF-8 cannot (lone surrogates: bytes that
``surrogateescape`` kept, or a ``"\\ud800"`` escape in YAML); those become U+FFFD too, while a
well-formed surrogate pair becomes the character it encodes.
"""

from __future__ import annotations

from typing import Any

REPLACEMENT = "\ufffd"


def clean_text(text: str) -> tuple[str, bool]:
    """``text`` made encodable as UTF-8, and whether anything had to be replaced."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # UTF-16 pairs surrogates that belong together and replaces the lone ones
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace"), True
    return text, False


def decode_text(data: bytes) -> tuple[str, bool]:
    """``data`` decoded as UTF-8 with replacement, and whether anything had to be replaced."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace"), True


def clean_tree(
    value: Any, path: tuple[str | int, ...] = ()
) -> tuple[Any, list[tuple[str | int, ...]]]:
    """Every string of a JSON-like tree (keys too) cleaned; the paths where text was replaced."""
    if isinstance(value, str):
        text, changed = clean_text(value)
        return text, [path] if changed else []
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        where: list[tuple[str | int, ...]] = []
        for k, v in value.items():
            key, key_changed = clean_text(k) if isinstance(k, str) else (k, False)
            if key_changed:
                where.append((*path, key))
            out[key], inner = clean_tree(v, (*path, key))
            where += inner
        return out, where
    if isinstance(value, list):
        items: list[Any] = []
        where = []
        for i, v in enumerate(value):
            item, inner = clean_tree(v, (*path, i))
            items.append(item)
            where += inner
        return items, where
    return value, []
