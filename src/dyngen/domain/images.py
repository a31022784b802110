"""What an uploaded image is, read from its first bytes: PNG, JPEG or WebP by magic bytes, and its size in
pixels from the header, without decoding any pixel (a decompression bomb is refused unread).

Anything else, or a header that is cut short or inconsistent, is `None`: not an image dyngen takes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
IMAGE_MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})
# JPEG start-of-frame markers (they carry the size); C4, C8 and CC share the range but are not frames.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM, RST0-7, SOI, EOI.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xDA)})


@dataclass(frozen=True, slots=True)
class ImageHeader:
    media_type: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def read_header(data: bytes) -> ImageHeader | None:
    """The type and size of a PNG, JPEG or WebP image from its header, or None for anything else."""
    if data.startswith(PNG_MAGIC):
        return _png(data)
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg(data)
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    return None


def _sized(media_type: str, width: int, height: int) -> ImageHeader | None:
    return ImageHeader(media_type, width, height) if width > 0 and height > 0 else None


def _png(data: bytes) -> ImageHeader | None:
    # The first chunk is IHDR: length (13), type, then width and height as big-endian 32-bit integers.
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return _sized("image/png", width, height)


def _jpeg(data: bytes) -> ImageHeader | None:
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _STANDALONE:
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if length < 2:
            return None
        if marker in _SOF:
            if at + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return _sized("image/jpeg", width, height)
        if marker == 0xDA:  # start of scan before any frame header
            return None
        at += 2 + length
    return None


def _webp(data: bytes) -> ImageHeader | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return _sized("image/webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return _sized("image/webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return _sized("image/webp", width, height)
    return None
