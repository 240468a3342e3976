"""Figures several lessons share: axes finishing, learning curves, gain against forgetting, and two
ways to show a figure (once in a cell, or as PNG bytes for an ``ipywidgets.Image``)."""
import io

import matplotlib.pyplot as plt
import numpy as np

from .measure import mean_spread

def finish_axes(ax, xlabel, ylabel, title=None, log_y=False, grid=None, legend=None):
    """The labels, grid, legend and title every course plot ends with; returns ``ax``."""
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, **(grid or {}))
    ax.legend(**(legend or {}))
    if title:
        ax.set_title(title)
    return ax


def plot_learning_curves(curves, metric="accuracy", ax=None, title=None):
    """One line per strategy: the mean over seeds of ``metric`` per epoch, with a ± 1 sd band."""
    if not curves:
        raise ValueError("plot_learning_curves needs at least one strategy")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    for name, runs in curves.items():
        lengths = {len(r) for r in runs}
        if len(lengths) != 1:
            raise ValueError(f"{name!r}: every seed needs the same number of epochs, got {sorted(lengths)}")
        a = np.asarray(runs, dtype=float)
        epochs = np.arange(1, a.shape[1] + 1)
        mean, sd = a.mean(0), a.std(0, ddof=1) if len(a) > 1 else np.zeros(a.shape[1])
        (line,) = ax.plot(epochs, mean, marker="o", label=f"{name} (n={len(a)} seeds)")
        ax.fill_between(epochs, mean - sd, mean + sd, color=line.get_color(), alpha=0.2)
    ax.set_xticks(epochs)
    return finish_axes(ax, "epoch", metric, title)


def plot_gain_vs_forgetting(points, ax=None, title=None, colors=None, baseline="head only"):
    """One point per (strategy, labelled-set size): source accuracy lost (x) vs target accuracy gained (y)."""
    if not points:
        raise ValueError("plot_gain_vs_forgetting needs at least one point")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for label, (losses, gains) in points.items():
        if len(losses) != len(gains) or len(losses) == 0:
            raise ValueError(f"{label!r}: need as many source losses as target gains (one per seed), "
                             f"got {len(losses)} and {len(gains)}")
        (mx, sx), (my, sy) = mean_spread(losses), mean_spread(gains)
        ax.errorbar(mx, my, xerr=sx, yerr=sy, fmt="o", capsize=3, label=label, color=(colors or {}).get(label))
    ax.axhline(0, color="grey", lw=0.8)
    ylabel = f"target accuracy gained over {baseline}" if baseline else "final test accuracy"
    return finish_axes(ax, "source accuracy lost (pretrained − after fine-tuning)", ylabel, title,
                       legend={"fontsize": 7})


def show_figure(fig):
    """Display ``fig`` once, then close it: one figure output under the inline backend and under Agg alike."""
    from IPython.display import display
    display(fig)
    plt.close(fig)


def figure_png(fig, dpi=90):
    """The figure as PNG bytes (for an ``ipywidgets.Image``); a pyplot figure is closed afterwards
    (one made without pyplot, as a widget's background thread draws it, is left alone)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    if getattr(fig.canvas, "manager", None) is not None:
        plt.close(fig)
    return buf.getvalue()
