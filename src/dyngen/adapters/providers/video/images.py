"""Scene images as keyframes: a scene's `image` names a file under the assets folder.

Only a relative name that stays inside the folder is read (no absolute paths, no `..` escapes, no
symlinks out). The file is capped in size (MAX_BYTES) and its header's pixel count is checked
(MAX_PIXELS) before any pixel is decoded, so a decompression bomb is refused unread; only PNG, JPEG
and WebP are decoded. The image is scaled to cover WIDTH x HEIGHT and centre-cropped.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from dyngen.adapters.providers.video.keyframes import HEIGHT, WIDTH, Pixels

MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000
FORMATS = ("PNG", "JPEG", "WEBP")


class ImageRefusedError(Exception):
    """An image that may not or cannot be used; `reason` is a short word for the payload's tags."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def resolve_asset(assets_dir: Path, name: str) -> Path:
    """The file `name` names under `assets_dir`.

    Raises:
        ImageRefusedError: `outside` for an absolute name or one resolving outside the folder,
            `missing` when there is no such file.
    """
    # A NUL cannot be in a file name (the OS calls would raise ValueError, not refuse): refused like the rest.
    if not name or "\x00" in name or Path(name).is_absolute() or name.startswith(("/", "\\")) or "\\" in name:
        raise ImageRefusedError("outside", f"image {name!r} is not a relative file name")
    root = assets_dir.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or path == root:
        raise ImageRefusedError("outside", f"image {name!r} is outside the assets folder")
    if not path.is_file():
        raise ImageRefusedError("missing", f"image {name!r} is not in the assets folder")
    return path


def check_pixels(width: int, height: int) -> None:
    """Raises ImageRefusedError (`too_large`) for an image of more than MAX_PIXELS pixels."""
    if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
        raise ImageRefusedError("too_large", f"image of {width}x{height} pixels is over the {MAX_PIXELS} pixel cap")


def decode(data: bytes) -> Pixels:
    """`data` (PNG, JPEG or WebP) as a HEIGHT x WIDTH x 3 uint16 keyframe, scaled to cover and cropped.

    Raises:
        ImageRefusedError: `too_large` (bytes or pixels) or `unreadable` (not a supported image).
    """
    if len(data) > MAX_BYTES:
        raise ImageRefusedError("too_large", f"image of {len(data)} bytes is over the {MAX_BYTES} byte cap")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as image:
                check_pixels(*image.size)  # from the header, before any pixel is decoded
                image.load()
                rgb = ImageOps.fit(image.convert("RGB"), (WIDTH, HEIGHT), Image.Resampling.LANCZOS)
    except ImageRefusedError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageRefusedError("too_large", str(error)) from error
    except (OSError, ValueError, SyntaxError) as error:  # PIL.UnidentifiedImageError is an OSError
        raise ImageRefusedError("unreadable", f"not a PNG, JPEG or WebP image: {error}") from error
    return np.asarray(rgb, dtype=np.uint16)


def load(assets_dir: Path | None, name: str) -> Pixels:
    """The keyframe for a scene whose `image` is `name`.

    Raises:
        ImageRefusedError: `no_assets` when no assets folder is configured, else as `resolve_asset` and `decode`.
    """
    if assets_dir is None:
        raise ImageRefusedError("no_assets", "no assets folder is configured")
    path = resolve_asset(assets_dir, name)
    if path.stat().st_size > MAX_BYTES:
        raise ImageRefusedError("too_large", f"image {name!r} is over the {MAX_BYTES} byte cap")
    return decode(path.read_bytes())
