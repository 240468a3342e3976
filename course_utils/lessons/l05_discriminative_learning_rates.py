"""Lesson 05 (discriminative learning rates): read back what fastai set per layer group, the two
spacings a lesson compares with it, the rates over a one-cycle schedule, and the lo/hi widget."""
import math

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from fastai.callback.core import Callback
from fastai.callback.schedule import ParamScheduler
from IPython.display import display

from ..groups import _check_groups, check_rate, ulmfit_lrs
from ..plots import finish_axes
from ..widgets import RunWidget


def check_lr_range(lo, hi):
    """Return ``(lo, hi)`` as floats, or raise one ValueError that says what is wrong."""
    lo, hi = check_rate(lo, "lo (the first layer group's learning rate)"), check_rate(hi, "hi (the head's learning rate)")
    if lo > hi:
        raise ValueError(f"lo must not exceed hi: got lo={lo:g} > hi={hi:g} "
                         f"(slice(lo, hi) gives the earliest layers lo and the head hi; swap them)")
    return lo, hi


def geometric_lrs(lo, hi, n_groups):
    """``n_groups`` rates from ``lo`` to ``hi``, each the previous one times the same factor."""
    lo, hi = check_lr_range(lo, hi)
    n = _check_groups(n_groups)
    if n == 1:
        return [hi]
    return [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]


def group_lrs(learn):
    """The learning rate fastai has set on each layer group of ``learn``, earliest group first."""
    if getattr(learn, "opt", None) is None:
        learn.create_opt()
    return [float(h["lr"]) for h in learn.opt.hypers]


def lrs_for(learn, lr):
    """The per-group rates fastai sets on ``learn`` for ``lr`` (a number or a ``slice``), read back."""
    if isinstance(lr, slice):
        if lr.start is None:
            check_rate(lr.stop, "slice(hi)'s hi")
        else:
            check_lr_range(lr.start, lr.stop)
    else:
        check_rate(lr, "the learning rate")
    if getattr(learn, "opt", None) is None:
        learn.create_opt()
    learn.opt.set_hyper("lr", lr)
    return group_lrs(learn)


class GroupLRRecorder(Callback):
    """``rows``: every layer group's learning rate at each training batch, read after ``fit_one_cycle``'s
    ``ParamScheduler`` so it sees the rates really used for the step."""

    order = ParamScheduler.order + 1

    def __init__(self):
        self.rows = []

    def before_fit(self):
        self.rows = []

    def before_batch(self):
        if self.training:
            self.rows.append([float(h["lr"]) for h in self.opt.hypers])

    @property
    def peak(self):
        """Each group's highest rate during the fit (the ``lr_max`` of a one-cycle schedule)."""
        if not self.rows:
            raise ValueError("no training batch was recorded yet: fit the learner with this callback first")
        return [max(col) for col in zip(*self.rows)]


def ratios(lrs):
    """Each group's rate divided by the one before it (one fewer value than ``lrs``)."""
    lrs = [check_rate(v, "a learning rate") for v in lrs]
    return [b / a for a, b in zip(lrs, lrs[1:])]


# ---- pictures and the widget ---------------------------------------------------------------

def plot_group_lrs(series, names=None, ax=None, title=None):
    """One line per entry of ``series`` (``{label: [rate per group]}``), log scale, group on the x axis."""
    if not series:
        raise ValueError("plot_group_lrs needs at least one list of per-group learning rates")
    lengths = {len(v) for v in series.values()}
    if len(lengths) != 1:
        raise ValueError(f"every entry needs one rate per layer group, got lengths {sorted(lengths)}")
    n = lengths.pop()
    names = names or [f"group {i}" for i in range(n)]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.4))
    x = np.arange(n)
    markers = "osD^v<>"
    for i, (label, lrs) in enumerate(series.items()):
        ax.plot(x, lrs, marker=markers[i % len(markers)], label=label, alpha=0.85)
    ax.set_xticks(x)
    ax.set_xticklabels(names, fontsize=9)
    return finish_axes(ax, "layer group (earliest → head)", "learning rate", title, log_y=True,
                       grid={"which": "both"}, legend={"fontsize": 9})


def plot_group_lr_schedule(rows, names=None, ax=None, title=None):
    """Each group's learning rate at every training batch (``GroupLRRecorder.rows``), log scale."""
    a = np.asarray(rows, dtype=float)
    if a.ndim != 2 or a.shape[0] == 0:
        raise ValueError("plot_group_lr_schedule needs recorded rows: one list of per-group rates per batch")
    names = names or [f"group {i}" for i in range(a.shape[1])]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.4))
    for g in range(a.shape[1]):
        ax.plot(np.arange(1, len(a) + 1), a[:, g], label=names[g])
    return finish_axes(ax, "training batch", "learning rate", title, log_y=True,
                       grid={"which": "both"}, legend={"fontsize": 8})


