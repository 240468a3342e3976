"""Measures of what fine-tuning did to the pretrained network: forgetting and weight drift.

* **Forgetting** (quick tier only): put the pretrained source classifier back on a fine-tuned
  body (``backbone.source_classifier``) and measure how well it still reads printed characters,
  on held-out source images rendered with a seed pretraining never used.
* **Weight drift**: for each fastai layer group, ``||w - w_start|| / ||w_start||`` over the
  group's parameters, where ``w_start`` is a snapshot taken before training (the pretrained
  weights for the body; the freshly initialised head for the head).
"""
from functools import lru_cache

import torch

HELDOUT_SEED = 20_000
HELDOUT_PER_CLASS = 10


@lru_cache(maxsize=4)
def _heldout(n_per_class, seed):
    from .backbone import read_card
    from .pretrain import to_tensor
    from .source_data import make_source_data

    card = read_card()
    used = {card.get("seed"), card.get("heldout_seed")}
    if seed in used:
        raise ValueError(f"seed {seed} was used to build the backbone's own training or held-out data "
                         f"(seeds {sorted(s for s in used if s is not None)}); pick another, e.g. {HELDOUT_SEED}")
    x, y = make_source_data(n_per_class, seed=seed)
    return to_tensor(x, card["normalize_stats"]), torch.from_numpy(y).long()


def heldout_source_data(n_per_class=HELDOUT_PER_CLASS, seed=HELDOUT_SEED):
    """``(x, y)``: printed characters the backbone never saw, normalised with the model card's stats.

    ``n_per_class`` images of each of the 36 characters (360 by default), rendered with ``seed``.
    """
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, int) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive whole number, got {n_per_class!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative whole number, got {seed!r}")
    return _heldout(n_per_class, seed)


def classifier_accuracy(model, x, y, batch_size=512):
    """Accuracy of ``model`` (put in eval mode) on tensors ``x``, ``y``."""
    if len(x) != len(y) or len(y) == 0:
        raise ValueError(f"x and y must be non-empty and the same length, got {len(x)} and {len(y)}")
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        hits = sum((model(x[i:i + batch_size].to(device)).argmax(1).cpu() == y[i:i + batch_size]).sum().item()
                   for i in range(0, len(y), batch_size))
    return hits / len(y)


def source_accuracy(body=None, data=None):
    """Source-task accuracy with ``body`` (e.g. ``learn.model[0]``) under the pretrained source classifier.

    ``body=None`` measures the shipped pretrained network: the score before any fine-tuning.
    ``data`` is ``(x, y)`` (default: ``heldout_source_data()``). The body is copied, not changed.
    """
    from .backbone import source_classifier

    x, y = heldout_source_data() if data is None else data
    return classifier_accuracy(source_classifier(body), x, y)


def group_params(learn):
    """The parameters of each layer group, as fastai's splitter makes them."""
    return [list(g) for g in learn.splitter(learn.model)]


def snapshot_groups(learn):
    """A detached copy of every group's parameters, to measure drift against later."""
    return [[p.detach().cpu().clone() for p in g] for g in group_params(learn)]


def relative_distance(now, before):
    """``||now - before|| / ||before||`` over lists of tensors (one flattened vector each)."""
    now, before = list(now), list(before)
    if len(now) != len(before) or not before:
        raise ValueError(f"need two equally long, non-empty lists of tensors, got {len(now)} and {len(before)}")
    for a, b in zip(now, before):
        if a.shape != b.shape:
            raise ValueError(f"tensor shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    diff = sum(((a.detach().cpu().float() - b.float()) ** 2).sum() for a, b in zip(now, before))
    norm = sum((b.float() ** 2).sum() for b in before)
    if norm == 0:
        raise ValueError("the reference weights are all zero: relative distance is undefined")
    return float((diff / norm).sqrt())


def weight_drift(learn, snapshot):
    """One relative distance per layer group between ``learn``'s weights now and ``snapshot``."""
    groups = group_params(learn)
    if len(groups) != len(snapshot):
        raise ValueError(f"the snapshot has {len(snapshot)} layer groups but the learner has {len(groups)}: "
                         "take the snapshot from the same learner, before training")
    return [relative_distance(g, s) for g, s in zip(groups, snapshot)]
