"""Lesson 02's widget: pick labels per class and a strategy, train, and watch the few-shot picture grow.

As in ``widgets.py``, the training stays in the notebook: the widget gets a function written
there, calls it, and keeps every result in a table (nothing is lost on a re-run).
"""
import html
import time

import ipywidgets as W
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from .features import check_labels_per_class
from .validate import check_positive_int

ALL = "all"


class FewShotExplorer:
    """A labels-per-class slider, a strategy picker and a Train button.

    ``train_fn(k, strategy)`` returns the test accuracy of one run. Each run adds a row to
    ``explorer.results`` (a DataFrame); the table and a plot of accuracy against labels per
    class update below the controls. ``explorer.run(k, strategy)`` does from code what the
    button does; ``strategy="all"`` trains every strategy at ``k``.
    """

    def __init__(self, train_fn, strategies, k_max, k=None, k_min=1):
        if not callable(train_fn):
            raise ValueError("train_fn must be a function (k, strategy) -> accuracy")
        strategies = list(strategies)
        if not strategies or not all(isinstance(s, str) for s in strategies):
            raise ValueError(f"strategies must be a non-empty list of names, got {strategies!r}")
        if ALL in strategies:
            raise ValueError(f"{ALL!r} is reserved for 'train every strategy'; rename that strategy")
        self.train_fn, self.strategies = train_fn, strategies
        self.k_min, self.k_max = check_positive_int(k_min, "k_min"), check_positive_int(k_max, "k_max")
        if self.k_min > self.k_max:
            raise ValueError(f"k_min must not exceed k_max, got k_min={self.k_min} > k_max={self.k_max}")
        k = check_labels_per_class(min(10, self.k_max) if k is None else k, self.k_max, self.k_min)
        self.slider = W.IntSlider(value=k, min=self.k_min, max=self.k_max, description="labels/class",
                                  continuous_update=False, style={"description_width": "initial"})
        self.picker = W.ToggleButtons(options=[*strategies, ALL], value=strategies[0], description="strategy",
                                      style={"description_width": "initial", "button_width": "auto"})
        self.button = W.Button(description="Train", button_style="primary", icon="play")
        self.status = W.HTML("Pick labels per class and a strategy, then press Train.")
        self.out = W.Output()
        self.rows = []
        self.button.on_click(lambda _: self.run(self.slider.value, self.picker.value))
        self.box = W.VBox([W.HBox([self.slider, self.button]), self.picker, self.status, self.out])

    @property
    def results(self):
        """Every run so far: ``labels_per_class, strategy, accuracy, seconds``."""
        return pd.DataFrame(self.rows, columns=["labels_per_class", "strategy", "accuracy", "seconds"])

    def summary(self):
        """Mean accuracy per ``labels_per_class`` (rows) and strategy (columns) over all runs so far."""
        return self.results.pivot_table(index="labels_per_class", columns="strategy", values="accuracy",
                                        aggfunc="mean")

    def _fail(self, msg):
        self.status.value = f"<b style='color:#b00'>{html.escape(msg)}</b>"
        raise ValueError(msg)

    def run(self, k, strategy):
        """Train at ``k`` labels per class with ``strategy`` (or ``"all"``); returns ``{strategy: accuracy}``.

        A bad ``k`` or an unknown strategy gets a message in the widget and a ValueError, before
        anything is trained; earlier results are kept.
        """
        try:
            k = check_labels_per_class(min(10, self.k_max) if k is None else k, self.k_max, self.k_min)
        except ValueError as e:
            self._fail(str(e))
        if strategy != ALL and strategy not in self.strategies:
            self._fail(f"unknown strategy {strategy!r}: pick one of {[*self.strategies, ALL]}")
        names = self.strategies if strategy == ALL else [strategy]
        self.button.disabled = True
        accs = {}
        try:
            for name in names:
                self.status.value = f"Training {name} with {k} labels per class..."
                start = time.time()
                with self.out:
                    acc = float(self.train_fn(k, name))
                accs[name] = acc
                self.rows.append((k, name, round(acc, 3), round(time.time() - start, 1)))
        except Exception as e:
            self.status.value = (f"<b style='color:#b00'>Run failed: {type(e).__name__}: {html.escape(str(e))}</b> "
                                 f"(earlier results kept)")
            raise
        finally:
            self.button.disabled = False
        self.status.value = f"Done ({k} labels/class): " + ", ".join(f"{n} {a:.3f}" for n, a in accs.items())
        self._refresh()
        return accs

    def plot(self, ax=None):
        """Accuracy against labels per class, one line per strategy (the mean of runs at each k)."""
        if ax is None:
            _, ax = plt.subplots(figsize=(5.5, 3.2))
        table = self.summary()
        for name in table.columns:
            col = table[name].dropna()
            ax.plot(col.index, col.to_numpy(), marker="o", label=name)
        ax.set_xscale("log")
        ax.set_xlabel("labelled images per class (log scale)")
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
        return ax

    def _refresh(self):
        self.out.clear_output(wait=True)
        with self.out:
            display(self.summary().round(3))
            fig = self.plot().figure
            display(fig)
            plt.close(fig)   # shown once, in the widget; not again at the end of the cell

    def _ipython_display_(self):
        display(self.box)
