"""Turns of a stream (``--input-format jsonl``): one JSON line, one user turn.

Two shapes are read: mentra's own ``{"type": "user", "text": "…", "images": ["path-or-url"]}``
and Claude Code's ``{"type": "user", "message": {"role": "user", "content": "…" | [blocks]}}``
(``text`` and ``image`` blocks, the image as ``base64`` data or a ``url``). A line that is not
JSON or not one of these is a `TurnInputError` naming its line number; a blank line is no turn.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentra.errors import ConfigError, UsageError
from mentra.messages import ImageBlock

__all__ = ["Turn", "TurnInputError", "parse_turn"]


@dataclass
class Turn:
    """One user turn: its text, the images that go with it, and where it came from."""

    text: str
    images: list[ImageBlock] = field(default_factory=list)
    line: int = 0


class TurnInputError(UsageError):
    """A line of the turn stream that cannot be a turn (exit 2)."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"stdin line {line}: {problem}")
        self.line = line


def parse_turn(raw: str | bytes, line: int, *, base: Path) -> Turn | None:
    """The turn on line ``line`` (image paths relative to ``base``); None for a blank line."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if line == 1:  # the byte order mark Windows tools write at the start of a UTF-8 file
        text = text.removeprefix("\ufeff")
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TurnInputError(line, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("type") != "user":
        raise TurnInputError(line, 'not a turn: expected a JSON object with "type": "user"')
    try:
        if "message" in data:
            prompt, images = _claude_message(data["message"], base)
        else:
            prompt, images = _mentra_turn(data, base)
    except ConfigError as exc:  # an image that cannot be read, say
        raise TurnInputError(line, exc.message) from None
    except _Shape as exc:
        raise TurnInputError(line, str(exc)) from None
    if not prompt.strip():
        raise TurnInputError(line, "the turn has no text")
    return Turn(text=prompt, images=images, line=line)


class _Shape(Exception):
    """What is wrong with a line's shape (becomes a `TurnInputError`)."""


def _mentra_turn(data: dict[str, Any], base: Path) -> tuple[str, list[ImageBlock]]:
    from mentra.attachments import load_image

    unknown = sorted(set(data) - {"type", "text", "images"})
    if unknown:
        raise _Shape(f"unknown field {unknown[0]!r} (a turn has type, text, images)")
    prompt = data.get("text")
    if not isinstance(prompt, str):
        raise _Shape('"text" must be a string')
    specs = data.get("images", [])
    if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
        raise _Shape('"images" must be a list of file paths or URLs')
    return prompt, [load_image(spec, base=base, label="image") for spec in specs]


def _claude_message(message: object, base: Path) -> tuple[str, list[ImageBlock]]:
    if not isinstance(message, dict) or message.get("role", "user") != "user":
        raise _Shape('"message" must be an object with "role": "user"')
    content = message.get("content")
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise _Shape('"message.content" must be a string or a list of blocks')
    texts: list[str] = []
    images: list[ImageBlock] = []
    for i, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "image":
            images.append(_image_block(block.get("source"), i))
        else:
            raise _Shape(f"content block {i}: only text and image blocks are read")
    return "\n\n".join(texts), images


def _image_block(source: object, index: int) -> ImageBlock:
    where = f"content block {index}"
    if not isinstance(source, dict):
        raise _Shape(f'{where}: an image needs a "source"')
    from mentra.attachments import MAX_IMAGE_BYTES, MEDIA_TYPES

    media_type = source.get("media_type", "image/png")
    if media_type not in MEDIA_TYPES.values():
        known = ", ".join(sorted(set(MEDIA_TYPES.values())))
        raise _Shape(f"{where}: media_type {media_type!r} is not an image type ({known})")
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return ImageBlock(url=source["url"], media_type=media_type)
    data = source.get("data")
    if source.get("type") != "base64" or not isinstance(data, str):
        raise _Shape(f'{where}: the image source must be "base64" data or a "url"')
    try:
        size = len(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        raise _Shape(f"{where}: the image data is not base64") from None
    if size > MAX_IMAGE_BYTES:  # as for a file: the providers' smallest per-image cap
        raise _Shape(f"{where}: the image is {size} bytes, over the 20 MiB limit")
    return ImageBlock(data=data, media_type=media_type)
