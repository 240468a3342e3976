"""Lesson 04 (gradual unfreezing): the schedule picker, weight drift per layer group, and their pictures."""
import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..config import check_positive_int, is_whole_number
from ..groups import check_schedule
from ..plots import finish_axes
from ..widgets import RunWidget

MAX_RUNS_PLOTTED = 4


def uniform_schedule(epochs_per_stage, n_stages, n_groups):
    """``[epochs_per_stage] * n_stages``, checked (the widget's two sliders)."""
    if not is_whole_number(n_stages) or n_stages < 1:
        raise ValueError(f"the number of stages must be a positive whole number, got {n_stages!r}")
    return check_schedule([epochs_per_stage] * n_stages, n_groups)


def snapshot_groups(learn):
    """A detached copy of every group's parameters, to measure drift against later."""
    return [[p.detach().cpu().clone() for p in g] for g in [list(g) for g in learn.splitter(learn.model)]]


def relative_distance(now, before):
    """``||now - before|| / ||before||`` over lists of tensors (one flattened vector each)."""
    now, before = list(now), list(before)
    if len(now) != len(before) or not before:
        raise ValueError(f"need two equally long, non-empty lists of tensors, got {len(now)} and {len(before)}")
    for a, b in zip(now, before):
        if a.shape != b.shape:
            raise ValueError(f"tensor shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    diff = sum(((a.detach().cpu().float() - b.float()) ** 2).sum() for a, b in zip(now, before))
    norm = sum((b.float() ** 2).sum() for b in before)
    if norm == 0:
        raise ValueError("the reference weights are all zero: relative distance is undefined")
    return float((diff / norm).sqrt())


def weight_drift(learn, snapshot):
    """One relative distance per layer group between ``learn``'s weights now and ``snapshot``."""
    groups = [list(g) for g in learn.splitter(learn.model)]
    if len(groups) != len(snapshot):
        raise ValueError(f"the snapshot has {len(snapshot)} layer groups but the learner has {len(groups)}: "
                         "take the snapshot from the same learner, before training")
    return [relative_distance(g, s) for g, s in zip(groups, snapshot)]


# ---- pictures and the widget ---------------------------------------------------------------

def plot_drift(drift, group_names, ax=None, title=None):
    """Grouped bars: relative weight drift per layer group, one bar per strategy (mean ± 1 sd over seeds)."""
    if not drift:
        raise ValueError("plot_drift needs at least one strategy")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6))
    mean, sd = {}, {}
    for name, runs in drift.items():
        a = np.asarray(runs, dtype=float)
        if a.ndim != 2 or a.shape[1] != len(group_names):
            raise ValueError(f"{name!r}: every run needs one drift per layer group ({len(group_names)}), got shape {a.shape}")
        mean[name], sd[name] = a.mean(0), a.std(0, ddof=1) if len(a) > 1 else np.zeros(a.shape[1])
    index = pd.Index(list(group_names), name="layer group")
    pd.DataFrame(mean, index=index).plot.bar(yerr=pd.DataFrame(sd, index=index), capsize=2, rot=0, ax=ax, fontsize=8)
    return finish_axes(ax, "", "||w − w_start|| / ||w_start||", title, log_y=True,
                       grid={"axis": "y"}, legend={"fontsize": 8})


def plot_stage_grid(plan, group_names, ax=None):
    """Which layer groups train in each stage: a grid, stages down, groups across."""
    if not plan:
        raise ValueError("plot_stage_grid needs at least one stage")
    n = len(group_names)
    grid = np.zeros((len(plan), n))
    for s, (freeze_to, _) in enumerate(plan):
        grid[s, n + freeze_to:] = 1
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 * n + 1.5, 0.45 * len(plan) + 1))
    ax.imshow(grid, cmap="Blues", vmin=0, vmax=1.4, aspect="auto")
    for s, (freeze_to, epochs) in enumerate(plan):
        for g in range(n):
            ax.text(g, s, "trains" if grid[s, g] else "frozen", ha="center", va="center", fontsize=8,
                    color="black" if grid[s, g] else "grey")
    ax.set_xticks(range(n))
    ax.set_xticklabels(group_names, fontsize=8)
    ax.set_yticks(range(len(plan)))
    ax.set_yticklabels([f"stage {s + 1}: freeze_to({f}), {e} ep" for s, (f, e) in enumerate(plan)], fontsize=8)
    ax.set_title("gradual unfreezing: one more layer group per stage")
    return ax


class ScheduleExplorer(RunWidget):
    """Sliders for epochs per stage and number of stages, and a Train button."""

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
        self._controls("Train", "Pick a schedule, then press Train. Stage i trains the last i layer groups.")
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
            self._fail(str(e))
        res, secs = self._train(f"Training schedule {schedule}...", self.train_fn, schedule)
        src = res.get("source_accuracy")
        self.runs.append((str(schedule), res))
        self.rows.append((str(schedule), sum(schedule), round(float(res["accuracy"][-1]), 3),
                          None if src is None else round(float(src), 3), round(secs, 1)))
        self.status.value = (f"Done in {secs:.0f}s: target accuracy {res['accuracy'][-1]:.3f}"
                             + ("" if src is None else f", source accuracy {src:.3f}"))
        self._show(self.results.drop(columns="seconds"), self.figure())
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

