"""RGB to planar YUV 4:2:0 (BT.601, limited range): the layout x264 encodes, so ffmpeg converts nothing.

Every step of a transition (dissolve, colour grade, flash, caption band) is an affine blend, and RGB to
YUV is an affine map, so blending the YUV planes gives the YUV of the blended RGB frame. The keyframes
are converted once; each frame is then blended on 1.5 bytes a pixel instead of 3, and ffmpeg is spared a
colour conversion per frame (most of its time on a 480p frame before this).

A frame is one flat uint16 array: the Y plane (HEIGHT x WIDTH), then U and V (each HEIGHT/2 x WIDTH/2).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dyngen.adapters.providers.video.keyframes import HEIGHT, WIDTH, Pixels, Rgb

Planes = npt.NDArray[np.uint16]

Y_SIZE = WIDTH * HEIGHT
C_SIZE = (WIDTH // 2) * (HEIGHT // 2)
FRAME_SIZE = Y_SIZE + 2 * C_SIZE
WHITE: tuple[int, int, int] = (235, 128, 128)


def _luma(rgb: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    return ((66 * rgb[..., 0] + 129 * rgb[..., 1] + 25 * rgb[..., 2] + 128) >> 8) + 16


def _chroma(rgb: npt.NDArray[np.int32]) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128, ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128


def _half(rgb: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    """Each 2x2 block's mean (rounded): the chroma sample of that block."""
    h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    # Four strided adds: a reshape and sum over the block axes is several times slower on a frame.
    total: npt.NDArray[np.int32] = rgb[0:h:2, 0:w:2] + rgb[1:h:2, 0:w:2]
    total += rgb[0:h:2, 1:w:2]
    total += rgb[1:h:2, 1:w:2]
    return (total + 2) >> 2


def planes(rgb: Pixels) -> Planes:
    """`rgb` (HEIGHT x WIDTH x 3, values 0..255) as the flat Y, U, V planes of one frame."""
    wide = rgb.astype(np.int32)
    u, v = _chroma(_half(wide))
    return np.concatenate((_luma(wide).ravel(), u.ravel(), v.ravel())).astype(np.uint16)


def colour(rgb: Rgb) -> tuple[int, int, int]:
    """One RGB colour as (Y, U, V)."""
    pixel = np.array([[rgb]], dtype=np.int32)
    u, v = _chroma(pixel)
    return int(_luma(pixel)[0, 0]), int(u[0, 0]), int(v[0, 0])


def views(frame: Planes) -> tuple[Planes, Planes, Planes]:
    """The Y, U and V planes of a flat frame, as 2-D views (no copy)."""
    y = frame[:Y_SIZE].reshape(HEIGHT, WIDTH)
    u = frame[Y_SIZE : Y_SIZE + C_SIZE].reshape(HEIGHT // 2, WIDTH // 2)
    v = frame[Y_SIZE + C_SIZE :].reshape(HEIGHT // 2, WIDTH // 2)
    return y, u, v


Card = tuple[tuple[Planes, Planes], tuple[Planes, Planes], tuple[Planes, Planes]]


def card(inverse: Pixels, premultiplied: Pixels) -> Card:
    """A caption card (RGB inverse alpha and premultiplied colour, out of 256, for the bottom rows) as
    (inverse, over) per plane, Y then U then V, both out of 256: composite each plane's bottom rows as
    `(base * inverse + over) >> 8`.

    Compositing is affine, so the premultiplied YUV is alpha x YUV(colour); chroma takes each 2x2 block's
    mean alpha and colour.
    """
    alpha = 256 - inverse[..., 0].astype(np.int32)  # 0..256
    safe = np.maximum(alpha, 1)[..., None]
    rgb = np.where(alpha[..., None] > 0, (premultiplied.astype(np.int32) + safe // 2) // safe, 0)
    a_half = _half(alpha)
    u, v = _chroma(_half(rgb))
    return (
        ((256 - alpha).astype(np.uint16), (_luma(rgb) * alpha).astype(np.uint16)),
        ((256 - a_half).astype(np.uint16), (u * a_half).astype(np.uint16)),
        ((256 - a_half).astype(np.uint16), (v * a_half).astype(np.uint16)),
    )
