"""The quick tier's data and the entry points every lesson calls, whichever tier is on."""
from functools import lru_cache
from pathlib import Path

import matplotlib
import numpy as np
import torch
from fastai.vision.all import (CategoryBlock, DataBlock, ImageBlock, IndexSplitter, IntToFloatTensor, Normalize,
                               PILImage, TensorImage, TransformBlock, aug_transforms)
from PIL import Image, ImageDraw, ImageFont
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from .config import check_labels_per_class, check_positive_int, check_seed, get_mode, tier_settings

# ---- source data: printed characters ---------------------------------------------------

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"   # the default source task: no digit glyphs, so the target's classes are new
CHARS = "0123456789" + LETTERS         # the second backbone's source task: digits included (what overlap buys)
IMAGE_SIZE = 32
FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
    "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf",
)
RECIPE = {
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


def make_source_data(n_per_class, seed, size=IMAGE_SIZE, chars=LETTERS):
    """``(x, y)``: ``n_per_class`` images of each of ``chars``, uint8 (N, size, size), deterministic in ``seed``."""
    if int(n_per_class) <= 0:
        raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    rng = np.random.default_rng(seed)
    fonts = font_paths()
    x = np.empty((len(chars) * n_per_class, size, size), dtype=np.uint8)
    y = np.repeat(np.arange(len(chars)), n_per_class)
    for i, label in enumerate(y):
        font = fonts[rng.integers(len(fonts))]
        x[i] = np.round(render_char(chars[label], font, rng, size) * 255)
    order = rng.permutation(len(y))
    return x[order], y[order]


def to_tensor(x, stats):
    """uint8 (N, H, W) -> normalised float (N, 3, H, W), the layout fastai's image pipeline gives."""
    t = torch.from_numpy(x).float().div_(255).unsqueeze(1).expand(-1, 3, -1, -1)
    mean, std = (torch.tensor(s).view(1, 3, 1, 1) for s in stats)
    return (t - mean) / std


# ---- target data: handwritten digits -----------------------------------------------------

N_TEST = 500    # the fixed test split: reported results only
N_VALID = 300   # the fixed validation split, carved from the rest: every choice (rate, epochs, strategy) is made on it
SPLIT_SEED = 0
CLASSES = [str(d) for d in range(10)]


@lru_cache(maxsize=4)
def digit_images(size=IMAGE_SIZE):
    """``(x, y)``: uint8 images (N, size, size, 3), light ink on dark like the source data, and labels."""
    d = load_digits()
    small = np.round(d.images * (255 / 16)).astype(np.uint8)
    x = np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR)) for im in small])
    x = np.repeat(x[..., None], 3, axis=-1)
    x.setflags(write=False)
    return x, d.target.astype(np.int64)


@lru_cache(maxsize=4)
def digit_tensors(size=IMAGE_SIZE):
    """The digits as one uint8 tensor (N, 3, size, size): what fastai's image pipeline makes of each, made once."""
    return torch.from_numpy(np.ascontiguousarray(digit_images(size)[0].transpose(0, 3, 1, 2)))


@lru_cache(maxsize=1)
def split_indices():
    """``(pool, valid, test)``: the pool training draws come from, the validation and the test split (stratified)."""
    _, y = digit_images()
    rest, test = train_test_split(np.arange(len(y)), test_size=N_TEST, stratify=y, random_state=SPLIT_SEED)
    pool, valid = train_test_split(rest, test_size=N_VALID, stratify=y[rest], random_state=SPLIT_SEED)
    return np.sort(pool), np.sort(valid), np.sort(test)


def max_labels_per_class():
    """The largest ``k`` every digit can supply from the pool."""
    _, y = digit_images()
    pool = split_indices()[0]
    return int(np.bincount(y[pool]).min())


