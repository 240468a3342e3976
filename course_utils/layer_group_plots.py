"""Pictures for the lesson on layer groups: the frozen-layer map and the cost of training more groups."""
import io

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch, Rectangle

from .layer_groups import _is_norm_param, group_names, group_trains, group_units, trainable_params

FROZEN = "#d4d4d4"
GROUP_COLORS = ["#4c72b0", "#55a868", "#c44e52", "#8172b2", "#ccb974", "#64b5cd", "#dd8452", "#937860"]
COST_COLUMNS = ("train_bn", "groups_trained", "seconds", "trainable_params")


def _short(n):
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)


def plot_frozen_map(learn, ax=None, title=None, names=None):
    """Draw ``learn``'s model from input (left) to output (right), one box per module, shaded by group.

    A box in colour trains; a grey, hatched box is frozen. The strip at the bottom of a box
    stands for its BatchNorm parameters: coloured when they train, which fastai's
    ``train_bn=True`` does even in frozen groups. Returns the axes.
    """
    units = group_units(learn)
    trains = group_trains(learn)
    names = names or group_names(learn)
    is_norm = _is_norm_param(learn.model)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 1.5 * len(units)), 2.4))
    w, gap, h, strip = 1.0, 0.3, 1.0, 0.22
    for j, u in enumerate(units):
        x, g = j * (w + gap), u["group"]
        color = GROUP_COLORS[g % len(GROUP_COLORS)] if g is not None else "#ffffff"
        on = g is not None and trains[g]
        ax.add_patch(Rectangle((x, 0), w, h, facecolor=color if on else FROZEN, edgecolor="#333333",
                               hatch=None if on else "///", linewidth=1))
        norm = [p for p in (u["module"].parameters() if u["module"] is not None else []) if is_norm(p)]
        if norm:
            bn_on = any(p.requires_grad for p in norm)
            ax.add_patch(Rectangle((x, 0), w, strip, facecolor=color if bn_on else FROZEN,
                                   edgecolor="#333333", linewidth=1, hatch=None if bn_on else "///"))
            ax.text(x + w / 2, strip / 2, "BN", ha="center", va="center", fontsize=7,
                    color="white" if bn_on else "#555555")
        label = u["path"].replace("model", "", 1) or "model"
        box = None if on else {"facecolor": FROZEN, "edgecolor": "none", "pad": 1.5}
        ax.text(x + w / 2, strip + (h - strip) * 0.62, label, ha="center", va="center", fontsize=8,
                color="white" if on else "#222222", fontweight="bold", bbox=box)
        ax.text(x + w / 2, strip + (h - strip) * 0.25, _short(u["params"]), ha="center", va="center", fontsize=7,
                color="white" if on else "#222222", bbox=box)
        if j:
            ax.annotate("", xy=(x, h / 2), xytext=(x - gap, h / 2), arrowprops={"arrowstyle": "->", "lw": 0.8})
    # one bracket per group under its boxes
    for g in sorted({u["group"] for u in units}, key=lambda v: (v is None, v)):
        idx = [j for j, u in enumerate(units) if u["group"] == g]
        x0, x1 = idx[0] * (w + gap), idx[-1] * (w + gap) + w
        ax.plot([x0, x0, x1, x1], [-0.08, -0.15, -0.15, -0.08], color="#333333", lw=0.8)
        name = names[g] if g is not None and g < len(names) else f"group {g}"
        text = "in no group!" if g is None else name if name == f"group {g}" else f"{g}: {name}"
        ax.text((x0 + x1) / 2, -0.22, text, ha="center", va="top", fontsize=8)
    n = len(units)
    ax.set_xlim(-0.1, n * (w + gap) - gap + 0.1)
    ax.set_ylim(-0.5, h + 0.08)
    ax.axis("off")
    total = sum(p.numel() for p in learn.model.parameters())
    summary = f"{trainable_params(learn):,} of {total:,} parameters train"
    ax.set_title(f"{title}: {summary}" if title else summary, fontsize=10, loc="left")
    return ax


def frozen_map_legend(ax):
    """Add the map's legend (trains / frozen) under ``ax``."""
    handles = [Patch(facecolor=GROUP_COLORS[0], edgecolor="#333333", label="trains (colour = layer group)"),
               Patch(facecolor=FROZEN, edgecolor="#333333", hatch="///", label="frozen"),
               Patch(facecolor="white", edgecolor="#333333", label="bottom strip: BatchNorm weights")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=3, fontsize=8, frameon=False)
    return ax


def show_figure(fig):
    """Display ``fig`` once, then close it.

    The cell gets exactly one figure output whatever the matplotlib backend: the inline one of
    a Jupyter kernel, or ``Agg`` (``MPLBACKEND=Agg``, as ``make`` sets it), so stored notebooks
    compare equal under both.
    """
    from IPython.display import display
    display(fig)
    plt.close(fig)


def figure_png(fig, dpi=90):
    """The figure as PNG bytes (for an ``ipywidgets.Image``), then closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def plot_training_cost(rows, axes=None):
    """Panels against the number of groups trained: seconds per epoch, FLOPs per step (if given), trainable parameters.

    ``rows``: records (or a DataFrame) with ``train_bn``, ``groups_trained``, ``seconds`` and
    ``trainable_params``, optionally ``step_flops``; one line per ``train_bn`` value. Returns the axes.
    """
    import pandas as pd
    df = pd.DataFrame(rows)
    if df.empty:
        raise ValueError("plot_training_cost needs at least one measurement")
    missing = [c for c in COST_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"plot_training_cost needs columns {list(COST_COLUMNS)}; missing {missing}")
    panels = [("seconds", "seconds per training epoch (median)", 1)]
    if "step_flops" in df.columns:
        panels.append(("step_flops", "GFLOPs per training step", 1e-9))
    panels.append(("trainable_params", "trainable parameters", 1))
    fig = None
    if axes is None:
        fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.4))
    if len(axes) != len(panels):
        raise ValueError(f"plot_training_cost draws {len(panels)} panels; got {len(axes)} axes")
    xs = np.sort(df["groups_trained"].unique())
    for ax, (col, ylabel, scale) in zip(axes, panels):
        for tbn, part in df.groupby("train_bn", sort=False):
            part = part.sort_values("groups_trained")
            ax.plot(part["groups_trained"], part[col] * scale, marker="o", label=f"train_bn={tbn}")
        ax.set_xlabel("layer groups trained (from the head)")
        ax.set_ylabel(ylabel)
        ax.set_xticks(xs)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[-1].yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: _short(int(v))))
    if fig is not None:
        fig.tight_layout()
    return axes
