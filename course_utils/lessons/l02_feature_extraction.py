"""Lesson 02 (feature extraction): body features, cheap heads on them, the few-shot bookkeeping and its pictures."""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from scipy import stats
from fastai.data.core import DataLoaders, TfmdDL
from fastai.learner import Learner
from fastai.torch_core import default_device, noop

from ..measure import paired_diff
from ..plots import finish_axes

RESULT_COLUMNS = ["strategy", "labels_per_class", "seed", "accuracy"]
METHODS = ("pca", "tsne")


def tensor_dls(train_x, train_y, valid_x, valid_y, bs, val_bs=256):
    """fastai ``DataLoaders`` over tensors (e.g. body feature maps and labels), to train a head alone."""
    tx, ty, vx, vy = (torch.as_tensor(a) for a in (train_x, train_y, valid_x, valid_y))
    if len(tx) != len(ty) or len(vx) != len(vy):
        raise ValueError(f"features and labels differ in length: train {len(tx)} vs {len(ty)}, "
                         f"valid {len(vx)} vs {len(vy)}")
    if len(tx) == 0 or len(vx) == 0:
        raise ValueError("tensor_dls needs at least one training and one validation example")
    if isinstance(bs, bool) or not isinstance(bs, (int, np.integer)) or bs < 1:
        raise ValueError(f"bs must be a positive whole number, got {bs!r}")
    train, valid, device = list(zip(tx, ty.long())), list(zip(vx, vy.long())), default_device()
    return DataLoaders(TfmdDL(train, bs=min(int(bs), len(train)), shuffle=True, drop_last=True, device=device),
                       TfmdDL(valid, bs=val_bs, device=device), device=device)


def _as_numpy(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def avg_pool(maps):
    """Global average pooling: feature maps ``(N, C, H, W)`` -> features ``(N, C)`` (numpy float32)."""
    a = _as_numpy(maps)
    if a.ndim == 4:
        return a.mean(axis=(2, 3)).astype(np.float32)
    if a.ndim == 2:
        return a.astype(np.float32)
    raise ValueError(f"expected body feature maps (N, C, H, W) or features (N, C), got an array of shape {a.shape}")


def body_features(body, dls, items=None, pool=True):
    """The notebook's recipe: run ``items`` through a body-only fastai ``Learner`` with ``get_preds``."""
    if items is None:
        items = dls.valid_ds.items
    if len(items) == 0:
        raise ValueError("body_features needs at least one item to run through the body")
    learn = Learner(dls, body, loss_func=noop)   # a body has no loss; get_preds still calls one
    with learn.no_bar():
        maps, labels = learn.get_preds(dl=dls.test_dl(items, with_labels=True), act=noop)
    feats = avg_pool(maps) if pool else _as_numpy(maps)
    return feats, _as_numpy(labels).astype(np.int64)


def head_accuracy(model, x, y):
    """Accuracy of ``model`` (e.g. a head) on tensors ``x`` and labels ``y``, in eval mode (its mode is restored)."""
    was_training = model.training
    with torch.no_grad():
        preds = model.eval()(torch.as_tensor(x)).argmax(1).cpu()
    model.train(was_training)
    return float((preds == torch.as_tensor(y).cpu()).float().mean())


def few_shot_table(rows):
    """Mean, sd and 95% interval half-width (``ci``, t over seeds) for each strategy and ``k``."""
    rows = rows if isinstance(rows, pd.DataFrame) else list(rows)
    bad = [] if isinstance(rows, pd.DataFrame) else [r for r in rows if len(np.atleast_1d(r)) != len(RESULT_COLUMNS)]
    if bad:
        raise ValueError(f"few_shot_table needs rows of 4 values {tuple(RESULT_COLUMNS)}, got {bad[0]!r}")
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, columns=RESULT_COLUMNS)
    missing = [c for c in RESULT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"few_shot_table needs columns {RESULT_COLUMNS}; missing {missing}")
    if df.empty:
        raise ValueError("few_shot_table needs at least one result")
    order = list(dict.fromkeys(df["strategy"]))
    g = df.groupby(["strategy", "labels_per_class"], sort=False)["accuracy"]
    table = pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1).fillna(0.0), "n": g.size()})
    table["ci"] = stats.t.ppf(0.975, np.maximum(table["n"] - 1, 1)) * table["sd"] / np.sqrt(table["n"])   # 0 at n=1
    table = table.reset_index()
    table["strategy"] = pd.Categorical(table["strategy"], categories=order, ordered=True)
    return table.sort_values(["strategy", "labels_per_class"]).set_index(["strategy", "labels_per_class"])


