"""Sliders for ``aug_transforms``' knobs that redraw a gallery of the same digits at once.

The gallery is drawn into an ``ipywidgets.Image`` (PNG, CSS class ``aug-gallery``), so moving a
slider sends no cell output: a notebook can drive the widget from code (``explorer.set(...)``)
and print ``explorer.summary()`` in a checked cell.
"""
import ipywidgets as W
import numpy as np
from fastai.vision.all import aug_transforms
from IPython.display import display

from .augmentation import AUG_DEFAULTS, check_aug_knobs, describe_tfms
from .augmentation_plots import augment, gallery_digits, plot_gallery
from .layer_group_plots import figure_png

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
PAD_MODES = ("reflection", "zeros", "border")


class AugmentationExplorer:
    """A slider per ``aug_transforms`` knob, a flip checkbox each, a padding menu, and the gallery they produce.

    Each row of the gallery is one random draw of the pipeline over the same digits (seeded, so a
    setting always draws the same picture). Knobs not given start at fastai's defaults. Bad values
    given from code get one clear ValueError; the sliders' ranges only allow good ones.
    """

    def __init__(self, images=None, draws=3, seed=0, pad_mode="reflection", **knobs):
        self.images = gallery_digits(8) if images is None else np.asarray(images)
        if not isinstance(draws, int) or isinstance(draws, bool) or not 1 <= draws <= 8:
            raise ValueError(f"draws must be a whole number from 1 to 8 (rows of the gallery), got {draws!r}")
        self.draws, self.seed = draws, seed
        self.knobs = {**AUG_DEFAULTS, **self._check(knobs)}
        self.knobs.pop("min_zoom", None)
        self.pad_mode = self._check_pad(pad_mode)
        self._busy = False
        style = {"description_width": "initial"}
        self.sliders = {k: W.FloatSlider(value=self.knobs[k], min=lo, max=hi, step=step, description=desc,
                                         continuous_update=False, style=style, readout_format=".2f")
                        for k, (lo, hi, step, desc) in SLIDERS.items()}
        self.boxes = {k: W.Checkbox(value=self.knobs[k], description=desc, indent=False) for k, desc in FLAGS.items()}
        self.pad = W.Dropdown(options=PAD_MODES, value=self.pad_mode, description="pad_mode", style=style)
        for w in [*self.sliders.values(), *self.boxes.values(), self.pad]:
            w.observe(self._on_change, names="value")
        self.status = W.HTML()
        self.image = W.Image(format="png")
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
            checked = self._check(knobs)
            pad = self.pad_mode if pad_mode is None else self._check_pad(pad_mode)
        except ValueError as e:
            self.status.value = f"<b style='color:#b00'>{e}</b>"
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
            for k, s in self.sliders.items():
                s.value = self.knobs[k]
            for k, b in self.boxes.items():
                b.value = self.knobs[k]
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

    def _ipython_display_(self):
        display(self.box)
