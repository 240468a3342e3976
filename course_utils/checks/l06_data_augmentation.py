"""Checks for lesson 06's exercises: a label-preserving pipeline for digits, presizing, item or batch, an interval."""
from . import NOT_ANSWERED, check_choice, unanswered as _unanswered, verdict as _verdict  # noqa: F401  (check_choice: ex. 4)

# The most of each change a digit takes and stays the same digit (the lesson's gallery shows why), and why.
SAFE_LIMITS = {"rotate": 25.0, "zoom": 1.3, "warp": 0.3, "lighting": 0.5}
_WHY = {"rotate": "a digit rotated that far can turn into another (6 and 9) or into no digit",
        "zoom": "zooming in that far cuts strokes off (a 0 becomes an n, an 8 a 0)",
        "warp": "a warp that strong bends strokes until a 1 looks like a 7",
        "lighting": "lighting that strong can wipe faint strokes out"}


def _parts(tfms):
    """``(kind, value, p)`` for every augmentation inside fastai batch transforms."""
    out = []
    for t in tfms:
        if item := {"Dihedral": "dihedral", "DihedralItem": "dihedral", "FlipItem": "flip"}.get(type(t).__name__):
            out.append((item, 1.0, float(getattr(t, "p", 1.0))))
        for f in getattr(t, "aff_fs", []):
            fname, kw = getattr(f, "func", f).__name__, getattr(f, "keywords", {})
            p = float(kw.get("p", 1.0)) * float(getattr(t, "p", 1.0))
            if fname in ("flip_mat", "dihedral_mat"):
                out.append((fname[:-4], 1.0, p))
            elif fname == "rotate_mat":
                out.append(("rotate", float(kw.get("max_deg", 0)), p))
            elif fname == "zoom_mat":
                lo, hi = float(kw.get("min_zoom", 1)), float(kw.get("max_zoom", 1))
                out += [("zoom", hi, p)] * (hi > 1) + [("zoom out", lo, p)] * (lo < 1)
        out += [("warp", float(f.magnitude), float(getattr(f, "p", 1.0))) for f in getattr(t, "coord_fs", [])]
        out += [("lighting", float(f.max_lighting), float(getattr(f, "p", 1.0)))
                for f in getattr(t, "fs", []) if hasattr(f, "max_lighting")]
    return out


def check_digit_safe(tfms):
    """Exercise: a list of batch transforms that augments digits but keeps every label true."""
    if _unanswered(tfms, "a list of batch transforms, e.g. aug_transforms(...)"):
        return NOT_ANSWERED
    if not isinstance(tfms, (list, tuple)):
        return _verdict(False, "", f"give a list of transforms (what aug_transforms returns), got {type(tfms).__name__}")
    parts = [(k, v, p) for k, v, p in _parts(tfms) if p > 0 and (v > 0 or k == "zoom out")]
    kinds = {k for k, _, _ in parts}
    if "flip" in kinds or "dihedral" in kinds:
        return _verdict(False, "", "it flips images: a mirrored 2, 3, 4, 5, 6, 7 or 9 is not that digit any more "
                                   "(pass do_flip=False, and leave flip_vert off)")
    for kind, value, _ in parts:
        if kind in SAFE_LIMITS and value > SAFE_LIMITS[kind]:
            return _verdict(False, "", f"{kind} {value:g} is more than {SAFE_LIMITS[kind]:g}: {_WHY[kind]}")
        if kind == "zoom out" and value < 0.7:
            return _verdict(False, "", f"min_zoom {value:g} shrinks digits to a few pixels")
    if not any(k in kinds for k in ("rotate", "zoom", "warp", "lighting")):
        return _verdict(False, "", "nothing is augmented: an empty pipeline keeps labels true but adds no variety; "
                                   "switch on small rotations, zoom, warp or lighting")
    note = (" (reflection padding mirrors strokes that touch the border back into the image; pad_mode='zeros' "
            "pads with the digits' black background)") if any(getattr(t, "pad_mode", None) == "reflection"
                                                              for t in tfms if hasattr(t, "aff_fs")) else ""
    return _verdict(True, "no flips and only small changes: " + ", ".join(sorted(kinds)) + note, "")


def check_presizing(dls, final_size=32):
    """Exercise: DataLoaders that resize each image larger on the CPU (item_tfms), then augment and resample to ``final_size`` per batch."""
    if _unanswered(dls, "DataLoaders built with item_tfms=Resize(...) and batch_tfms=aug_transforms(size=...)"):
        return NOT_ANSWERED
    if not hasattr(dls, "train") or not hasattr(dls.train, "after_item"):
        return _verdict(False, "", f"pass fastai DataLoaders, got {type(dls).__name__}")
    if not (items := [t for t in dls.train.after_item.fs if type(t).__name__ in ("Resize", "RandomResizedCrop")]):
        return _verdict(False, "", "no Resize in item_tfms: presizing first makes every image the same, larger "
                                   "size, one image at a time (item_tfms=Resize(48))")
    size = max(items[0].size) if hasattr(items[0], "size") else 0
    if size <= final_size:
        return _verdict(False, "", f"item_tfms resize to {size}, not larger than the final {final_size}: "
                                   "presizing resizes larger so that the batch transforms resample once, from more pixels")
    if not any(hasattr(t, "aff_fs") for t in dls.train.after_batch.fs):
        return _verdict(False, "", "no augmentation in batch_tfms: add aug_transforms(size=...) there")
    x, _ = dls.one_batch()
    if tuple(x.shape[-2:]) != (final_size, final_size):
        return _verdict(False, "", f"batches come out {tuple(x.shape[-2:])}: pass size={final_size} to aug_transforms "
                                   "so the batch transforms resample to the final size")
    return _verdict(True, f"each image is resized to {size} on its own (CPU), then each batch is augmented and resampled "
                          f"to {final_size} in one interpolation (min_scale=1: no crop, so rotated corners are still padded)", "")


# fastai transforms and where they run.
WHERE = {"Resize": "item", "RandomResizedCrop": "item", "FlipItem": "item", "ToTensor": "item",
         "IntToFloatTensor": "batch", "Rotate": "batch", "Zoom": "batch", "Warp": "batch", "Brightness": "batch",
         "Contrast": "batch", "Flip": "batch", "Normalize": "batch"}


def check_item_or_batch(answer, names):
    """Exercise: ``answer`` maps each transform name in ``names`` to "item" or "batch"."""
    if _unanswered(answer, 'a dict {name: "item" or "batch"}'):
        return NOT_ANSWERED
    if not isinstance(answer, dict):
        return _verdict(False, "", f'answer must be a dict {{name: "item" or "batch"}}, got {type(answer).__name__}')
    if missing := [n for n in names if n not in answer]:
        return _verdict(False, "", f"say where these run too: {missing}")
    if bad := [n for n in names if str(answer[n]).strip().lower() not in ("item", "batch")]:
        return _verdict(False, "", f'use "item" or "batch" for {bad}')
    if wrong := [n for n in names if str(answer[n]).strip().lower() != WHERE[n]]:
        return _verdict(False, "", f"not right for {wrong}: item transforms work on one image at a time (PIL image "
                                   "or its tensor), batch transforms on a float batch (N, 3, H, W) at once")
    return _verdict(True, f"all {len(names)} right: " + ", ".join(f"{n}={WHERE[n]}" for n in names), "")
