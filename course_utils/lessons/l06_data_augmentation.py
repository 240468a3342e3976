"""Lesson 06 (data augmentation): describing a pipeline, item-vs-batch timing, per-class accuracy, the gallery, the explorer.
(The checked knobs and the digit-safe pipeline are core: ``cu.checked_aug_transforms``, ``cu.digit_safe_tfms``.)"""
import time

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import torch
from fastai.torch_core import no_random, to_device
from fastai.vision.all import Pipeline, TensorImage, aug_transforms

from ..data import AUG_DEFAULTS, PAD_MODES, check_aug_knobs, digit_images
from ..plots import figure_png
from ..widgets import RunWidget


def _p(f):
    return f.keywords.get("p", 1.0) if hasattr(f, "keywords") else getattr(f, "p", 1.0)


_FLIPS = {"flip_mat": "horizontal flip", "dihedral_mat": "dihedral: flips and quarter turns"}


def describe_tfms(tfms):
    """One line per augmentation inside ``tfms`` (fastai merges flip, rotate, zoom and warp into one transform)."""
    lines = []
    for t in tfms:
        for f in getattr(t, "aff_fs", []):
            name, kw = getattr(f, "func", f).__name__, getattr(f, "keywords", {})
            if name in _FLIPS:
                lines.append(f"{_FLIPS[name]} (p={_p(f):g})")
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
    """Seconds per image in ``dl``'s "item" stage (item_tfms, one image at a time, CPU) and "batch" stage (collate,
    to ``dl.device``, batch_tfms), over one pass or ``max_batches``: fastai's own num_workers=0 loop, split in two."""
    if max_batches is not None and (not isinstance(max_batches, int) or max_batches < 1):
        raise ValueError(f"max_batches must be a whole number >= 1 or None, got {max_batches!r}")
    idxs = list(dl.get_idxs())
    chunks = [idxs[i:i + dl.bs] for i in range(0, len(idxs), dl.bs)][:max_batches]
    item = batch = n = 0
    for chunk in chunks:
        t0 = time.perf_counter()
        items = [dl.do_item(i) for i in chunk]
        t1 = time.perf_counter()
        b = dl.do_batch(items)
        if dl.device is not None:
            b = to_device(b, dl.device)
        b = dl.after_batch(b)
        if dl.device is not None and dl.device.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        item, batch, n = item + t1 - t0, batch + t2 - t1, n + len(chunk)
    if n == 0:
        raise ValueError("this DataLoader has no images to time")
    return {"item": item / n, "batch": batch / n, "images": n}


def per_class_accuracy(learn, flip=False, dl=None):
    """Accuracy per class (vocab order) on ``dl`` (default: the validation set); ``flip=True`` mirrors each batch first."""
    if not isinstance(flip, bool):
        raise ValueError(f"flip must be True or False, got {flip!r}")
    if dl is not None and not hasattr(dl, "__iter__"):
        raise ValueError(f"dl must be a DataLoader of labelled images (dls.test_dl(items, with_labels=True)), got {dl!r}")
    n = len(learn.dls.vocab)
    hits, counts = torch.zeros(n), torch.zeros(n)
    model = learn.model.eval()
    with torch.no_grad():
        for xb, yb in (learn.dls.valid if dl is None else dl):
            xb, yb = xb.as_subclass(torch.Tensor), yb.as_subclass(torch.Tensor).cpu()   # plain tensors
            pred = model(xb.flip(-1) if flip else xb).argmax(1).cpu()
            counts += torch.bincount(yb, minlength=n).float()
            hits += torch.bincount(yb[pred == yb], minlength=n).float()
    return (hits / counts.clamp(min=1)).numpy()


def gallery_digits(n=8, seed=0):
    """``n`` digit images (uint8, N x H x W x 3), one of each class first, picked by ``seed``."""
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 50:
        raise ValueError(f"n must be a whole number of images from 1 to 50, got {n!r}")
    x, y = digit_images()
    rng = np.random.default_rng(seed)
    order = [rng.choice(np.flatnonzero(y == c)) for c in rng.permutation(10)]
    extra = rng.choice(len(y), size=max(0, n - 10), replace=False)
    return x[np.array([*order, *extra][:n])]


