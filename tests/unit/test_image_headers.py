"""An uploaded image's type and pixel size, read from its header alone (`dyngen.domain.images`)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from dyngen.domain.images import ImageHeader, read_header


def encoded(fmt: str, mode: str = "RGB", **options: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (321, 123)).save(out, format=fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (encoded("PNG"), "image/png"),
        (encoded("PNG", "RGBA"), "image/png"),
        (encoded("JPEG"), "image/jpeg"),
        (encoded("JPEG", progressive=True), "image/jpeg"),
        (encoded("WEBP"), "image/webp"),  # VP8 (lossy)
        (encoded("WEBP", lossless=True), "image/webp"),  # VP8L
        (encoded("WEBP", "RGBA", exif=b"Exif\0\0tags"), "image/webp"),  # VP8X (extended)
    ],
)
def test_the_size_of_each_kind_is_read_from_its_header(data: bytes, media_type: str) -> None:
    assert read_header(data) == ImageHeader(media_type, 321, 123)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GIF89a" + b"\0" * 40,
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        encoded("PNG")[:20],  # cut inside IHDR
        encoded("JPEG")[:4],
        b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 20,  # no VP8 start code
        encoded("BMP"),
    ],
)
def test_anything_else_is_not_an_image(data: bytes) -> None:
    assert read_header(data) is None
