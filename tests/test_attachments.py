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
