"""Keyframes drawn from a scene's mood and summary, and caption cards drawn from the script's beats.

A scene has no image yet, so its keyframe is composed: a vertical gradient in the mood's palette, a
horizon band, and a handful of soft seeded shapes whose count, sizes and places come from a digest of
the seed, the scene id, its summary and location. Same inputs, same pixels; another seed, another layout.
"""

from __future__ import annotations

import hashlib
import random
import textwrap

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from dyngen.adapters.providers import phrasebook as book
from dyngen.domain.contracts import SceneRef
from dyngen.domain.responses import Beat
from dyngen.domain.validation import normalise_element

WIDTH, HEIGHT = 854, 480
CAPTION_HEIGHT = 112
Rgb = tuple[int, int, int]
Pixels = npt.NDArray[np.uint16]

# (sky, ground, accent) per phrasebook mood: the colours a scene in that mood is drawn in.
PALETTES: dict[str, tuple[Rgb, Rgb, Rgb]] = {
    "romantic": ((244, 143, 177), (94, 29, 73), (255, 214, 165)),
    "intense": ((229, 57, 53), (38, 12, 12), (255, 179, 0)),
    "calm": ((129, 212, 250), (27, 94, 120), (200, 230, 201)),
    "tense": ((84, 110, 122), (20, 24, 30), (255, 112, 67)),
    "relief": ((178, 235, 242), (56, 142, 60), (255, 241, 118)),
    "sad": ((96, 125, 139), (26, 35, 52), (144, 164, 174)),
    "joyful": ((255, 238, 88), (255, 112, 67), (129, 212, 250)),
    "mysterious": ((74, 20, 140), (10, 10, 35), (0, 229, 255)),
    "determined": ((255, 152, 0), (62, 39, 35), (255, 235, 59)),
    "reflective": ((159, 168, 218), (40, 53, 147), (224, 224, 224)),
    "fearful": ((55, 71, 79), (5, 5, 5), (183, 28, 28)),
    "angry": ((183, 28, 28), (33, 0, 0), (255, 87, 34)),
    "playful": ((186, 104, 200), (0, 150, 136), (255, 235, 59)),
    "hopeful": ((255, 204, 128), (77, 182, 172), (255, 255, 255)),
    "neutral": ((176, 190, 197), (69, 90, 100), (236, 239, 241)),
    "melancholic": ((121, 134, 203), (38, 50, 56), (176, 190, 197)),
}


def palette(mood: str | None) -> tuple[Rgb, Rgb, Rgb]:
    """The mood's palette; a mood the phrasebook does not know gets colours derived from its name."""
    label = normalise_element(mood or "") or "neutral"
    key = book.mood_key(label)
    if key is not None and key in PALETTES:
        return PALETTES[key]
    digest = hashlib.sha256(label.encode()).digest()
    sky, ground, accent = (tuple(digest[i : i + 3]) for i in (0, 3, 6))
    darker = tuple(c // 3 for c in ground)
    return (sky[0], sky[1], sky[2]), (darker[0], darker[1], darker[2]), (accent[0], accent[1], accent[2])


def grade_colour(mood: str | None) -> Rgb:
    """The tint a mood grades frames towards: its palette's sky and accent, averaged."""
    sky, _, accent = palette(mood)
    return (sky[0] + accent[0]) // 2, (sky[1] + accent[1]) // 2, (sky[2] + accent[2]) // 2


def _rng(seed: int, scene: SceneRef | None, mood: str | None) -> random.Random:
    parts = [str(seed), mood or ""]
    if scene is not None:
        parts += [scene.id, scene.summary or "", scene.location or ""]
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    # A layout, not a secret: a seeded PRNG is what determinism needs.
    return random.Random(int.from_bytes(digest, "big"))  # noqa: S311


def keyframe(scene: SceneRef | None, mood: str | None, seed: int) -> Pixels:
    """The scene's keyframe as a HEIGHT x WIDTH x 3 uint16 array (values 0..255)."""
    rng = _rng(seed, scene, mood)
    sky, ground, accent = palette(mood)
    horizon = rng.uniform(0.45, 0.7)
    rows = np.linspace(0.0, 1.0, HEIGHT, dtype=np.float32)[:, None]
    top, bottom = np.array(sky, np.float32), np.array(ground, np.float32)
    # Sky fades towards the horizon, ground darkens below it.
    upper = top * (1 - 0.35 * rows / horizon)
    lower = bottom * (1 - 0.4 * (rows - horizon) / (1 - horizon))
    column = np.where(rows < horizon, upper, lower)
    base = np.broadcast_to(column[:, None, :], (HEIGHT, WIDTH, 3)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(base), "RGB")
    layer = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(rng.randint(5, 9)):
        colour = rng.choice((accent, sky, ground))
        r = rng.randint(24, 150)
        x, y = rng.randint(0, WIDTH), rng.randint(0, int(HEIGHT * horizon) + 60)
        alpha = rng.randint(70, 170)
        if rng.random() < 0.6:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(*colour, alpha))
        else:
            points = [(x + rng.randint(-r, r), y + rng.randint(-r, r)) for _ in range(3)]
            draw.polygon(points, fill=(*colour, alpha))
    ridge = [(0, HEIGHT)] + [(x, int(HEIGHT * horizon) + rng.randint(-30, 20)) for x in range(0, WIDTH + 107, 107)]
    draw.polygon([*ridge, (WIDTH, HEIGHT)], fill=(*ground, 220))
    image = Image.alpha_composite(image.convert("RGBA"), layer.filter(ImageFilter.GaussianBlur(6))).convert("RGB")
    if scene is not None and (place := book.place_phrase(scene.location)):
        ImageDraw.Draw(image).text((24, 20), place.upper(), fill=(255, 255, 255), font=_font(18))
    return np.asarray(image, dtype=np.uint16)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font: the same glyphs on every machine, so captions stay deterministic.
    return ImageFont.load_default(size)


def caption_card(beat: Beat) -> tuple[Pixels, Pixels]:
    """A beat's caption over a translucent band for the bottom CAPTION_HEIGHT rows.

    Returns (inverse alpha, premultiplied colour), both out of 256, so that compositing is
    `(base * inverse + premultiplied) >> 8`.
    """
    text = f"{beat.speaker}: {beat.text}" if beat.speaker else beat.text
    lines = textwrap.wrap(text, width=70, max_lines=3, placeholder=" …") or [""]
    card = Image.new("RGBA", (WIDTH, CAPTION_HEIGHT), (0, 0, 0, 0))
    draw = ImageDraw.Draw(card)
    font = _font(21)
    band_top = CAPTION_HEIGHT - 16 - 27 * len(lines)
    draw.rectangle((0, band_top, WIDTH, CAPTION_HEIGHT), fill=(0, 0, 0, 150))
    for i, line in enumerate(lines):
        width = draw.textlength(line, font=font)
        draw.text(((WIDTH - width) / 2, band_top + 8 + 27 * i), line, fill=(255, 255, 255, 255), font=font)
    rgba = np.asarray(card, dtype=np.uint16)
    alpha = rgba[:, :, 3:4] + (rgba[:, :, 3:4] > 0)  # 0..255 -> 0..256 so opaque means fully replaced
    inverse = np.broadcast_to(256 - alpha, (CAPTION_HEIGHT, WIDTH, 3)).astype(np.uint16)
    return inverse, (rgba[:, :, :3] * alpha).astype(np.uint16)
