"""The quick tier's target data: scikit-learn's real handwritten digits (1,797 images, 8x8).

Each image is upsampled once to 32x32 (the backbone's input size). A fixed, stratified test
split of 500 images is held out; few-shot training sets take ``k`` labelled images of each
digit from the rest, chosen by a seed.
"""
from functools import lru_cache

import numpy as np
from fastai.vision.all import (CategoryBlock, DataBlock, ImageBlock, IndexSplitter, Normalize, PILImage)
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from .source_data import IMAGE_SIZE
from .validate import check_labels_per_class, check_positive_int, check_seed

N_TEST = 500
SPLIT_SEED = 0
CLASSES = [str(d) for d in range(10)]


@lru_cache(maxsize=1)
def digit_images(size=IMAGE_SIZE):
    """``(x, y)``: uint8 images (N, size, size, 3), light ink on dark like the source data, and labels."""
    d = load_digits()
    small = np.round(d.images * (255 / 16)).astype(np.uint8)
    x = np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR)) for im in small])
    x = np.repeat(x[..., None], 3, axis=-1)
    x.setflags(write=False)
    return x, d.target.astype(np.int64)


@lru_cache(maxsize=1)
def split_indices():
    """``(pool, test)``: indices of the labelled pool and of the fixed held-out test split."""
    _, y = digit_images()
    pool, test = train_test_split(np.arange(len(y)), test_size=N_TEST, stratify=y, random_state=SPLIT_SEED)
    return np.sort(pool), np.sort(test)


def max_labels_per_class():
    """The largest ``k`` every digit can supply from the pool."""
    _, y = digit_images()
    pool, _ = split_indices()
    return int(np.bincount(y[pool]).min())


def few_shot_indices(k, seed=0):
    """Indices of ``k`` training images per digit, drawn from the pool by ``seed`` (sorted)."""
    k = check_labels_per_class(k, max_labels_per_class(), "(the fewest any digit has in the pool)")
    seed = check_seed(seed)
    _, y = digit_images()
    pool, _ = split_indices()
    rng = np.random.default_rng(seed)
    picks = [rng.choice(pool[y[pool] == c], size=k, replace=False) for c in range(len(CLASSES))]
    return np.sort(np.concatenate(picks))


def default_batch_size(n_train, steps=6, lo=4, hi=16):
    """A batch size that gives a small training set about ``steps`` optimizer steps per epoch."""
    return max(lo, min(hi, n_train // steps))


def digits_dls(k, seed=0, bs=None, item_tfms=None, batch_tfms=None, normalize_stats=None):
    """fastai DataLoaders: ``k`` labelled digits per class to train on, the fixed test split to validate on.

    ``normalize_stats`` defaults to the shipped backbone's, so a from-scratch learner and a
    pretrained one see identical inputs. ``bs`` defaults to ``default_batch_size`` (so an epoch
    means several steps even with 1 label per class) and is clipped to the training set's size.
    """
    if bs is not None:
        check_positive_int(bs, "bs (the batch size)", "or None for a size that suits k")
    x, y = digit_images()
    train, (_, test) = few_shot_indices(k, seed), split_indices()
    items = np.concatenate([train, test])
    if normalize_stats is None:
        from .backbone import read_card
        normalize_stats = read_card()["normalize_stats"]
    block = DataBlock(
        blocks=(ImageBlock, CategoryBlock(vocab=CLASSES)),
        get_x=lambda i: PILImage.create(x[i]),
        get_y=lambda i: CLASSES[y[i]],
        splitter=IndexSplitter(np.arange(len(train), len(items))),
        item_tfms=item_tfms,
        batch_tfms=[*(batch_tfms or []), Normalize.from_stats(*normalize_stats)],
    )
    bs = default_batch_size(len(train)) if bs is None else bs
    return block.dataloaders(items, bs=min(bs, len(train)), val_bs=256, num_workers=0)
