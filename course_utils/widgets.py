"""Widgets that put a lesson's knob in the learner's hands; the training function stays in the notebook."""
import html
import time

import ipywidgets as W
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from .config import check_labels_per_class, check_positive_int
from .plots import finish_axes

ALL = "all"


class RunWidget:
    """A button, a status line and an output area; ``_train`` runs one job and keeps earlier results.

    Failure policy, the same for every widget: a bad setting gets a red message and a ValueError
    before anything runs (``_fail``); a run that raises, even on KeyboardInterrupt, gives the
    button back, says what went wrong (earlier results kept) and re-raises.
    """

    def _controls(self, button="Train", status=""):
        self.button = W.Button(description=button, button_style="primary", icon="play")
        self.status = W.HTML(status)
        self.out = W.Output()

    def _error(self, message):
        self.status.value = f"<b style='color:#b00'>{html.escape(str(message))}</b>"

    def _fail(self, message):
        self._error(message)
        raise ValueError(message)

    def _train(self, message, fn, *args):
        """``fn(*args)`` with the button disabled and ``message`` shown; returns ``(result, seconds)``."""
        self.button.disabled = True
        self.status.value = html.escape(message)
        start = time.time()
        error = None
        with self.out:   # an Output widget swallows exceptions raised inside it: catch them here
            try:
                result = fn(*args)
            except BaseException as e:   # KeyboardInterrupt too: the button must come back
                error = e
        self.button.disabled = False
        if error is not None:
            self._error(f"Run failed: {type(error).__name__}: {error} (earlier results kept)")
            raise error
        return result, time.time() - start

    def _show(self, *things):
        """Replace the output area with ``things`` (tables, figures; a figure is closed once shown)."""
        self.out.clear_output(wait=True)
        with self.out:
            for thing in things:
                display(thing)
                if isinstance(thing, plt.Figure):
                    plt.close(thing)

    def _ipython_display_(self):
        display(self.box)


class LabelsPerClassExplorer(RunWidget):
    """A labels-per-class slider, a strategy picker (with ``all``) and a Train button; ``unit`` names what is
    labelled (``"images"``, ``"examples"``) in the figure's axis label."""

    def __init__(self, train_fn, strategies, k_max, k=None, k_min=1, metric="test accuracy", unit="images"):
        if not callable(train_fn):
            raise ValueError("train_fn must be a function (k, strategy) -> accuracy")
        strategies = list(strategies)
        if not strategies or not all(isinstance(s, str) for s in strategies):
            raise ValueError(f"strategies must be a non-empty list of names, got {strategies!r}")
        if ALL in strategies:
            raise ValueError(f"{ALL!r} is reserved for 'train every strategy'; rename that strategy")
        if not isinstance(unit, str) or not unit.strip():
            raise ValueError(f"unit must name what is labelled, such as 'images' or 'examples', got {unit!r}")
        self.train_fn, self.strategies, self.metric, self.unit = train_fn, strategies, str(metric), unit.strip()
        self.k_min, self.k_max = check_positive_int(k_min, "k_min"), check_positive_int(k_max, "k_max")
        if self.k_min > self.k_max:
            raise ValueError(f"k_min must not exceed k_max, got k_min={self.k_min} > k_max={self.k_max}")
        k = check_labels_per_class(min(10, self.k_max) if k is None else k, self.k_max, self.k_min)
        style = {"description_width": "initial"}
        self.slider = W.IntSlider(value=k, min=self.k_min, max=self.k_max, description="labels/class",
                                  continuous_update=False, style=style)
        self.picker = W.ToggleButtons(options=[*strategies, ALL], value=strategies[0], description="strategy",
                                      style={**style, "button_width": "auto"})
        self._controls("Train", "Pick labels per class and a strategy, then press Train.")
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

    def run(self, k, strategy=ALL):
        """Train at ``k`` labels per class with ``strategy`` (or ``"all"``); returns ``{strategy: accuracy}``."""
        try:
            k = check_labels_per_class(k, self.k_max, self.k_min)
        except ValueError as e:
            self._fail(str(e))
        if strategy != ALL and strategy not in self.strategies:
            self._fail(f"unknown strategy {strategy!r}: pick one of {[*self.strategies, ALL]}")
        accs = {}
        for name in self.strategies if strategy == ALL else [strategy]:
            acc, secs = self._train(f"Training {name} with {k} labels per class...", self.train_fn, k, name)
            accs[name] = float(acc)
            self.rows.append((k, name, round(float(acc), 3), round(secs, 1)))
        self.status.value = f"Done ({k} labels/class): " + ", ".join(f"{n} {a:.3f}" for n, a in accs.items())
        self._show(self.summary().round(3), self.plot().figure)
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
        return finish_axes(ax, f"labelled {self.unit} per class (log scale)", self.metric,
                           legend={"loc": "lower right"})
