"""Images attached to a prompt (`--image`): a local file read and inlined, or an https URL."""

from __future__ import annotations

import base64
from pathlib import Path

from mentra.errors import ConfigError
from mentra.messages import ImageBlock

MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
MAX_IMAGE_BYTES = 20 * 1024 * 1024  # the smallest per-image cap of the providers' APIs


def sniff_media_type(data: bytes) -> str | None:
    """The image type the file's first bytes say it is (its signature), or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def load_image(spec: str, *, base: Path, label: str = "--image") -> ImageBlock:
    """``spec`` is a path (relative to ``base``) or an ``https://`` URL. Raises `ConfigError`
    naming it after ``label`` (where it came from: the flag, or a JSONL turn's ``image``)."""
    suffix = Path(spec.split("?", 1)[0]).suffix.lower()
    media_type = MEDIA_TYPES.get(suffix)
    if spec.startswith(("https://", "http://")):
        return ImageBlock(url=spec, media_type=media_type or "image/png")
    if media_type is None:
        known = ", ".join(sorted(MEDIA_TYPES))
        raise ConfigError(f"{label} {spec}: not an image type mentra sends ({known})")
    path = Path(spec) if Path(spec).is_absolute() else base / spec
    try:
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise ConfigError(f"{label} {spec}: {size} bytes is over the 20 MiB limit")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{label} {spec}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{label} {spec}: is a directory") from None
    except PermissionError:
        raise ConfigError(f"{label} {spec}: permission denied") from None
    sniffed = sniff_media_type(data)
    if sniffed is None:
        raise ConfigError(
            f"{label} {spec}: the file is not a PNG, JPEG, GIF or WebP image (its first bytes "
            "are not an image signature)"
        )
    # the bytes decide the type sent: a JPEG named x.png goes as image/jpeg
    return ImageBlock(media_type=sniffed, data=base64.b64encode(data).decode("ascii"))
