"""Figures for lesson 02: 2-D pictures of an embedding space (PCA, t-SNE) and the few-shot curve."""
import matplotlib.pyplot as plt
import numpy as np

METHODS = ("pca", "tsne")


def _check_features(features, labels=None):
    x = np.asarray(features, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] < 3 or x.shape[1] < 2:
        raise ValueError(f"expected features of shape (N, D) with N >= 3 images and D >= 2 features, got {x.shape}; "
                         "pool (N, C, H, W) feature maps first, e.g. with course_utils.features.avg_pool")
    if labels is not None and len(labels) != len(x):
        raise ValueError(f"{len(x)} feature rows but {len(labels)} labels: they must describe the same images")
    return x


def embed_2d(features, method="pca", seed=0, perplexity=30.0, tsne_iter=500):
    """Project ``(N, D)`` features to 2-D with scikit-learn's PCA or t-SNE; returns an ``(N, 2)`` array.

    Features are standardised first (each dimension to mean 0, sd 1), so no single large
    channel dominates the picture. t-SNE starts from the PCA layout (``init="pca"``) and ``seed``
    and runs ``tsne_iter`` iterations (scikit-learn's default is 1000; 500 draws the same
    clusters for a few hundred points in half the time on a laptop CPU).
    """
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
    """One row per feature set (e.g. "pretrained body", "after fine_tune"), one column per method.

    ``features_by_name`` maps a name to ``(N, D)`` features of the same ``N`` images as ``labels``.
    Returns the figure.
    """
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


def plot_few_shot_curve(table, ax=None, title=None, metric="test accuracy"):
    """Accuracy against labels per class (log axis), one line per strategy, mean ± 1 sd over seeds.

    ``table`` is ``course_utils.features.few_shot_table``'s result (index ``(strategy,
    labels_per_class)``, columns ``mean``, ``sd``, ``n``).
    """
    if table is None or len(table) == 0:
        raise ValueError("plot_few_shot_curve needs a non-empty few_shot_table")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    ks_all = set()
    for name in table.index.get_level_values("strategy").unique():
        t = table.loc[name]
        ks, mean, sd = t.index.to_numpy(dtype=float), t["mean"].to_numpy(), t["sd"].to_numpy()
        ks_all.update(ks.tolist())
        n = int(t["n"].max())
        (line,) = ax.plot(ks, mean, marker="o", label=f"{name} (n={n} seed{'s' if n != 1 else ''})")
        ax.fill_between(ks, mean - sd, mean + sd, color=line.get_color(), alpha=0.2)
    ax.set_xscale("log")
    ticks = sorted(ks_all)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{k:g}" for k in ticks])
    ax.minorticks_off()
    ax.set_xlabel("labelled images per class (log scale)")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    if title:
        ax.set_title(title)
    return ax
