"""Figures of the strategy lab, all drawn from ``compare_strategies``' tidy DataFrame."""
import matplotlib.pyplot as plt
import numpy as np

from ..plots import finish_axes, plot_gain_vs_forgetting, plot_learning_curves
from .runs import final_epoch
from .strategies import STRATEGIES


def _label(strategy, augment, with_aug):
    return f"{strategy} + aug" if with_aug and augment else strategy


def _runs(df):
    """``{label: final-epoch rows}`` in first-seen order (a label adds '+ aug' when both settings are present)."""
    if df is None or df.empty:
        raise ValueError("nothing to plot: the results frame is empty (run compare_strategies first)")
    with_aug = df["augment"].nunique() > 1
    last = final_epoch(df)
    out = {}
    for (name, aug), part in last.groupby(["strategy", "augment"], sort=False):
        out[_label(name, aug, with_aug)] = part
    return out


def plot_lab_curves(df, metric="accuracy", ax=None, title=None):
    """Learning curves: ``metric`` per epoch, mean ± 1 sd over seeds, one line per strategy."""
    if df is None or df.empty:
        raise ValueError("nothing to plot: the results frame is empty (run compare_strategies first)")
    with_aug = df["augment"].nunique() > 1
    curves = {}
    for (name, aug), part in df.groupby(["strategy", "augment"], sort=False):
        runs = [g.sort_values("epoch")[metric].tolist() for _, g in part.groupby("seed", sort=False)]
        n = min(len(r) for r in runs)
        curves[_label(name, aug, with_aug)] = [r[:n] for r in runs]
    ax = plot_learning_curves(curves, metric=metric, ax=ax, title=title)
    ax.legend(fontsize=7)
    return ax


def plot_final_accuracy(df, ax=None, title=None):
    """Final accuracy per strategy: mean bar, ± 1 sd error bar, one dot per seed."""
    runs = _runs(df)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6))
    for i, (label, part) in enumerate(runs.items()):
        acc = part["accuracy"].to_numpy(float)
        sd = acc.std(ddof=1) if len(acc) > 1 else 0.0
        ax.bar(i, acc.mean(), yerr=sd, capsize=3, color=f"C{i % 10}", alpha=0.75)
        ax.plot(np.full(len(acc), i), acc, "k.", ms=4)
    ax.set_xticks(range(len(runs)))
    ax.set_xticklabels(list(runs), rotation=35, ha="right", fontsize=8)
    lo = min(p["accuracy"].min() for p in runs.values())
    ax.set_ylim(max(0.0, lo - 0.1), 1.0)
    ax.grid(alpha=0.3, axis="y")
    ax.set_ylabel("final test accuracy")
    if title:
        ax.set_title(title)
    return ax


def plot_accuracy_vs_time(df, ax=None, title=None):
    """Final accuracy (mean ± sd) against wall seconds per run (mean ± sd), one point per strategy."""
    runs = _runs(df)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.6))
    for i, (label, part) in enumerate(runs.items()):
        t, a = part["wall_seconds"].to_numpy(float), part["accuracy"].to_numpy(float)
        ax.errorbar(t.mean(), a.mean(), xerr=t.std(ddof=1) if len(t) > 1 else 0,
                    yerr=a.std(ddof=1) if len(a) > 1 else 0, fmt="o", capsize=3, color=f"C{i % 10}", label=label)
    return finish_axes(ax, "wall seconds per run", "final test accuracy", title, legend={"fontsize": 7})


def plot_lab_forgetting(df, baseline="head only", source_before=None, ax=None, title=None):
    """Target accuracy gained over ``baseline`` (same seed) against source accuracy lost, per strategy."""
    everything = _runs(df)
    colour = {label: f"C{i % 10}" for i, label in enumerate(everything)}   # the same colours as the other panels
    runs = {label: part for label, part in everything.items()
            if STRATEGIES.get(part["strategy"].iloc[0]) is None or STRATEGIES[part["strategy"].iloc[0]].pretrained}
    if all(p["source_accuracy"].isna().all() for p in runs.values()):
        raise ValueError("no source-task accuracy in these results (forgetting is measured on the quick tier only)")
    if source_before is None:
        from ..backbone import source_accuracy
        source_before = source_accuracy(None)
    base = runs.get(baseline)
    base_acc = dict(zip(base["seed"], base["accuracy"])) if base is not None else None
    points = {}
    for label, part in runs.items():
        lost = source_before - part["source_accuracy"].to_numpy(float)
        acc = part["accuracy"].to_numpy(float)
        gain = acc - np.array([base_acc.get(s, np.nan) for s in part["seed"]]) if base_acc else acc
        keep = ~(np.isnan(lost) | np.isnan(gain))
        points[label] = (lost[keep].tolist(), gain[keep].tolist())
    return plot_gain_vs_forgetting({k: v for k, v in points.items() if v[0]}, ax=ax, title=title, colors=colour,
                                   baseline=baseline if base_acc else None)


def lab_figure(df, source_before=None, figure=None):
    """The lab's four panels in one 2 x 2 figure; the forgetting panel stays empty when nothing was measured."""
    has_source = not df["source_accuracy"].isna().all()
    size = (11, 7.6)
    if figure is None:
        fig, axes = plt.subplots(2, 2, figsize=size)
    else:
        fig = figure(figsize=size)
        axes = fig.subplots(2, 2)
    axes = axes.ravel()
    plot_lab_curves(df, ax=axes[0], title="learning curves (mean ± sd over seeds)")
    plot_final_accuracy(df, ax=axes[1], title="final accuracy")
    plot_accuracy_vs_time(df, ax=axes[2], title="accuracy against time")
    if has_source:
        baseline = "head only" if "head only" in set(df["strategy"]) else None
        plot_lab_forgetting(df, baseline=baseline or "", source_before=source_before, ax=axes[3],
                            title="target gain against forgetting")
    else:
        axes[3].set_axis_off()
    fig.tight_layout()
    return fig
