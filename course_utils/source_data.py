"""The quick tier's "pretraining" data: printed characters rendered from matplotlib's own fonts.

It plays ImageNet's role in miniature: large, generic and cheap. Every image is drawn from a
seeded random recipe (font, size, position, rotation, stroke, resolution, contrast, noise), so
the same seed always gives the same pixels, on any machine with the pinned matplotlib and Pillow.
"""
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
IMAGE_SIZE = 32
FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
    "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf",
)
RECIPE = {
    "classes": CHARS,
    "fonts": FONT_FILES,
    "glyph_px": (20, 34),
    "width_scale": (0.6, 1.0),
    "rotation_deg": (-15, 15),
    "shift_px": (-3, 3),
    "stroke_px": (0, 2),
    "low_res_px": (8, 32),
    "ink": (0.6, 1.0),
    "background": (0.0, 0.25),
    "noise_std": (0.0, 0.08),
}


def font_paths():
    """The TrueType files shipped inside matplotlib that the source data is drawn with."""
    root = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    paths = [root / f for f in FONT_FILES]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"matplotlib's fonts {missing} are missing from {root}; reinstall the pinned matplotlib (make setup)")
    return paths


def render_char(char, font_path, rng, size=IMAGE_SIZE):
    """One printed character as a float32 array in [0, 1], light ink on a dark background."""
    r = RECIPE
    canvas = size * 2
    font = ImageFont.truetype(str(font_path), int(rng.integers(*r["glyph_px"], endpoint=True)) * 2)
    img = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(img)
    stroke = int(rng.integers(*r["stroke_px"], endpoint=True))
    left, top, right, bottom = draw.textbbox((0, 0), char, font=font, stroke_width=stroke)
    x = (canvas - (right - left)) / 2 - left + rng.uniform(*r["shift_px"]) * 2
    y = (canvas - (bottom - top)) / 2 - top + rng.uniform(*r["shift_px"]) * 2
    draw.text((x, y), char, fill=255, font=font, stroke_width=stroke, stroke_fill=255)
    img = img.rotate(rng.uniform(*r["rotation_deg"]), resample=Image.BILINEAR)
    narrow = int(canvas * rng.uniform(*r["width_scale"]))
    squeezed, img = img.resize((narrow, canvas), Image.BILINEAR), Image.new("L", (canvas, canvas), 0)
    img.paste(squeezed, ((canvas - narrow) // 2, 0))
    low = int(rng.integers(*r["low_res_px"], endpoint=True))
    img = img.resize((low, low), Image.BOX).resize((size, size), Image.BILINEAR)
    a = np.asarray(img, dtype=np.float32) / 255.0
    ink, bg = rng.uniform(*r["ink"]), rng.uniform(*r["background"])
    a = bg + (ink - bg) * a + rng.normal(0, rng.uniform(*r["noise_std"]), a.shape)
    return np.clip(a, 0, 1).astype(np.float32)


def make_source_data(n_per_class, seed, size=IMAGE_SIZE):
    """``(x, y)``: ``n_per_class`` rendered images of each character, uint8 (N, size, size), and labels.

    Deterministic in ``seed``; use different seeds for the training and held-out sets.
    """
    if int(n_per_class) <= 0:
        raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    rng = np.random.default_rng(seed)
    fonts = font_paths()
    x = np.empty((len(CHARS) * n_per_class, size, size), dtype=np.uint8)
    y = np.repeat(np.arange(len(CHARS)), n_per_class)
    for i, label in enumerate(y):
        font = fonts[rng.integers(len(fonts))]
        x[i] = np.round(render_char(CHARS[label], font, rng, size) * 255)
    order = rng.permutation(len(y))
    return x[order], y[order]
