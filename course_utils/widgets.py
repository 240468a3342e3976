"""Widgets that put a lesson's knob in the learner's hands.

The training itself stays in the notebook: a widget gets a function written there and only
calls it, shows progress, and keeps every result in a table (nothing is lost on a re-run).
"""
import time

import ipywidgets as W
import pandas as pd
from IPython.display import display

from .validate import check_positive_int, is_whole_number


class LabelsPerClassExplorer:
    """A labels-per-class slider and a Train button; each click runs ``train_fn(k)`` and adds its rows.

    ``train_fn(k)`` returns ``{strategy name: accuracy}``. ``explorer.results`` is a DataFrame
    of every run so far; ``explorer.run(k)`` does from code what the button does.
    """

    def __init__(self, train_fn, k_max, k=None, k_min=1):
        if not callable(train_fn):
            raise ValueError("train_fn must be a function k -> {strategy: accuracy}")
        k_min, k_max = check_positive_int(k_min, "k_min"), check_positive_int(k_max, "k_max")
        if k_min > k_max:
            raise ValueError(f"k_min must not exceed k_max, got k_min={k_min} > k_max={k_max}")
        k = min(10, k_max) if k is None else k     # start at 10 labels per class, or k_max if fewer
        if not is_whole_number(k) or not k_min <= k <= k_max:
            raise ValueError(f"the starting labels per class k must be a whole number from {k_min} to {k_max}, got {k!r}")
        self.train_fn, self.k_min, self.k_max = train_fn, k_min, k_max
        self.slider = W.IntSlider(value=k, min=k_min, max=k_max, description="labels/class",
                                  continuous_update=False, style={"description_width": "initial"})
        self.button = W.Button(description="Train", button_style="primary", icon="play")
        self.status = W.HTML("Pick a number of labels per class, then press Train.")
        self.out = W.Output()
        self.rows = []
        self.button.on_click(lambda _: self.run(self.slider.value))
        self.box = W.VBox([W.HBox([self.slider, self.button]), self.status, self.out])

    @property
    def results(self):
        return pd.DataFrame(self.rows, columns=["labels_per_class", "strategy", "accuracy", "seconds"])

    def run(self, k):
        """Train at ``k`` labels per class; bad ``k`` gets a message in the widget and a ValueError."""
        if not is_whole_number(k) or not self.k_min <= k <= self.k_max:
            msg = f"labels per class must be a whole number from {self.k_min} to {self.k_max}, got {k!r}"
            self.status.value = f"<b style='color:#b00'>{msg}</b>"
            raise ValueError(msg)
        self.button.disabled = True
        self.status.value = f"Training with {k} labels per class..."
        start = time.time()
        error = None
        with self.out:  # an Output widget swallows exceptions inside IPython: catch them here
            try:
                accs = self.train_fn(k)
            except BaseException as e:   # KeyboardInterrupt too: the button must come back
                error = e
        self.button.disabled = False
        if error is not None:
            self.status.value = f"<b style='color:#b00'>Run failed: {type(error).__name__}: {error}</b> (earlier results kept)"
            raise error
        secs = time.time() - start
        self.rows += [(k, name, round(float(acc), 3), round(secs, 1)) for name, acc in accs.items()]
        self.status.value = f"Done in {secs:.0f}s: " + ", ".join(f"{n} {a:.3f}" for n, a in accs.items())
        self.out.clear_output(wait=True)
        with self.out:
            display(self.results.pivot_table(index="labels_per_class", columns="strategy", values="accuracy"))
        return accs

    def _ipython_display_(self):
        display(self.box)
