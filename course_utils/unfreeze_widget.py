"""Lesson 04's widget: pick a gradual-unfreezing schedule, train it, see curves, forgetting and drift.

The training stays in the notebook: ``train_fn(schedule)`` is written there and returns
``{"accuracy": [per-epoch target accuracy], "source_accuracy": float or None, "drift": [per group]}``.
The widget checks the schedule, calls ``train_fn``, keeps every run in a table and redraws.
"""
import time

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from .schedules import uniform_schedule
from .validate import check_positive_int

MAX_RUNS_PLOTTED = 4


class ScheduleExplorer:
    """Sliders for epochs per stage and number of stages, and a Train button.

    ``explorer.run(epochs_per_stage, n_stages)`` does from code what the button does;
    ``explorer.results`` is a DataFrame of every run so far.
    """

    def __init__(self, train_fn, group_names, max_epochs_per_stage=3, source_before=None):
        if not callable(train_fn):
            raise ValueError("train_fn must be a function schedule -> {'accuracy', 'source_accuracy', 'drift'}")
        if isinstance(group_names, str) or not hasattr(group_names, "__iter__"):
            raise ValueError(f"group_names must be a list with one name per layer group, got {group_names!r}")
        self.train_fn, self.group_names = train_fn, list(group_names)
        self.n_groups, self.source_before = len(self.group_names), source_before
        if self.n_groups < 1:
            raise ValueError("group_names must name at least one layer group")
        check_positive_int(max_epochs_per_stage, "max_epochs_per_stage", "the epochs slider's largest value")
        style = {"description_width": "initial"}
        self.epochs = W.IntSlider(value=1, min=1, max=max_epochs_per_stage, description="epochs per stage",
                                  continuous_update=False, style=style)
        self.stages = W.IntSlider(value=self.n_groups, min=1, max=self.n_groups, description="stages",
                                  continuous_update=False, style=style)
        self.button = W.Button(description="Train", button_style="primary", icon="play")
        self.status = W.HTML("Pick a schedule, then press Train. Stage i trains the last i layer groups.")
        self.out = W.Output()
        self.rows, self.runs = [], []
        self.button.on_click(lambda _: self.run(self.epochs.value, self.stages.value))
        self.box = W.VBox([W.HBox([self.epochs, self.stages, self.button]), self.status, self.out])

    @property
    def results(self):
        return pd.DataFrame(self.rows, columns=["schedule", "epochs", "accuracy", "source_accuracy", "seconds"])

    def run(self, epochs_per_stage, n_stages):
        """Train one schedule; a bad one gets a message in the widget and a ValueError."""
        try:
            schedule = uniform_schedule(epochs_per_stage, n_stages, self.n_groups)
        except ValueError as e:
            self.status.value = f"<b style='color:#b00'>{e}</b>"
            raise
        self.button.disabled = True
        self.status.value = f"Training schedule {schedule}..."
        start = time.time()
        error = None
        with self.out:  # an Output widget swallows exceptions raised inside it: catch them ourselves
            try:
                res = self.train_fn(schedule)
            except BaseException as e:   # KeyboardInterrupt too: the button must come back
                error = e
        self.button.disabled = False
        if error is not None:
            self.status.value = (f"<b style='color:#b00'>Run failed: {type(error).__name__}: {error}</b> "
                                 "(earlier results kept)")
            raise error
        secs = time.time() - start
        src = res.get("source_accuracy")
        self.runs.append((str(schedule), res))
        self.rows.append((str(schedule), sum(schedule), round(float(res["accuracy"][-1]), 3),
                          None if src is None else round(float(src), 3), round(secs, 1)))
        self.status.value = (f"Done in {secs:.0f}s: target accuracy {res['accuracy'][-1]:.3f}"
                             + ("" if src is None else f", source accuracy {src:.3f}"))
        self.out.clear_output(wait=True)
        with self.out:
            display(self.results.drop(columns="seconds"))
            fig = self.figure()
            display(fig)
            plt.close(fig)
        return res

    def figure(self):
        """Curves, source accuracy and drift of the last few runs."""
        runs = self.runs[-MAX_RUNS_PLOTTED:]
        fig, (a, b, c) = plt.subplots(1, 3, figsize=(14, 3.4))
        for name, res in runs:
            acc = res["accuracy"]
            a.plot(np.arange(1, len(acc) + 1), acc, marker="o", label=name)
        a.set(xlabel="epoch", ylabel="target accuracy", title="learning curves")
        a.legend(fontsize=7)
        names = [n for n, _ in runs]
        src = [np.nan if r.get("source_accuracy") is None else r["source_accuracy"] for _, r in runs]
        b.bar(range(len(runs)), src, color="tab:red")
        if self.source_before is not None:
            b.axhline(self.source_before, color="k", ls="--", lw=1, label="pretrained")
            b.legend(fontsize=7)
        b.set_xticks(range(len(runs)))
        b.set_xticklabels(names, fontsize=7, rotation=20)
        b.set(ylabel="source accuracy", title="forgetting")
        lo = np.nanmin(src + [self.source_before or np.nan]) if not np.all(np.isnan(src)) else 0
        b.set_ylim(max(0.0, lo - 0.05), 1.0)
        x, width = np.arange(self.n_groups), 0.8 / max(1, len(runs))
        for i, (name, res) in enumerate(runs):
            c.bar(x + (i - (len(runs) - 1) / 2) * width, res["drift"], width, label=name)
        c.set_xticks(x)
        c.set_xticklabels(self.group_names, fontsize=7)
        c.set(yscale="log", ylabel="relative drift", title="weight drift per group")
        fig.tight_layout()
        return fig

    def _ipython_display_(self):
        display(self.box)
