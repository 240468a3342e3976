"""Figures for lesson 04: target gain against source-task loss, and weight drift per layer group."""
import matplotlib.pyplot as plt
import numpy as np

from .plots import finish_axes


def _mean_sd(values):
    a = np.asarray(values, dtype=float)
    return a.mean(), (a.std(ddof=1) if a.size > 1 else 0.0)


def plot_gain_vs_forgetting(points, ax=None, title=None):
    """One point per (strategy, labelled-set size): source accuracy lost (x) vs target accuracy gained (y).

    ``points`` maps a label such as ``"gradual, 5/class"`` to ``(losses, gains)``, two lists with
    one value per seed; each point is the mean with ± 1 sd error bars. Up and to the left is
    better: more gained on the new task for less forgotten of the old one.
    """
    if not points:
        raise ValueError("plot_gain_vs_forgetting needs at least one point")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for label, (losses, gains) in points.items():
        if len(losses) != len(gains) or len(losses) == 0:
            raise ValueError(f"{label!r}: need as many source losses as target gains (one per seed), "
                             f"got {len(losses)} and {len(gains)}")
        (mx, sx), (my, sy) = _mean_sd(losses), _mean_sd(gains)
        ax.errorbar(mx, my, xerr=sx, yerr=sy, fmt="o", capsize=3, label=label)
    ax.axhline(0, color="grey", lw=0.8)
    return finish_axes(ax, "source accuracy lost (pretrained − after fine-tuning)",
                       "target accuracy gained over head only", title, legend={"fontsize": 8})


def plot_drift(drift, group_names, ax=None, title=None):
    """Grouped bars: relative weight drift per layer group, one bar per strategy (mean ± 1 sd over seeds).

    ``drift`` maps a strategy name to a list (one per seed) of per-group drifts.
    """
    if not drift:
        raise ValueError("plot_drift needs at least one strategy")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6))
    x = np.arange(len(group_names))
    width = 0.8 / len(drift)
    for i, (name, runs) in enumerate(drift.items()):
        a = np.asarray(runs, dtype=float)
        if a.ndim != 2 or a.shape[1] != len(group_names):
            raise ValueError(f"{name!r}: every run needs one drift per layer group ({len(group_names)}), got shape {a.shape}")
        sd = a.std(0, ddof=1) if len(a) > 1 else np.zeros(a.shape[1])
        ax.bar(x + (i - (len(drift) - 1) / 2) * width, a.mean(0), width, yerr=sd, capsize=2, label=name)
    ax.set_xticks(x)
    ax.set_xticklabels(group_names, fontsize=8)
    return finish_axes(ax, "", "||w − w_start|| / ||w_start||", title, log_y=True,
                       grid={"axis": "y"}, legend={"fontsize": 8})


def plot_stage_grid(plan, group_names, ax=None):
    """Which layer groups train in each stage: a grid, stages down, groups across.

    ``plan`` is ``schedules.stage_plan(...)``: ``[(freeze_to argument, epochs), ...]``.
    """
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