def paired_by_k(rows, a, b):
    """``{k: cu.paired_diff(a, b)}`` at every labels per class, results paired by seed."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows), columns=RESULT_COLUMNS)
    if not {a, b} <= set(df["strategy"]):
        raise ValueError(f"unknown strategy {a!r} or {b!r}; the results have {list(dict.fromkeys(df['strategy']))}")
    wide = df.pivot_table(index=["labels_per_class", "seed"], columns="strategy", values="accuracy")
    return {int(k): paired_diff(*w[[a, b]].dropna().to_numpy().T, names=(a, b))
            for k, w in wide.groupby(level="labels_per_class")}


# ---- pictures of the feature space and the few-shot curve ---------------------------------

def _check_features(features, labels=None):
    x = np.asarray(features, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] < 3 or x.shape[1] < 2:
        raise ValueError(f"expected features of shape (N, D) with N >= 3 images and D >= 2 features, got {x.shape}; "
                         "pool (N, C, H, W) feature maps first, e.g. with avg_pool")
    if labels is not None and len(labels) != len(x):
        raise ValueError(f"{len(x)} feature rows but {len(labels)} labels: they must describe the same images")
    return x


def embed_2d(features, method="pca", seed=0, perplexity=30.0, tsne_iter=500):
    """Project ``(N, D)`` features to 2-D with scikit-learn's PCA or t-SNE; returns an ``(N, 2)`` array."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    m = str(method).lower()
    if m not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {METHODS}")
    x = StandardScaler().fit_transform(_check_features(features))
    if m == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(x)
    perplexity = min(float(perplexity), (len(x) - 1) / 3)   # t-SNE needs perplexity < N
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed,
                max_iter=max(250, int(tsne_iter))).fit_transform(x)


def plot_embedding(xy, labels, ax=None, title=None, class_names=None, size=6):
    """Scatter 2-D points coloured by class, each class's name written at its median point."""
    xy = np.asarray(xy, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"expected 2-D points of shape (N, 2), got {xy.shape}; project with embed_2d first")
    labels = np.asarray(labels)
    if len(labels) != len(xy):
        raise ValueError(f"{len(xy)} points but {len(labels)} labels")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    classes = np.unique(labels)
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for i, c in enumerate(classes):
        pts = xy[labels == c]
        name = class_names[int(c)] if class_names is not None else str(c)
        ax.scatter(pts[:, 0], pts[:, 1], s=size, color=cmap(i % cmap.N), alpha=0.7, linewidths=0)
        mx, my = np.median(pts, axis=0)
        ax.text(mx, my, name, fontsize=11, weight="bold", ha="center", va="center",
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec=cmap(i % cmap.N), alpha=0.8))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_embedding_grid(features_by_name, labels, methods=METHODS, seed=0, class_names=None, size=3.6):
    """One row per feature set (e.g. "pretrained body", "after fine_tune"), one column per method."""
    if not features_by_name:
        raise ValueError("plot_embedding_grid needs at least one feature set")
    for name, feats in features_by_name.items():
        _check_features(feats, labels)
    methods = [str(m).lower() for m in methods]
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"unknown method {m!r}: use one of {METHODS}")
    rows, cols = len(features_by_name), len(methods)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size), squeeze=False)
    for r, (name, feats) in enumerate(features_by_name.items()):
        for c, m in enumerate(methods):
            plot_embedding(embed_2d(feats, m, seed=seed), labels, ax=axes[r, c],
                           title=f"{name}: {'PCA' if m == 'pca' else 't-SNE'}", class_names=class_names)
    fig.tight_layout()
    return fig


def plot_few_shot_curve(table, diffs=None, title=None, metric="test accuracy"):
    """Left: accuracy against labels per class (log axis), mean ± 95% interval over seeds, one line per strategy.
    Right (with ``diffs``, ``{label: paired_by_k(...)}``): each paired difference with its 95% interval."""
    if table is None or len(table) == 0:
        raise ValueError("plot_few_shot_curve needs a non-empty few_shot_table")
    fig, axes = plt.subplots(1, 2 if diffs else 1, figsize=(11 if diffs else 6.5, 4), squeeze=False)
    ax = axes[0, 0]
    ticks = sorted({float(k) for k in table.index.get_level_values("labels_per_class")})
    for name in table.index.get_level_values("strategy").unique():
        t, n = table.loc[name], int(table.loc[name]["n"].max())
        ax.errorbar(t.index.to_numpy(dtype=float), t["mean"], yerr=t["ci"], marker="o", capsize=3,
                    label=f"{name} (n={n} seed{'s' if n != 1 else ''})")
    finish_axes(ax, "labelled images per class (log scale)", f"{metric}, mean ± 95% CI", title,
                legend={"loc": "lower right"})
    for name, d in (diffs or {}).items():
        ks, ds = [float(k) for k in sorted(d)], [d[k] for k in sorted(d)]
        axes[0, 1].errorbar(ks, [x.mean for x in ds], yerr=[[x.mean - x.lo for x in ds], [x.hi - x.mean for x in ds]],
                            marker="o", capsize=3, label=name)
    if diffs:
        axes[0, 1].axhline(0, color="grey", lw=1)
        finish_axes(axes[0, 1], "labelled images per class (log scale)", "paired difference, 95% CI",
                    "per-seed differences", legend={"loc": "upper right"})
    for a in axes[0]:
        a.set(xscale="log", xticks=ticks, xticklabels=[f"{k:g}" for k in ticks])
        a.minorticks_off()
    fig.tight_layout()
    return fig