def few_shot_indices(k, seed=0):
    """Indices of ``k`` training images per digit, drawn from the pool by ``seed`` (sorted)."""
    k = check_labels_per_class(k, max_labels_per_class(), where="(the fewest any digit has in the pool)")
    seed = check_seed(seed)
    _, y = digit_images()
    pool = split_indices()[0]
    rng = np.random.default_rng(seed)
    picks = [rng.choice(pool[y[pool] == c], size=k, replace=False) for c in range(len(CLASSES))]
    return np.sort(np.concatenate(picks))


def default_batch_size(n_train, steps=6, lo=4, hi=16):
    """A batch size that gives a small training set about ``steps`` optimizer steps per epoch."""
    return max(lo, min(hi, n_train // steps))


def digits_dls(k, seed=0, bs=None, item_tfms=None, batch_tfms=None, normalize_stats=None, size=IMAGE_SIZE):
    """fastai DataLoaders: ``k`` labelled digits per class to train on, the fixed validation split as ``valid``;
    ``size``: the side in pixels the 8x8 scans are upsampled to (32 for the MiniResNet)."""
    if bs is not None:
        check_positive_int(bs, "bs (the batch size)", "or None for a size that suits k")
    size = check_positive_int(size, "size (pixels)", "e.g. 32, or 64 for EfficientNet-Lite0")
    x, y = digit_images(size)
    train, valid = few_shot_indices(k, seed), split_indices()[1]
    items = np.concatenate([train, valid])
    if normalize_stats is None:
        from .backbone import read_card
        normalize_stats = read_card()["normalize_stats"]
    if item_tfms is None:   # decoded once: uint8 tensors, as PILImage.create + ToTensor would give, without PIL
        images, get_x = TransformBlock(batch_tfms=IntToFloatTensor), lambda i: TensorImage(digit_tensors(size)[i])
    else:                   # item transforms (Resize, crops) work on PIL images
        images, get_x = ImageBlock, lambda i: PILImage.create(x[i])
    block = DataBlock(
        blocks=(images, CategoryBlock(vocab=CLASSES)),
        get_x=get_x,
        get_y=lambda i: CLASSES[y[i]],
        splitter=IndexSplitter(np.arange(len(train), len(items))),
        item_tfms=item_tfms,
        batch_tfms=[*(batch_tfms or []), Normalize.from_stats(*normalize_stats)],
    )
    bs = default_batch_size(len(train)) if bs is None else bs
    dls = block.dataloaders(items, bs=min(bs, len(train)), val_bs=256, num_workers=0)
    dls.test_items = split_indices()[2]   # reported results only: cu.test_accuracy(learn)
    return dls


# ---- whichever tier is on ----------------------------------------------------------------

def tier_arch():
    """The architecture to pass to ``vision_learner``: the shipped MiniResNet, or resnet34 (full tier)."""
    if get_mode() == "full":
        from .folders import full_arch
        return full_arch()
    from .backbone import mini_resnet
    return mini_resnet


def tier_dls(k, seed=0, **kwargs):
    """DataLoaders with ``k`` labelled training images per class and the tier's fixed validation split."""
    if get_mode() == "full":
        from .folders import pets_dls
        kwargs.setdefault("size", tier_settings()["size"])
        return pets_dls(k=k, seed=seed, **kwargs)
    return digits_dls(k, seed=seed, **kwargs)


def tier_max_labels_per_class():
    """The largest ``k`` every class can supply in the current tier's training pool."""
    if get_mode() == "full":
        from .folders import pets_max_labels_per_class
        return pets_max_labels_per_class()
    return max_labels_per_class()


# ---- augmentation knobs --------------------------------------------------------------------

# aug_transforms' own defaults, the knobs a learner turns in this course.
AUG_DEFAULTS = {"do_flip": True, "flip_vert": False, "max_rotate": 10.0, "min_zoom": 1.0, "max_zoom": 1.1,
                "max_warp": 0.2, "max_lighting": 0.2, "p_affine": 0.75, "p_lighting": 0.75}

# No flips (a mirrored 2, 3, 7 or 9 is not that digit), small affine changes, black padding (the
# digits' background) instead of reflection, which would mirror ink in from the border.
DIGIT_SAFE = {"do_flip": False, "flip_vert": False, "max_rotate": 10.0, "min_zoom": 1.0, "max_zoom": 1.1,
              "max_warp": 0.1, "max_lighting": 0.2, "p_affine": 0.75, "p_lighting": 0.75}
DIGIT_SAFE_PAD = "zeros"

_RANGES = {  # knob: (low, high, low inclusive, high inclusive, what it means)
    "max_rotate": (0.0, 180.0, True, True, "degrees either way"),
    "min_zoom": (0.0, None, False, True, "1 = no zoom out; below 1 zooms out"),
    "max_zoom": (1.0, None, True, True, "1 = no zoom; it is a scale factor, so it cannot be below 1"),
    "max_warp": (0.0, 1.0, True, False, "0 = no warp; 1 would fold the image"),
    "max_lighting": (0.0, 1.0, True, False, "0 = no change; 1 would turn images black or white"),
    "p_affine": (0.0, 1.0, True, True, "a probability"),
    "p_lighting": (0.0, 1.0, True, True, "a probability"),
    "mult": (0.0, None, True, True, "scales max_rotate, max_lighting and max_warp"),
}
_FLAGS = ("do_flip", "flip_vert")


def _interval(lo, hi, lo_in, hi_in):
    left = "[" if lo_in else "("
    right = "]" if hi_in and hi is not None else ")"
    return f"{left}{lo:g}, {'inf' if hi is None else f'{hi:g}'}{right}"


def check_aug_knobs(**knobs):
    """Return ``knobs`` (numbers as floats) when every value is allowed for ``aug_transforms``, else one ValueError."""
    out = {}
    for name, value in knobs.items():
        if name in _FLAGS:
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {value!r}")
            out[name] = bool(value)
            continue
        if name not in _RANGES:
            known = ", ".join([*_RANGES, *_FLAGS])
            raise ValueError(f"unknown augmentation knob {name!r}; the knobs are: {known}")
        lo, hi, lo_in, hi_in, meaning = _RANGES[name]
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{name} must be a number in {_interval(lo, hi, lo_in, hi_in)} ({meaning}), got {value!r}")
        v = float(value)
        ok = np.isfinite(v) and (v >= lo if lo_in else v > lo) and (hi is None or (v <= hi if hi_in else v < hi))
        if not ok:
            hint = " (a rotation range is a size: use a positive number, it rotates both ways)" if name == "max_rotate" and v < 0 else ""
            raise ValueError(f"{name} must be in {_interval(lo, hi, lo_in, hi_in)} ({meaning}), got {value!r}{hint}")
        out[name] = v
    if "min_zoom" in out or "max_zoom" in out:
        lo_z = out.get("min_zoom", AUG_DEFAULTS["min_zoom"])
        hi_z = out.get("max_zoom", AUG_DEFAULTS["max_zoom"])
        if lo_z > hi_z:
            raise ValueError(f"min_zoom ({lo_z:g}) must not be larger than max_zoom ({hi_z:g})")
    return out


PAD_MODES = ("zeros", "border", "reflection")   # fastai's PadMode


def checked_aug_transforms(size=None, pad_mode="reflection", **knobs):
    """``aug_transforms(size=size, pad_mode=pad_mode, **knobs)`` after ``check_aug_knobs``; unset knobs keep fastai's defaults."""
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES} (how the empty corners are filled), got {pad_mode!r}")
    return aug_transforms(size=size, pad_mode=pad_mode, **check_aug_knobs(**knobs))


def digit_safe_tfms(size=None):
    """The course's label-preserving batch transforms for digits: no flips, small rotate/zoom/warp/lighting, black padding."""
    return checked_aug_transforms(size=size, pad_mode=DIGIT_SAFE_PAD, **DIGIT_SAFE)
