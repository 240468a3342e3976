"""Lesson 03 (freezing and layer groups): what each group holds, the frozen-layer map, the cost of
training more groups, and the ``freeze_to`` slider."""
from collections import Counter

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch, Rectangle

from ..groups import (_is_norm_param, _learner_groups, check_group_index, count_trainable, frozen_groups,
                      group_counts, group_names, group_trains, n_groups)
from ..plots import figure_png
from ..widgets import RunWidget

FROZEN = "#d4d4d4"
GROUP_COLORS = ["#4c72b0", "#55a868", "#c44e52", "#8172b2", "#ccb974", "#64b5cd", "#dd8452", "#937860"]
COST_COLUMNS = ("train_bn", "groups_trained", "seconds", "trainable_params")


def _index_path(name):
    """``"0.1.conv1"`` -> ``"model[0][1].conv1"``: the Python expression that reaches the module."""
    out = "model"
    for part in name.split(".") if name else []:
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def _contents(module):
    """What a module holds, e.g. ``"Conv2d, BatchNorm2d"`` or ``"2 BatchNorm1d, 2 Linear"``."""
    children = [c for c in module.children() if any(True for _ in c.parameters())]
    if not children:
        return type(module).__name__
    counts = Counter(type(c).__name__ for c in children)
    return ", ".join(name if k == 1 else f"{k} {name}" for name, k in counts.items())


def group_units(learn):
    """The largest modules that lie wholly in one of ``learn``'s groups, in model order."""
    return units_of(learn.model, _learner_groups(learn))


def units_of(model, groups):
    """``group_units`` for any model and list of parameter groups (e.g. a splitter's output)."""
    owner = {}
    for i, pg in enumerate(groups):
        for p in pg:
            owner.setdefault(id(p), i)
    units = []

    def visit(module, name):
        params = list(module.parameters())
        if not params:
            return
        found = {owner.get(id(p)) for p in params}
        if len(found) == 1:
            units.append({"path": _index_path(name), "module": module, "group": found.pop(),
                          "params": sum(p.numel() for p in params), "contents": _contents(module)})
            return
        for pname, p in module.named_parameters(recurse=False):
            units.append({"path": _index_path(f"{name}.{pname}" if name else pname), "module": None,
                          "group": owner.get(id(p)), "params": p.numel(), "contents": "Parameter"})
        for cname, child in module.named_children():
            visit(child, f"{name}.{cname}" if name else cname)

    visit(model, "")
    return units


def group_rows(learn, names=None):
    """One dict per layer group: name, layers, contents, parameter counts, whether it trains, its state."""
    names = names or group_names(learn)
    counts, trains, units = group_counts(learn), group_trains(learn), group_units(learn)
    rows = []
    for i, (c, t) in enumerate(zip(counts, trains)):
        mine = [u for u in units if u["group"] == i]
        if t:
            state = "trains"
        elif c["norm_trainable"]:
            state = "frozen (BatchNorm trains)"
        else:
            state = "frozen"
        rows.append({"group": i, "name": names[i] if i < len(names) else f"group {i}",
                     "layers": ", ".join(u["path"] for u in mine),
                     "contains": "; ".join(u["contents"] for u in mine),
                     "params": c["params"], "trainable params": c["trainable"], "trains": t, "state": state})
    return rows


def group_table(learn, names=None, contents=False):
    """A DataFrame, one row per layer group: group, name, layers, params, trainable params, trains, state."""
    df = pd.DataFrame(group_rows(learn, names))
    if not contents:
        df = df.drop(columns="contains")
    return df.set_index("group")


def training_step_flops(learn, batch=None):
    """Floating-point operations of one training step on ``batch`` (default: one training batch)."""
    from torch.utils.flop_counter import FlopCounterMode
    xb, yb = batch if batch is not None else learn.dls.train.one_batch()
    model = learn.model
    was_training = model.training
    saved = {k: v.clone() for k, v in model.state_dict().items() if "running_" in k or "num_batches" in k}
    model.train()
    try:
        with FlopCounterMode(display=False) as counter:
            loss = learn.loss_func(model(xb), yb)
            forward = counter.get_total_flops()
            if loss.requires_grad:
                loss.backward()
            total = counter.get_total_flops()
    finally:
        for p in model.parameters():
            p.grad = None
        model.load_state_dict(saved, strict=False)
        model.train(was_training)
    return {"forward": int(forward), "backward": int(total - forward), "total": int(total)}


# ---- pictures ---------------------------------------------------------------------------

def _short(n):
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)


def plot_frozen_map(learn, ax=None, title=None, names=None):
    """Draw ``learn``'s model from input (left) to output (right), one box per module, shaded by group."""
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
    summary = f"{count_trainable(learn):,} of {total:,} parameters train"
    ax.set_title(f"{title}: {summary}" if title else summary, fontsize=10, loc="left")
    return ax


def frozen_map_legend(ax):
    """Add the map's legend (trains / frozen) under ``ax``."""
    handles = [Patch(facecolor=GROUP_COLORS[0], edgecolor="#333333", label="trains (colour = layer group)"),
               Patch(facecolor=FROZEN, edgecolor="#333333", hatch="///", label="frozen"),
               Patch(facecolor="white", edgecolor="#333333", label="bottom strip: BatchNorm weights")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=3, fontsize=8, frameon=False)
    return ax


