"""The augmentation gallery: the same digits under one or more pipelines of batch transforms, as a grid."""
import matplotlib.pyplot as plt
import numpy as np
import torch
from fastai.vision.all import Pipeline, TensorImage

from .digits import digit_images


def gallery_digits(n=8, seed=0):
    """``n`` digit images (uint8, N x H x W x 3), one of each class first, picked by ``seed``."""
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 50:
        raise ValueError(f"n must be a whole number of images from 1 to 50, got {n!r}")
    x, y = digit_images()
    rng = np.random.default_rng(seed)
    order = [rng.choice(np.flatnonzero(y == c)) for c in rng.permutation(10)]
    extra = rng.choice(len(y), size=max(0, n - 10), replace=False)
    return x[np.array([*order, *extra][:n])]


def augment(images, tfms, seed=0):
    """``images`` (uint8 N x H x W x 3) after the batch transforms ``tfms`` as the training set sees them.

    The random draws are seeded, so the same call gives the same gallery; the result is uint8 again.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be an array N x H x W x 3, got shape {images.shape}")
    batch = TensorImage(torch.from_numpy(images.copy()).permute(0, 3, 1, 2).float() / 255)
    rng_state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        out = Pipeline(list(tfms), split_idx=0)(batch)   # split_idx=0: the training set's transforms
    finally:
        torch.set_rng_state(rng_state)
    return (out.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


def plot_gallery(rows, size=0.9, title=None):
    """One row per name in ``rows`` (name -> uint8 images N x H x W x 3), the same digits in every row; returns the figure."""
    if not rows:
        raise ValueError("plot_gallery needs at least one row (name -> images)")
    ns = {len(v) for v in rows.values()}
    if len(ns) != 1:
        raise ValueError(f"every row needs the same number of images, got {sorted(ns)}")
    n = ns.pop()
    fig, axes = plt.subplots(len(rows), n, figsize=(1.6 + n * size, len(rows) * size), squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(np.asarray(images[c]), vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 0.94 if title else 1))
    if title:
        fig.suptitle(title)
    return fig


def gallery(images, pipelines, seed=0, size=0.9, title=None):
    """The figure for ``images`` as they are ("original") and under each pipeline (name -> list of batch transforms)."""
    rows = {"original": np.asarray(images)}
    rows.update({name: augment(images, tfms, seed=seed) for name, tfms in pipelines.items()})
    return plot_gallery(rows, size=size, title=title)
