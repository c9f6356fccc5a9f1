"""`--image` specs: files are inlined as base64, URLs passed on, anything else refused."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from mentra.attachments import load_image
from mentra.errors import ConfigError


def test_file_is_inlined(tmp_path: Path) -> None:
    (tmp_path / "a.JPG").write_bytes(b"\xff\xd8\xff fake jpeg")
    block = load_image("a.JPG", base=tmp_path)
    assert block.media_type == "image/jpeg"
    assert block.data is not None and base64.b64decode(block.data) == b"\xff\xd8\xff fake jpeg"


def test_url_is_passed_on() -> None:
    block = load_image("https://example.org/cat.webp?size=2", base=Path("/"))
    assert block.url == "https://example.org/cat.webp?size=2"
    assert block.media_type == "image/webp" and block.data is None


@pytest.mark.parametrize(
    ("spec", "needle"),
    [("missing.png", "no such file"), ("notes.txt", "not an image type"), ("dir.png", "directory")],
)
def test_bad_specs_are_config_errors(tmp_path: Path, spec: str, needle: str) -> None:
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ConfigError, match=needle) as info:
        load_image(spec, base=tmp_path)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("name", "data", "media_type"),
    [
        ("a.png", b"\x89PNG\r\n\x1a\n....", "image/png"),
        ("a.gif", b"GIF89a....", "image/gif"),
        ("a.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        ("really-a-jpeg.png", b"\xff\xd8\xff\xe0....", "image/jpeg"),  # the bytes decide
    ],
)
def test_the_signature_decides(tmp_path: Path, name: str, data: bytes, media_type: str) -> None:
    (tmp_path / name).write_bytes(data)
    assert load_image(name, base=tmp_path).media_type == media_type


@pytest.mark.parametrize("data", [b"just text\n", b"", b"RIFF\x10\x00\x00\x00WAVE"])
def test_a_file_that_is_not_an_image_is_refused(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "x.png").write_bytes(data)
    with pytest.raises(ConfigError, match="not a PNG, JPEG, GIF or WebP") as info:
        load_image("x.png", base=tmp_path)
    assert info.value.exit_code == 2