def augment(images, tfms, seed=0):
    """``images`` (uint8 N x H x W x 3) after the batch transforms ``tfms`` as the training set sees them (seeded; uint8)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be an array N x H x W x 3, got shape {images.shape}")
    batch = TensorImage(torch.from_numpy(images.copy()).permute(0, 3, 1, 2).float() / 255)
    with no_random(seed):   # fastai's: seeded draws inside, every generator restored afterwards
        out = Pipeline(list(tfms), split_idx=0)(batch)   # split_idx=0: the training set's transforms
    return (out.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


def plot_gallery(rows, size=0.9, title=None):
    """One row per name in ``rows`` (name -> uint8 images N x H x W x 3), the same digits in every row; returns the figure."""
    if not rows:
        raise ValueError("plot_gallery needs at least one row (name -> images)")
    ns = {len(v) for v in rows.values()}
    if len(ns) != 1:
        raise ValueError(f"every row needs the same number of images, got {sorted(ns)}")
    n = ns.pop()
    fig, axes = plt.subplots(len(rows), n, figsize=(1.6 + n * size, len(rows) * size), squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        for c in range(n):
            axes[r, c].imshow(np.asarray(images[c]), vmin=0, vmax=255)
            axes[r, c].set(xticks=[], yticks=[])
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 0.94 if title else 1))
    if title:
        fig.suptitle(title)
    return fig


def gallery(images, pipelines, seed=0, size=0.9, title=None):
    """The figure for ``images`` as they are ("original") and under each pipeline (name -> list of batch transforms)."""
    rows = {"original": np.asarray(images)}
    rows.update({name: augment(images, tfms, seed=seed) for name, tfms in pipelines.items()})
    return plot_gallery(rows, size=size, title=title)


# knob: (min, max, step, description), ranges that keep every value allowed by check_aug_knobs
SLIDERS = {
    "max_rotate": (0.0, 90.0, 5.0, "max_rotate (degrees)"),
    "max_zoom": (1.0, 2.0, 0.05, "max_zoom (scale)"),
    "max_warp": (0.0, 0.6, 0.05, "max_warp"),
    "max_lighting": (0.0, 0.9, 0.05, "max_lighting"),
    "p_affine": (0.0, 1.0, 0.05, "p_affine (probability)"),
    "p_lighting": (0.0, 1.0, 0.05, "p_lighting (probability)"),
}
FLAGS = {"do_flip": "do_flip (horizontal)", "flip_vert": "flip_vert (with do_flip: also vertical flips, quarter turns)"}


class AugmentationExplorer(RunWidget):
    """A slider per ``aug_transforms`` knob, a flip checkbox each, a padding menu, and the gallery they produce: one
    seeded draw per row over the same digits. Knobs start at fastai's defaults; bad values from code: ValueError."""

    def __init__(self, images=None, draws=3, seed=0, pad_mode="reflection", **knobs):
        self.images = gallery_digits(8) if images is None else np.asarray(images)
        if not isinstance(draws, int) or isinstance(draws, bool) or not 1 <= draws <= 8:
            raise ValueError(f"draws must be a whole number from 1 to 8 (rows of the gallery), got {draws!r}")
        self.draws, self.seed = draws, seed
        self.knobs = {**AUG_DEFAULTS, **self._check(knobs)}
        self.knobs.pop("min_zoom", None)
        self.pad_mode, self._busy = self._check_pad(pad_mode), False
        style = {"description_width": "initial"}
        self.sliders = {k: W.FloatSlider(value=self.knobs[k], min=lo, max=hi, step=step, description=desc,
                                         continuous_update=False, style=style, readout_format=".2f")
                        for k, (lo, hi, step, desc) in SLIDERS.items()}
        self.boxes = {k: W.Checkbox(value=self.knobs[k], description=desc, indent=False) for k, desc in FLAGS.items()}
        self.pad = W.Dropdown(options=PAD_MODES, value=self.pad_mode, description="pad_mode", style=style)
        for w in [*self.sliders.values(), *self.boxes.values(), self.pad]:
            w.observe(self._on_change, names="value")
        self.status, self.image = W.HTML(), W.Image(format="png")
        self.image.add_class("aug-gallery")
        controls = W.VBox([*self.sliders.values(), W.HBox([*self.boxes.values(), self.pad])])
        self.box = W.VBox([controls, self.status, self.image])
        self._apply()

    def _check(self, knobs):
        if "min_zoom" in knobs:
            raise ValueError("the explorer keeps min_zoom at 1 (zoom in only); set max_zoom instead")
        return check_aug_knobs(**knobs)

    @staticmethod
    def _check_pad(pad_mode):
        if pad_mode not in PAD_MODES:
            raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
        return pad_mode

    def set(self, pad_mode=None, **knobs):
        """Change knobs (and/or ``pad_mode``) from code, as the controls do, and redraw; bad values: ValueError."""
        try:
            checked, pad = self._check(knobs), (self.pad_mode if pad_mode is None else self._check_pad(pad_mode))
        except ValueError as e:
            self._error(e)
            raise
        self.knobs.update(checked)
        self.pad_mode = pad
        self._apply()
        return self.state

    def _on_change(self, change):
        if self._busy:
            return
        knobs = {k: float(s.value) for k, s in self.sliders.items()}
        knobs.update({k: bool(b.value) for k, b in self.boxes.items()})
        self.set(pad_mode=self.pad.value, **knobs)

    @property
    def tfms(self):
        """The batch transforms the current knobs give."""
        return aug_transforms(pad_mode=self.pad_mode, **self.knobs)

    def call(self):
        """The ``aug_transforms`` call for the current setting, as code."""
        args = ", ".join(f"{k}={v!r}" if isinstance(v, bool) else f"{k}={v:g}" for k, v in self.knobs.items())
        return f"aug_transforms({args}, pad_mode={self.pad_mode!r})"

    def _apply(self):
        self._busy = True
        try:
            for k, w in {**self.sliders, **self.boxes}.items():
                w.value = self.knobs[k]
            self.pad.value = self.pad_mode
        finally:
            self._busy = False
        tfms = self.tfms
        rows = {f"draw {i + 1}": augment(self.images, tfms, seed=self.seed + i) for i in range(self.draws)}
        self.rows = {"original": self.images, **rows}
        self.image.value = figure_png(plot_gallery(self.rows, size=0.8))
        self.status.value = "<br>".join(["<code>" + self.call() + "</code>", *describe_tfms(tfms)])

    @property
    def state(self):
        """The knobs, ``pad_mode``, and the mean pixel change the current draws make (0 = no augmentation)."""
        changed = np.mean([np.abs(v.astype(float) - self.images.astype(float)).mean()
                           for k, v in self.rows.items() if k != "original"])
        return {**self.knobs, "pad_mode": self.pad_mode, "mean_pixel_change": float(changed)}

    def summary(self):
        """The setting as code, the augmentations it switches on, and how much the drawn images moved."""
        st = self.state
        parts = describe_tfms(self.tfms) or ["no augmentation"]
        return "\n".join([self.call(), *("  " + p for p in parts),
                          f"mean pixel change over {self.draws} draws: {st['mean_pixel_change']:.1f} of 255"])
