"""Lesson 05's widget: lo/hi sliders redraw the per-group learning rates; Run trains and keeps a table.

The training and the read-back stay in the notebook: the widget is given ``lrs_fn(lo, hi)``
(the per-group rates fastai sets for ``slice(lo, hi)``) and ``train_fn(lo, hi)`` (one run,
returning its accuracy), and only calls them.
"""
import math
import time

import ipywidgets as W
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from .learning_rates import check_lr_range, ulmfit_lrs
from .lr_plots import plot_group_lrs


class DiscriminativeLRExplorer:
    """Two log-scale sliders (``lo``, ``hi``) and a Run button.

    Moving a slider redraws the plot of the rates ``lrs_fn(lo, hi)`` returns, next to ULMFiT's
    ÷2.6 rule from the same ``hi``. Run calls ``train_fn(lo, hi)`` and adds a row to
    ``explorer.results``. ``explorer.set_range(lo, hi)`` and ``explorer.run()`` do from code what
    the sliders and the button do.
    """

    def __init__(self, lrs_fn, train_fn, lo=1e-4, hi=1e-2, min_exp=-6, max_exp=0):
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
        self.button = W.Button(description="Run", button_style="primary", icon="play")
        self.status = W.HTML()
        self.plot_out, self.table_out = W.Output(), W.Output()
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

    def _error(self, msg):
        self.status.value = f"<b style='color:#b00'>{msg}</b>"

    def set_range(self, lo, hi):
        """Move both sliders (one redraw); a bad range gets a message and a ValueError."""
        try:
            lo, hi = check_lr_range(lo, hi)
        except ValueError as e:
            self._error(str(e))
            raise
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
        self.plot_out.clear_output(wait=True)
        with self.plot_out:
            fig, ax = plt.subplots(figsize=(5.5, 3.2))
            plot_group_lrs({f"slice({lo:.0e}, {hi:.0e})": lrs, "ULMFiT ÷2.6 from hi": ulmfit_lrs(hi, len(lrs))},
                           ax=ax, title="learning rate per layer group")
            ax.set_ylim(10 ** (self.lo_slider.min - 0.5), 10 ** (self.hi_slider.max + 0.5))
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
            self._error(str(e))
            raise
        self.button.disabled = True
        self.status.value = f"Training with slice({lo:.1e}, {hi:.1e})..."
        start = time.time()
        try:
            acc = float(self.train_fn(lo, hi))
        except Exception as e:
            self._error(f"Run failed: {type(e).__name__}: {e} (earlier results kept)")
            raise
        finally:
            self.button.disabled = False
        secs = time.time() - start
        acc_shown = round(acc, 3) if math.isfinite(acc) else acc
        self.rows.append((float(f"{lo:.1e}"), float(f"{hi:.1e}"), round(hi / lo, 1), acc_shown, round(secs, 1)))
        self.status.value = f"slice({lo:.1e}, {hi:.1e}): accuracy {acc:.3f} in {secs:.0f}s"
        self.table_out.clear_output(wait=True)
        with self.table_out:
            display(self.results.drop(columns="seconds"))
        return acc

    def _ipython_display_(self):
        display(self.box)
