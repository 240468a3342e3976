"""Lesson 10 (trust and ship): imbalanced few-shot draws, per-class scores, calibration, a weights-only route,
an export with a version card, and the imbalance widget. The remedies themselves stay fastai calls in the notebook."""
import json
import os
import stat
import tempfile
import warnings
from pathlib import Path

import fastai
import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback
from fastai.learner import Recorder, load_learner
from fastai.vision.all import (CategoryBlock, DataBlock, IndexSplitter, IntToFloatTensor, Normalize, TensorImage,
                               TransformBlock)
from PIL import Image
from sklearn.metrics import f1_score, recall_score
from torch import nn

from ..backbone import read_card
from ..config import check_seed
from ..data import CLASSES, IMAGE_SIZE, default_batch_size, digit_images, digit_tensors, split_indices
from ..plots import finish_axes
from ..widgets import RunWidget

MINORITY = (1, 3, 5, 7, 9)   # the digits that get fewer labels in the imbalanced draws


# ---- data: any list of training indices, with module-level (picklable) functions ----------------

def digit_x(item):
    """A digit as fastai's image tensor: an index into the digits, or a new image (PIL, or uint8 array HxW / HxWx3)."""
    if isinstance(item, (int, np.integer)):
        return TensorImage(digit_tensors()[int(item)])
    img = item if isinstance(item, Image.Image) else Image.fromarray(np.asarray(item, dtype=np.uint8))
    a = np.asarray(img.convert("L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR))
    return TensorImage(torch.from_numpy(np.repeat(a[None], 3, axis=0).copy()))


def digit_label(i):
    """The class name of digit ``i``."""
    return CLASSES[digit_images()[1][int(i)]]


def index_dls(train_idx, bs=None, wgts=None):
    """DataLoaders on the given training indices, the fixed validation split as ``valid``, the test split in
    ``test_items``; ``wgts`` (one per training item) gives fastai's weighted (oversampling) DataLoader."""
    train_idx = np.asarray(train_idx, dtype=np.int64)
    valid = split_indices()[1]
    items = [int(i) for i in np.concatenate([train_idx, valid])]   # a list: fastai's L wraps an array as one item
    block = DataBlock(blocks=(TransformBlock(batch_tfms=IntToFloatTensor), CategoryBlock(vocab=CLASSES)),
                      get_x=digit_x, get_y=digit_label, splitter=IndexSplitter(np.arange(len(train_idx), len(items))),
                      batch_tfms=Normalize.from_stats(*read_card()["normalize_stats"]))
    bs = min(default_batch_size(len(train_idx)) if bs is None else bs, len(train_idx))
    kw = dict(bs=bs, val_bs=256, num_workers=0)
    if wgts is None:
        dls = block.dataloaders(items, **kw)
    else:
        w = np.asarray(wgts, dtype=float)
        if w.shape != (len(train_idx),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"wgts must hold one non-negative weight per training item ({len(train_idx)}), not all 0")
        dls = block.weighted_dataloaders(items, wgts=np.concatenate([w, np.zeros(len(valid))]), **kw)
    dls.test_items = [int(i) for i in split_indices()[2]]
    return dls


def check_ratio(ratio):
    """``ratio`` as a float when it is in (0, 1], else one ValueError."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float, np.integer, np.floating)) \
            or not np.isfinite(ratio) or not 0 < ratio <= 1:
        raise ValueError(f"the imbalance ratio must be a number in (0, 1] (minority labels / majority labels; "
                         f"1 = balanced), got {ratio!r}")
    return float(ratio)


def imbalanced_indices(k, ratio, seed=0, minority=MINORITY):
    """Training indices: ``k`` labels for most digits, ``max(1, round(ratio * k))`` for the ``minority`` digits."""
    ratio, seed = check_ratio(ratio), check_seed(seed)
    _, y = digit_images()
    pool = split_indices()[0]
    rng = np.random.default_rng(seed)
    n_min = max(1, round(ratio * k))
    picks = [rng.choice(pool[y[pool] == c], size=n_min if c in minority else k, replace=False)
             for c in range(len(CLASSES))]
    return np.sort(np.concatenate(picks))


def class_counts(idx):
    """How many of the indices ``idx`` belong to each digit."""
    return np.bincount(digit_images()[1][np.asarray(idx, dtype=np.int64)], minlength=len(CLASSES))


def check_class_weights(weights, n_classes=len(CLASSES)):
    """``weights`` as a float tensor when there is one finite, non-negative weight per class (not all 0)."""
    try:
        w = torch.as_tensor(np.asarray(weights, dtype=float), dtype=torch.float32)
    except (TypeError, ValueError):
        raise ValueError(f"class weights must be a list of numbers, one per class, got {weights!r}") from None
    if w.ndim != 1 or len(w) != n_classes:
        raise ValueError(f"class weights need one number per class: {n_classes} classes, got {tuple(w.shape)}")
    if not torch.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("class weights must be finite and non-negative, and not all 0 (a weight scales a class's loss)")
    return w


def balanced_weights(counts):
    """Inverse-frequency class weights ``N / (C * n_c)`` (scikit-learn's "balanced"): mean 1 over the classes' items."""
    c = np.asarray(counts, dtype=float)
    if c.ndim != 1 or len(c) < 2 or (c <= 0).any():
        raise ValueError(f"counts must hold a positive number of training items for each class, got {counts!r}")
    return check_class_weights(c.sum() / (len(c) * c), len(c))


# ---- scores --------------------------------------------------------------------------------

def prior_corrected(probs, counts):
    """Probabilities re-weighted from the training draw's class frequencies to equal ones (divide, renormalise)."""
    prior = torch.as_tensor(np.asarray(counts, dtype=float) / np.sum(counts), dtype=probs.dtype)
    p = probs / prior
    return p / p.sum(1, keepdim=True)


def class_scores(probs, targs):
    """``{"accuracy", "macro_f1", "recall": [per class]}`` of argmax predictions."""
    pred, t = np.asarray(probs).argmax(1), np.asarray(targs)
    labels = list(range(np.asarray(probs).shape[1]))
    return {"accuracy": float((pred == t).mean()),
            "macro_f1": float(f1_score(t, pred, average="macro", labels=labels, zero_division=0)),
            "recall": recall_score(t, pred, average=None, labels=labels, zero_division=0).astype(float).tolist()}


def reliability(probs, targs, n_bins=10):
    """``(ece, table)``: expected calibration error over ``n_bins`` equal-width confidence bins, and per bin
    its count, mean confidence and accuracy (Guo et al. 2017)."""
    p = torch.as_tensor(probs)
    conf, pred = p.max(1)
    right = (pred == torch.as_tensor(targs)).float()
    bins = torch.clamp((conf * n_bins).long(), max=n_bins - 1)
    rows = []
    for b in range(n_bins):
        m = bins == b
        if m.any():
            rows.append({"bin": f"{b / n_bins:.1f}-{(b + 1) / n_bins:.1f}", "count": int(m.sum()),
                         "confidence": float(conf[m].mean()), "accuracy": float(right[m].mean())})
    table = pd.DataFrame(rows)
    ece = float((table["count"] * (table["confidence"] - table["accuracy"]).abs()).sum() / len(conf))
    return ece, table


def plot_reliability(tables, ax=None, title="reliability diagram"):
    """Accuracy against confidence per bin, one line per ``{label: table}``; the diagonal is perfect calibration."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfectly calibrated")
    for label, t in tables.items():
        ax.plot(t["confidence"], t["accuracy"], marker="o", label=label)
    return finish_axes(ax, "mean confidence in the bin", "accuracy in the bin", title, legend={"fontsize": 8})


def plot_recalls(scores, minority=MINORITY, ax=None, title=None):
    """Per-class recall, one group of bars per digit, one bar per remedy (``{remedy: class_scores}``); minority digits *."""
    if not scores:
        raise ValueError("plot_recalls needs {remedy: scores with 'recall' and 'macro_f1'} for at least one remedy")
    if ax is None:
        _, ax = plt.subplots(figsize=(8.5, 3))
    n, width = len(scores), 0.8 / len(scores)
    for i, (name, s) in enumerate(scores.items()):
        x = np.arange(len(s["recall"])) + (i - (n - 1) / 2) * width
        ax.bar(x, s["recall"], width, label=f"{name} (macro F1 {s['macro_f1']:.2f})")
    ax.set_xticks(range(len(CLASSES)), [c + ("*" if int(c) in minority else "") for c in CLASSES])
    ax.set_ylim(0, 1.05)
    return finish_axes(ax, "digit (* = fewer labels)", "recall", title,
                       legend={"fontsize": 7, "loc": "upper left", "bbox_to_anchor": (1.01, 1.0)})


class AllBatchNormEval(Callback):
    """Every BatchNorm layer (body and head) in inference mode while training, so a batch's statistics do not
    depend on how it is split: what makes gradient accumulation exactly a larger batch."""

    order = Recorder.order + 1

    def before_train(self):
        for m in self.learn.model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


# ---- shipping: export with a version card, loading checked against it --------------------------

def export_learner(learn, folder, name="digits.pkl"):
    """``learn.export`` into ``folder`` plus a card (``name``.json: fastai and torch versions, classes); writes
    to a temporary file first, so an existing export is replaced whole or not at all. Returns the path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise OSError(f"cannot export to {folder}: it is not an existing folder (create it first)")
    if not os.access(folder, os.W_OK) or not folder.stat().st_mode & stat.S_IWUSR:
        raise OSError(f"cannot export to {folder}: the folder is read-only; pick a folder you can write to")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".pkl", dir=folder)
    except OSError as e:
        raise OSError(f"cannot export to {folder}: {e.strerror}; pick a folder you can write to") from None
    os.close(fd)
    old_path = learn.path
    try:
        learn.path = folder
        learn.export(Path(tmp).name)
        os.replace(tmp, folder / name)
    finally:
        learn.path = old_path
        if os.path.exists(tmp):
            os.remove(tmp)
    card = {"fastai": fastai.__version__, "torch": torch.__version__.split("+")[0], "classes": list(learn.dls.vocab)}
    (folder / f"{name}.json").write_text(json.dumps(card, indent=1))
    return folder / name


def load_export(path):
    """``load_learner(path)`` after checking its card: made by this fastai version. Only load files you trust:
    a pickle runs code when it is loaded."""
    path = Path(path)
    card_file = path.with_name(path.name + ".json")
    if not path.is_file() or not card_file.is_file():
        raise FileNotFoundError(f"{path.name} or its card {card_file.name} is missing: export with export_learner")
    card = json.loads(card_file.read_text())
    if card.get("fastai") != fastai.__version__:
        raise ValueError(f"{path.name} was exported with fastai {card.get('fastai')}, this is fastai "
                         f"{fastai.__version__}: load it with that version, or rebuild the learner here and load "
                         f"its weights (learn.load), which needs no pickle")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        learn = load_learner(path)
    learn.load_warnings = [str(w.message) for w in caught]
    return learn


# ---- the widget -----------------------------------------------------------------------------

class ImbalanceExplorer(RunWidget):
    """An imbalance-ratio slider and a Run button: per-class recall and macro F1 under each remedy."""

    def __init__(self, train_fn, ratio=0.2, minority=MINORITY):
        if not callable(train_fn):
            raise ValueError("train_fn(ratio) -> {remedy: class_scores(...)} must be a function")
        self.train_fn, self.minority = train_fn, tuple(minority)
        self.slider = W.FloatSlider(value=check_ratio(ratio), min=0.1, max=1.0, step=0.1, description="minority/majority",
                                    continuous_update=False, style={"description_width": "initial"})
        self._controls("Run", "Pick how many labels the odd digits get (a fraction of the others'), then press Run.")
        self.rows, self.last = [], None
        self.button.on_click(lambda _: self.run())
        self.box = W.VBox([W.HBox([self.slider, self.button]), self.status, self.out])

    @property
    def results(self):
        return pd.DataFrame(self.rows, columns=["ratio", "remedy", "macro F1", "minority recall", "majority recall"])

    def run(self, ratio=None):
        """Train every remedy at ``ratio`` (default: the slider's); returns ``{remedy: scores}``."""
        try:
            ratio = check_ratio(self.slider.value if ratio is None else ratio)
        except ValueError as e:
            self._fail(str(e))
        scores, secs = self._train(f"Training every remedy at ratio {ratio:.2f}...", self.train_fn, ratio)
        self.last = scores
        for name, s in scores.items():
            rec = np.asarray(s["recall"])
            mask = np.isin(np.arange(len(rec)), self.minority)
            self.rows.append((round(ratio, 2), name, round(s["macro_f1"], 3), round(float(rec[mask].mean()), 3),
                              round(float(rec[~mask].mean()), 3)))
        self.status.value = f"ratio {ratio:.2f}: done in {secs:.0f}s"
        self._show(self.results, self.plot(scores).figure)   # every run so far: compare ratios
        return scores

    def plot(self, scores, ax=None):
        """``plot_recalls`` of one run's scores."""
        return plot_recalls(scores, self.minority, ax)