def plot_training_cost(rows, axes=None):
    """Panels against the number of groups trained: seconds per epoch, FLOPs per step (if given), trainable parameters."""
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


class FreezeExplorer(RunWidget):
    """Slider ``freeze_to`` (0 = ``unfreeze()``, last = ``freeze()``) and a ``train_bn`` switch for ``learn``."""

    def __init__(self, learn, n=None, names=None):
        if not hasattr(learn, "freeze_to") or not hasattr(learn, "model"):
            raise ValueError(f"FreezeExplorer needs a fastai Learner, got {type(learn).__name__}")
        self.learn = learn
        self.groups = n_groups(learn)
        if self.groups < 2:
            raise ValueError(f"this learner has {self.groups} layer group; freezing needs at least two "
                             "(give vision_learner or Learner a splitter)")
        self.names = list(names) if names is not None else group_names(learn)
        if len(self.names) != self.groups:
            raise ValueError(f"names must give one name per layer group: this learner has {self.groups} groups, "
                             f"got {len(self.names)} names")
        self.n = self._check(min(frozen_groups(learn), self.groups - 1) if n is None else n)
        self._busy = False
        self.slider = W.IntSlider(value=self.n, min=0, max=self.groups - 1, description="freeze_to",
                                  continuous_update=False, style={"description_width": "initial"})
        self.bn_box = W.Checkbox(value=bool(learn.train_bn), description="train_bn", indent=False)
        self.status = W.HTML()
        self.image = W.Image(format="png")
        self.slider.observe(self._on_slider, names="value")
        self.bn_box.observe(self._on_bn, names="value")
        help_text = W.HTML(f"<small>0 = <code>unfreeze()</code>, {self.groups - 1} = <code>freeze()</code>: "
                           "<code>freeze_to(n)</code> freezes the groups before <i>n</i></small>")
        self.box = W.VBox([W.HBox([self.slider, self.bn_box]), help_text, self.status, self.image])
        self._apply()

    def _check(self, n):
        g = self.groups
        return check_group_index(n, g, what="freeze_to index",
                                 hint=f"freeze_to(n) freezes groups 0..n-1, so use 0 (= unfreeze()) to "
                                      f"{g - 1} (= freeze(), only the last group trains)")

    def set(self, n):
        """Freeze the groups before ``n`` (negative counts from the end) and redraw; bad ``n``: ValueError."""
        try:
            self.n = self._check(n)
        except ValueError as e:
            self._error(e)
            raise
        self._apply()
        return self.state

    def set_train_bn(self, flag):
        """Switch ``learn.train_bn`` (which rebuilds its optimizer) and redraw."""
        if not isinstance(flag, bool):
            e = ValueError(f"train_bn must be True or False, got {flag!r}")
            self._error(e)
            raise e
        self.learn.train_bn = flag
        self.learn.create_opt()  # force_train is set on BatchNorm parameters when the optimizer is made
        self._apply()
        return self.state

    def _on_slider(self, change):
        if not self._busy:
            self.set(change["new"])

    def _on_bn(self, change):
        if not self._busy:
            self.set_train_bn(change["new"])

    def _apply(self):
        self.learn.freeze_to(self.n)
        self._busy = True
        try:
            self.slider.value, self.bn_box.value = self.n, bool(self.learn.train_bn)
        finally:
            self._busy = False
        st = self.state
        self.status.value = "<br>".join(self.summary().split("\n"))
        fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * (self.groups + 1)), 2.5))
        plot_frozen_map(self.learn, ax=ax, title=f"learn.freeze_to({st['freeze_to']})", names=self.names)
        frozen_map_legend(ax)
        self.image.value = figure_png(fig)

    @property
    def state(self):
        """``freeze_to``, ``train_bn``, which groups train, trainable parameters (all, and BatchNorm in frozen groups)."""
        trains = group_trains(self.learn)
        counts = group_counts(self.learn)
        return {
            "freeze_to": self.n,
            "train_bn": bool(self.learn.train_bn),
            "trains": trains,
            "trainable_params": count_trainable(self.learn),
            "total_params": sum(c["params"] for c in counts),
            "frozen_bn_trainable": sum(c["trainable"] for c, t in zip(counts, trains) if not t),
        }

    def summary(self):
        """The state in words, one fact per line."""
        st = self.state
        frozen = [i for i, t in enumerate(st["trains"]) if not t]
        training = [i for i, t in enumerate(st["trains"]) if t]
        lines = [f"learn.freeze_to({st['freeze_to']}) with train_bn={st['train_bn']}",
                 f"frozen groups: {frozen or 'none'}; training groups: {training or 'none'}",
                 f"trainable parameters: {st['trainable_params']:,} of {st['total_params']:,}"]
        if frozen:
            lines.append(f"of which BatchNorm in frozen groups: {st['frozen_bn_trainable']:,}")
        return "\n".join(lines)
