"""Lesson 08 (a real ImageNet network): LFW faces as a real-photo target, frozen features computed once per
backbone, and the fitted probe on them at any number of labels per class (the widget's cheap comparison)."""
from functools import lru_cache

import numpy as np
import torch
from fastai.vision.all import (CategoryBlock, DataBlock, IndexSplitter, IntToFloatTensor, TensorImage,
                               TransformBlock, create_body, model_meta)

from .. import lab  # noqa: F401  (the strategy lab, for the lesson: lab = l08.lab)
from ..config import check_labels_per_class, check_positive_int, check_seed
from ..data import default_batch_size
from ..measure import fit_linear_probe

FACE_CLASSES = ["face", "not face"]
N_FACES_TEST, N_FACES_VALID = 60, 40   # fixed, stratified: half faces, half not
FACES_SPLIT_SEED = 0
FACES_SOURCE = ("scikit-image's skimage.data.lfw_subset(): 100 face crops and 100 non-face crops (25x25 gray) from "
                "Labeled Faces in the Wild (Huang et al. 2007, UMass Amherst; published for research, no explicit "
                "licence); scikit-image itself is BSD-3-Clause")


@lru_cache(maxsize=4)
def _faces(size):
    import skimage.data
    from PIL import Image
    gray = skimage.data.lfw_subset()                      # float in [0, 1], (200, 25, 25): 100 faces, then 100 not
    x = np.stack([np.asarray(Image.fromarray(np.uint8(np.round(g * 255))).resize((size, size), Image.BILINEAR))
                  for g in gray])
    x = np.repeat(x[..., None], 3, axis=-1)               # RGB, as both backbones take
    y = np.repeat(np.arange(2), len(gray) // 2)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def face_images(size=32):
    """``(x, y)``: the 200 LFW crops as uint8 ``(200, size, size, 3)`` (upsampled, gray in RGB) and labels
    (0 face, 1 not face)."""
    return _faces(check_positive_int(size, "size (pixels)", "e.g. 32"))


@lru_cache(maxsize=1)
def face_splits():
    """``(pool, valid, test)`` index arrays: fixed stratified validation and test splits, the rest the pool that
    training draws come from."""
    _, y = face_images()
    rng = np.random.default_rng(FACES_SPLIT_SEED)
    parts = [[], [], []]
    for c in range(len(FACE_CLASSES)):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test, n_valid = N_FACES_TEST // 2, N_FACES_VALID // 2
        parts[2].append(idx[:n_test])
        parts[1].append(idx[n_test:n_test + n_valid])
        parts[0].append(idx[n_test + n_valid:])
    return tuple(np.sort(np.concatenate(p)) for p in parts)


def max_faces_per_class():
    """The largest ``k`` both classes can supply from the pool."""
    pool = face_splits()[0]
    return int(min(np.sum(face_images()[1][pool] == c) for c in range(len(FACE_CLASSES))))


def face_few_shot(k, seed=0):
    """Indices of ``k`` training crops per class, drawn from the pool by ``seed`` (sorted)."""
    k = check_labels_per_class(k, max_faces_per_class(), where="(the pool of each class)")
    rng, (pool, y) = np.random.default_rng(check_seed(seed)), (face_splits()[0], face_images()[1])
    return np.sort(np.concatenate([rng.choice(pool[y[pool] == c], size=k, replace=False)
                                   for c in range(len(FACE_CLASSES))]))


def faces_dls(k, seed=0, size=32, bs=None):
    """fastai DataLoaders like ``cu.digits_dls``: ``k`` crops per class to train on, the fixed validation split as
    ``valid``, the test split in ``dls.test_items``. No normalisation: ``vision_learner`` adds the backbone's."""
    x, y = face_images(size)
    train, valid = face_few_shot(k, seed), face_splits()[1]
    items = np.concatenate([train, valid])
    pixels = torch.tensor(np.asarray(x)).permute(0, 3, 1, 2)   # a copy: the cached array is read-only
    block = DataBlock(blocks=(TransformBlock(batch_tfms=IntToFloatTensor), CategoryBlock(vocab=FACE_CLASSES)),
                      get_x=lambda i: TensorImage(pixels[i]), get_y=lambda i: FACE_CLASSES[y[i]],
                      splitter=IndexSplitter(np.arange(len(train), len(items))))
    bs = default_batch_size(len(train)) if bs is None else check_positive_int(bs, "bs (the batch size)")
    dls = block.dataloaders(items, bs=min(bs, len(train)), val_bs=256, num_workers=0)
    dls.test_items = face_splits()[2]
    return dls


# ---- frozen features, once per backbone, and the fitted probe on them -------------------------------------

def pooled_features(arch, images, bs=256):
    """``(N, C)`` float32: uint8 ``(N, H, W, 3)`` images through ``arch``'s pretrained body (fastai's ``create_body``
    with the arch's cut), normalised with its stats, average-pooled. Computed once, reused for every probe."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images of shape (N, H, W, 3), got {images.dtype} {images.shape}")
    meta = model_meta[arch]
    body = create_body(arch(pretrained=True), cut=meta["cut"]).eval()
    mean, std = (torch.tensor(s, dtype=torch.float32).view(1, 3, 1, 1) for s in meta["stats"])
    x = torch.tensor(images).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        out = [body((x[i:i + bs] - mean) / std).mean((2, 3)) for i in range(0, len(x), bs)]
    return torch.cat(out).numpy()


def probe_accuracy(features, labels, train, valid, test):
    """Test accuracy of the course's probe (``cu.fit_linear_probe``: C chosen on ``valid``) fitted on ``train``."""
    f, y = np.asarray(features), np.asarray(labels)
    probe = fit_linear_probe(f[train], y[train], f[valid], y[valid])
    return float(probe.score(f[test], y[test]))


class ProbeBench:
    """Frozen features of one target for several backbones, computed once; ``accuracy(name, k, seeds)`` fits a
    probe per seed on ``draw(k, seed)`` and scores the fixed test split."""

    def __init__(self, archs, images, labels, splits, draw):
        self.labels, (_, self.valid, self.test), self.draw = np.asarray(labels), splits, draw
        self.features = {name: pooled_features(arch, images) for name, arch in archs.items()}

    def accuracy(self, name, k, seeds):
        """``[test accuracy per seed]`` of ``name``'s probe with ``k`` labels per class."""
        if name not in self.features:
            raise ValueError(f"unknown backbone {name!r}; choose from {list(self.features)}")
        return [probe_accuracy(self.features[name], self.labels, self.draw(k, s), self.valid, self.test)
                for s in seeds]