class DiscriminativeLRExplorer(RunWidget):
    """Two log-scale sliders (``lo``, ``hi``) and a Run button."""

    def __init__(self, lrs_fn, train_fn, lo=1e-4, hi=1e-2, min_exp=-6, max_exp=0, names=None):
        self.names = names    # one name per layer group for the plot's x axis (cu.group_names(learn))
        if not callable(lrs_fn) or not callable(train_fn):
            raise ValueError("lrs_fn(lo, hi) -> [rate per group] and train_fn(lo, hi) -> accuracy must be functions")
        lo, hi = check_lr_range(lo, hi)
        for name, e in (("min_exp", min_exp), ("max_exp", max_exp)):
            if isinstance(e, bool) or not isinstance(e, (int, float)) or not math.isfinite(e):
                raise ValueError(f"{name} must be a number (a power of ten), got {e!r}")
        if min_exp >= max_exp:
            raise ValueError(f"min_exp must be below max_exp (the sliders span 10**min_exp to 10**max_exp), "
                             f"got min_exp={min_exp} and max_exp={max_exp}")
        for name, v in (("lo", lo), ("hi", hi)):
            if not 10.0 ** min_exp <= v <= 10.0 ** max_exp:
                raise ValueError(f"{name}={v:g} is outside the sliders' range 1e{min_exp:g} to 1e{max_exp:g}: "
                                 f"pick a rate inside it or widen min_exp/max_exp")
        self.lrs_fn, self.train_fn = lrs_fn, train_fn
        opts = dict(base=10, min=min_exp, max=max_exp, step=0.25, readout_format=".1e",
                    continuous_update=False, style={"description_width": "initial"})
        self.lo_slider = W.FloatLogSlider(value=lo, description="lo (first group)", **opts)
        self.hi_slider = W.FloatLogSlider(value=hi, description="hi (head)", **opts)
        self._controls("Run")
        self.plot_out, self.table_out = W.Output(), self.out
        self.rows, self.current_lrs, self.redraws = [], None, 0
        for s in (self.lo_slider, self.hi_slider):
            s.observe(lambda _: self.redraw(), names="value")
        self.button.on_click(lambda _: self.run())
        self.box = W.VBox([W.HBox([self.lo_slider, self.hi_slider, self.button]), self.status,
                           W.HBox([self.plot_out, self.table_out])])
        self.redraw()

    @property
    def lo(self):
        return float(self.lo_slider.value)

    @property
    def hi(self):
        return float(self.hi_slider.value)

    @property
    def results(self):
        return pd.DataFrame(self.rows, columns=["lo", "hi", "head/first", "accuracy", "seconds"])

    def set_range(self, lo, hi):
        """Move both sliders (one redraw); a bad range gets a message and a ValueError."""
        try:
            lo, hi = check_lr_range(lo, hi)
        except ValueError as e:
            self._fail(str(e))
        self._quiet = True
        try:
            self.lo_slider.value, self.hi_slider.value = lo, hi
        finally:
            self._quiet = False
        return self.redraw()

    def redraw(self):
        """Redraw the per-group plot for the sliders' current ``lo`` and ``hi``."""
        if getattr(self, "_quiet", False):
            return self.current_lrs
        try:
            lo, hi = check_lr_range(self.lo, self.hi)
        except ValueError as e:
            self.current_lrs = None
            self._error(str(e))
            return None
        lrs = [float(v) for v in self.lrs_fn(lo, hi)]
        self.current_lrs, self.redraws = lrs, self.redraws + 1
        self.status.value = (f"slice({lo:.1e}, {hi:.1e}): the head trains {hi / lo:.0f}x faster than the first "
                             f"group (x{(hi / lo) ** (1 / max(len(lrs) - 1, 1)):.2f} per group). Press Run to train.")
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
        plot_group_lrs({f"slice({lo:.0e}, {hi:.0e})": lrs, "ULMFiT ÷2.6 from hi": ulmfit_lrs(hi, len(lrs))},
                       ax=ax, title="learning rate per layer group", names=self.names)
        ax.set_ylim(10 ** (self.lo_slider.min - 0.5), 10 ** (self.hi_slider.max + 0.5))
        self.plot_out.clear_output(wait=True)
        with self.plot_out:
            display(fig)
            plt.close(fig)
        return lrs

    def run(self, lo=None, hi=None):
        """Train at ``slice(lo, hi)`` (default: the sliders'); returns the accuracy and adds a row."""
        lo = self.lo if lo is None else lo
        hi = self.hi if hi is None else hi
        try:
            lo, hi = check_lr_range(lo, hi)
        except ValueError as e:
            self._fail(str(e))
        acc, secs = self._train(f"Training with slice({lo:.1e}, {hi:.1e})...", self.train_fn, lo, hi)
        acc = float(acc)
        acc_shown = round(acc, 3) if math.isfinite(acc) else acc
        self.rows.append((float(f"{lo:.1e}"), float(f"{hi:.1e}"), round(hi / lo, 1), acc_shown, round(secs, 1)))
        self.status.value = f"slice({lo:.1e}, {hi:.1e}): validation accuracy {acc:.3f} in {secs:.0f}s"
        self._show(self.results.drop(columns="seconds"))
        return acc
