"""Figures the lessons reuse: image grids and learning curves (mean ± spread over seeds)."""
import matplotlib.pyplot as plt
import numpy as np


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


def show_images(images, titles=None, ncols=10, size=1.1, cmap="gray", suptitle=None):
    """A grid of images (arrays H x W or H x W x 3); returns the figure."""
    images = list(images)
    if not images:
        raise ValueError("show_images needs at least one image")
    nrows = (len(images) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(np.asarray(images[i]), cmap=cmap, vmin=0, vmax=255)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_learning_curves(curves, metric="accuracy", ax=None, title=None):
    """One line per strategy: the mean over seeds of ``metric`` per epoch, with a ± 1 sd band.

    ``curves`` maps a strategy name to a list (one per seed) of lists of per-epoch values.
    """
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
