"""Augmentation knobs with clear errors, the digit-safe pipeline, and item-vs-batch transform timing.

``aug_transforms`` accepts nonsense quietly (a negative rotation is just a range, a zoom below
1 or a probability of 1.5 runs and draws odd images), so the course checks its knobs first:
``check_aug_knobs`` raises one ``ValueError`` that names the knob, its allowed range and the value.
"""
import time

import numpy as np
from fastai.vision.all import aug_transforms

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
    """Return ``knobs`` (numbers as floats) when every value is allowed, else raise one clear ValueError.

    Knows ``aug_transforms``' knobs: max_rotate, min_zoom, max_zoom, max_warp, max_lighting,
    p_affine, p_lighting, mult (numbers) and do_flip, flip_vert (True/False).
    """
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


def _p(f):
    return f.keywords.get("p", 1.0) if hasattr(f, "keywords") else getattr(f, "p", 1.0)


def describe_tfms(tfms):
    """One line per augmentation inside ``tfms`` (fastai merges flip, rotate, zoom and warp into one transform).

    >>> describe_tfms(aug_transforms(do_flip=False, max_warp=0))
    ['rotate up to ±10° (p=0.75)', 'zoom 1–1.1 (p=0.75)', 'brightness up to ±0.2 (p=0.75)', 'contrast up to ±0.2 (p=0.75)']
    """
    lines = []
    for t in tfms:
        for f in getattr(t, "aff_fs", []):
            name, kw = getattr(f, "func", f).__name__, getattr(f, "keywords", {})
            if name == "flip_mat":
                lines.append(f"horizontal flip (p={_p(f):g})")
            elif name == "dihedral_mat":
                lines.append(f"dihedral: flips and quarter turns (p={_p(f):g})")
            elif name == "rotate_mat":
                lines.append(f"rotate up to ±{float(kw['max_deg']):g}° (p={_p(f):g})")
            elif name == "zoom_mat":
                lines.append(f"zoom {float(kw['min_zoom']):g}–{float(kw['max_zoom']):g} (p={_p(f):g})")
            else:
                lines.append(f"{name} (p={_p(f):g})")
        for f in getattr(t, "coord_fs", []):
            lines.append(f"warp up to {float(f.magnitude):g} (p={_p(f):g})")
        for f in getattr(t, "fs", []):
            kind = type(f).__name__.strip("_").replace("Logit", "").lower()
            lines.append(f"{kind} up to ±{float(f.max_lighting):g} (p={_p(f):g})")
        if not any(hasattr(t, a) for a in ("aff_fs", "coord_fs", "fs")):
            lines.append(type(t).__name__ + (f" (p={t.p:g})" if hasattr(t, "p") else ""))
    return lines


def time_stages(dl, max_batches=None):
    """Seconds per image in a DataLoader's two stages, over one pass (or ``max_batches`` batches).

    ``"item"``: making each image and running ``item_tfms`` on it, one image at a time, on the CPU.
    ``"batch"``: collating, moving the batch to ``dl.device`` and running ``batch_tfms`` on the
    whole batch at once (on the GPU when the DataLoaders live there). The loop is the one
    fastai's own iterator runs with ``num_workers=0``, split in two so each stage gets its clock.
    """
    from fastai.torch_core import to_device
    if max_batches is not None and (not isinstance(max_batches, int) or max_batches < 1):
        raise ValueError(f"max_batches must be a whole number >= 1 or None, got {max_batches!r}")
    idxs = list(dl.get_idxs())
    chunks = [idxs[i:i + dl.bs] for i in range(0, len(idxs), dl.bs)][:max_batches]
    item = batch = 0.0
    n = 0
    for chunk in chunks:
        t0 = time.perf_counter()
        items = [dl.do_item(i) for i in chunk]
        t1 = time.perf_counter()
        b = dl.do_batch(items)
        if dl.device is not None:
            b = to_device(b, dl.device)
        b = dl.after_batch(b)
        if dl.device is not None and dl.device.type == "cuda":
            import torch
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        item, batch, n = item + t1 - t0, batch + t2 - t1, n + len(chunk)
    if n == 0:
        raise ValueError("this DataLoader has no images to time")
    return {"item": item / n, "batch": batch / n, "images": n}


def per_class_accuracy(learn, flip=False):
    """Accuracy on ``learn``'s validation set for each class (vocab order), optionally on horizontally flipped images.

    ``flip=True`` mirrors every normalised validation batch left to right (``x.flip(-1)``) before
    the model sees it: the test for whether a class's label survives a horizontal flip.
    """
    import torch
    if not isinstance(flip, bool):
        raise ValueError(f"flip must be True or False, got {flip!r}")
    n = len(learn.dls.vocab)
    hits, counts = torch.zeros(n), torch.zeros(n)
    model = learn.model.eval()
    with torch.no_grad():
        for xb, yb in learn.dls.valid:
            xb, yb = xb.as_subclass(torch.Tensor), yb.as_subclass(torch.Tensor).cpu()   # plain tensors
            pred = model(xb.flip(-1) if flip else xb).argmax(1).cpu()
            counts += torch.bincount(yb, minlength=n).float()
            hits += torch.bincount(yb[pred == yb], minlength=n).float()
    return (hits / counts.clamp(min=1)).numpy()
