"""Figures of the strategy lab, all drawn from ``compare_strategies``' tidy DataFrame; every comparison shows a
95% interval (paired over seeds against a baseline where there is one)."""
from functools import lru_cache

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from ..measure import paired_diff
from ..plots import finish_axes, plot_learning_curves
from .runs import final_epoch
from .strategies import STRATEGIES

BASELINE = "fine_tune"


def _label(strategy, augment, with_aug):
    return f"{strategy} + aug" if with_aug and augment else strategy


def _runs(df):
    """``{label: final-epoch rows, by seed}`` in first-seen order (a label adds '+ aug' when both settings are present)."""
    if df is None or df.empty:
        raise ValueError("nothing to plot: the results frame is empty (run compare_strategies first)")
    with_aug = df["augment"].nunique() > 1
    return {_label(name, aug, with_aug): part.sort_values("seed")
            for (name, aug), part in final_epoch(df).groupby(["strategy", "augment"], sort=False)}


def mean_ci(values):
    """``(mean, half-width of the 95% t interval)``; the half-width is 0 for a single value."""
    v = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0
    return float(v.mean()), float(half)


def plot_lab_curves(df, metric="train_loss", ax=None, title=None):
    """``metric`` per epoch (runs validate once, at the end), mean ± 1 sd over seeds, one line per strategy; the
    fitted probe has no epochs."""
    if df is None or df.empty:
        raise ValueError("nothing to plot: the results frame is empty (run compare_strategies first)")
    with_aug = df["augment"].nunique() > 1
    curves = {}
    for (name, aug), part in df[df["epoch"] > 0].groupby(["strategy", "augment"], sort=False):
        runs = [g.sort_values("epoch")[metric].tolist() for _, g in part.groupby("seed", sort=False)]
        curves[_label(name, aug, with_aug)] = [r[:min(len(r) for r in runs)] for r in runs]
    if not curves:
        ax = ax or plt.subplots(figsize=(6, 3.6))[1]
        ax.set_axis_off()
        return ax
    ax = plot_learning_curves(curves, metric=metric, ax=ax, title=title)
    ax.legend(fontsize=7)
    return ax


def plot_paired(df, baseline=BASELINE, metric="test_accuracy", ax=None, title=None):
    """Each strategy minus ``baseline``, seed by seed: the mean difference and its 95% interval (colour: the verdict).
    Without the baseline or with one seed, each strategy's per-seed values and mean ± 95% interval instead."""
    runs = _runs(df)
    ax = ax or plt.subplots(figsize=(6.5, 3.6))[1]
    base = runs.get(baseline)
    paired = base is not None and len(base) > 1
    colour = {1: "C2", -1: "C3", 0: "C7"}
    for i, (label, part) in enumerate(runs.items()):
        values = part[metric].to_numpy(float)
        if paired and label != baseline and list(part["seed"]) == list(base["seed"]):
            d = paired_diff(values, base[metric], (label, baseline))
            ax.errorbar(d.mean, i, xerr=[[d.mean - d.lo], [d.hi - d.mean]], fmt="o", capsize=3, color=colour[d.direction])
        elif paired and label == baseline:
            ax.plot(0, i, "k|", ms=12)
        elif not paired:
            m, half = mean_ci(values)
            ax.errorbar(m, i, xerr=half, fmt="o", capsize=3, color=f"C{i % 10}")
            ax.plot(values, np.full(len(values), i), "k.", ms=3)
    ax.set_yticks(range(len(runs)))
    ax.set_yticklabels(list(runs), fontsize=8)
    ax.invert_yaxis()
    if paired:
        ax.axvline(0, color="grey", lw=0.8)
    xlabel = f"{metric} − {baseline} (95% CI, paired)" if paired else f"{metric} (mean, 95% CI)"
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3, axis="x")
    if title:
        ax.set_title(title)
    return ax


@lru_cache(maxsize=1)
def source_before():
    """The pretrained body's source accuracy, both ways: ``{"source_accuracy": ..., "source_probe_accuracy": ...}``."""
    from ..backbone import source_accuracy, source_probe_accuracy
    return {"source_accuracy": source_accuracy(None), "source_probe_accuracy": source_probe_accuracy(None)}


def plot_lab_forgetting(df, ax=None, title=None):
    """Source accuracy lost, two ways, per pretrained strategy (mean and 95% interval over seeds): the source head
    reattached (compatibility) and a probe refitted on the body's features (what the representation still knows)."""
    runs = {label: part for label, part in _runs(df).items()     # from scratch has no pretrained body to forget
            if STRATEGIES.get(part["strategy"].iloc[0]) is None or STRATEGIES[part["strategy"].iloc[0]].pretrained}
    if all(p["source_accuracy"].isna().all() for p in runs.values()):
        raise ValueError("no source-task accuracy in these results (forgetting is measured on the quick tier only)")
    before = source_before()
    ax = ax or plt.subplots(figsize=(6.5, 3.6))[1]
    for column, shift, name in [("source_accuracy", -0.15, "source head reattached"),
                                ("source_probe_accuracy", 0.15, "probe refitted")]:
        for i, part in enumerate(runs.values()):
            m, half = mean_ci(before[column] - part[column].to_numpy(float))
            ax.errorbar(m, i + shift, xerr=half, fmt="o" if shift < 0 else "s", capsize=3,
                        color="C0" if shift < 0 else "C1", label=name if i == 0 else None)
    ax.set_yticks(range(len(runs)))
    ax.set_yticklabels(list(runs), fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="grey", lw=0.8)
    return finish_axes(ax, "source accuracy lost (mean, 95% CI)", "", title, grid={"axis": "x"}, legend={"fontsize": 7})


def plot_accuracy_vs_time(df, ax=None, title=None):
    """Final test accuracy against wall seconds per run, each as mean ± 95% interval, one point per strategy."""
    runs = _runs(df)
    ax = ax or plt.subplots(figsize=(5.5, 3.6))[1]
    for i, (label, part) in enumerate(runs.items()):
        (t, dt), (a, da) = mean_ci(part["wall_seconds"]), mean_ci(part["test_accuracy"])
        ax.errorbar(t, a, xerr=dt, yerr=da, fmt="os^"[i // 10 % 3], capsize=3, color=f"C{i % 10}", label=label)
    return finish_axes(ax, "wall seconds per run", "final test accuracy", title, legend={"fontsize": 7})


def lab_figure(df, figure=None, baseline=BASELINE):
    """The lab's four panels in one 2 x 2 figure; the forgetting panel stays empty when nothing was measured."""
    has_source = not df["source_accuracy"].isna().all()
    size = (11, 7.6)
    fig = plt.figure(figsize=size) if figure is None else figure(figsize=size)
    axes = fig.subplots(2, 2).ravel()
    plot_lab_curves(df, ax=axes[0], title="training loss per epoch (mean ± 1 sd)")
    plot_paired(df, baseline=baseline, ax=axes[1], title=f"test accuracy against {baseline}, seed by seed")
    plot_accuracy_vs_time(df, ax=axes[2], title="test accuracy against time")
    if has_source:
        plot_lab_forgetting(df, ax=axes[3], title="forgetting, two ways")
    else:
        axes[3].set_axis_off()
    fig.tight_layout()
    return fig
