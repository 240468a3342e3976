"""Figures for lesson 05: learning rate per layer group, and per group over a one-cycle schedule."""
import matplotlib.pyplot as plt
import numpy as np

from .plots import finish_axes

MINI_RESNET_GROUPS = ["stem+stage1", "stage2", "stage3", "stage4", "head"]


def group_names(n_groups):
    """Names for ``n_groups`` layer groups: the MiniResNet's five, else ``group 1 ... head``."""
    n = int(n_groups)
    if n == len(MINI_RESNET_GROUPS):
        return list(MINI_RESNET_GROUPS)
    return [f"group {i + 1}" for i in range(n - 1)] + ["head"]


def plot_group_lrs(series, names=None, ax=None, title=None):
    """One line per entry of ``series`` (``{label: [rate per group]}``), log scale, group on the x axis."""
    if not series:
        raise ValueError("plot_group_lrs needs at least one list of per-group learning rates")
    lengths = {len(v) for v in series.values()}
    if len(lengths) != 1:
        raise ValueError(f"every entry needs one rate per layer group, got lengths {sorted(lengths)}")
    n = lengths.pop()
    names = names or group_names(n)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.4))
    x = np.arange(n)
    markers = "osD^v<>"
    for i, (label, lrs) in enumerate(series.items()):
        ax.plot(x, lrs, marker=markers[i % len(markers)], label=label, alpha=0.85)
    ax.set_xticks(x)
    ax.set_xticklabels(names, fontsize=9)
    return finish_axes(ax, "layer group (earliest → head)", "learning rate", title, log_y=True,
                       grid={"which": "both"}, legend={"fontsize": 9})


def plot_group_lr_schedule(rows, names=None, ax=None, title=None):
    """Each group's learning rate at every training batch (``GroupLRRecorder.rows``), log scale."""
    a = np.asarray(rows, dtype=float)
    if a.ndim != 2 or a.shape[0] == 0:
        raise ValueError("plot_group_lr_schedule needs recorded rows: one list of per-group rates per batch")
    names = names or group_names(a.shape[1])
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.4))
    for g in range(a.shape[1]):
        ax.plot(np.arange(1, len(a) + 1), a[:, g], label=names[g])
    return finish_axes(ax, "training batch", "learning rate", title, log_y=True,
                       grid={"which": "both"}, legend={"fontsize": 8})
