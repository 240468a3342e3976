"""Plumbing for lesson 02 (feature extraction): body features, few-shot bookkeeping, cheap runs.

The technique itself (a body-only learner and ``get_preds``, a linear probe, a frozen head,
``fine_tune``) is written out in the notebook; this module keeps what later lessons reuse:

- ``pretrained_model``: the whole pretrained network for any tier's arch, as ``vision_learner`` loads it;
- ``body_features``: the notebook's extraction recipe, packaged (d2l style);
- ``tensor_dls``: fastai ``DataLoaders`` over features already extracted (train a head without the body);
- ``avg_pool``: global average pooling of body feature maps, as the source classifier did;
- ``NoValidation``: a callback that skips fastai's per-epoch validation (validate once at the end);
- ``check_labels_per_class`` / ``tier_max_labels_per_class``: one clear ValueError for a bad ``k``;
- ``few_shot_table`` and ``crossings``: mean ± sd per strategy and ``k``, and where curves cross.
"""
import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback, CancelValidException
from fastai.data.core import DataLoaders, TfmdDL
from fastai.learner import Learner
from fastai.torch_core import default_device, noop
from fastai.vision.learner import model_meta

from .config import get_mode
from .validate import is_whole_number

RESULT_COLUMNS = ["strategy", "labels_per_class", "seed", "accuracy"]


def check_labels_per_class(k, k_max, k_min=1):
    """Return ``k`` as an int if it is a whole number with ``k_min <= k <= k_max``; else one ValueError.

    Called before any data is built, so a bad ``k`` never reaches fastai (whose own error would
    come from deep inside a DataBlock). Same wording as ``course_utils.validate``.
    """
    if not is_whole_number(k) or not k_min <= k <= k_max:
        where = " (the fewest labelled images any class has)" if is_whole_number(k) and k > k_max else ""
        raise ValueError(f"labels per class must be a whole number with {k_min} <= k <= {k_max}{where}, got {k!r}")
    return int(k)


def tier_max_labels_per_class():
    """The largest ``k`` every class can supply in the current tier's training pool.

    Quick tier: computed from the digits pool. Full tier (Pets): computed from the downloaded
    file names with the same fixed split ``pets_dls`` uses.
    """
    if get_mode() == "full":
        from fastai.data.transforms import get_image_files
        from .folders import make_splitter
        from .full_tier import PETS_SPLIT_SEED, breed_of, pets_path
        files = get_image_files(pets_path())
        train, _ = make_splitter(0.2, PETS_SPLIT_SEED, breed_of)(files)
        return int(pd.Series([breed_of(files[i]) for i in train]).value_counts().min())
    from .digits import max_labels_per_class
    return max_labels_per_class()


class NoValidation(Callback):
    """Skip fastai's validation pass after every epoch (call ``learn.validate()`` once at the end).

    Validation changes no weights, so this only saves time when many short runs are compared.
    One side effect: PyTorch draws a seed from the global generator whenever a DataLoader is
    iterated, so skipping validation shifts the random numbers later epochs use (dropout,
    shuffling). A run with ``NoValidation`` is therefore a valid run of its seed, but not
    bit-identical to the same seed with per-epoch validation: use it for every run you compare.
    """

    def before_validate(self):
        raise CancelValidException()


def pretrained_model(arch):
    """The whole pretrained network (source classifier included), loaded the way ``vision_learner`` does.

    torchvision architectures that fastai knows take ``weights=`` (ImageNet weights, full tier);
    the course's ``mini_resnet`` takes ``pretrained=True`` (the shipped, checksum-verified file).
    Cut it with ``create_body(pretrained_model(arch), cut=model_meta[arch]["cut"])``.
    """
    meta = model_meta.get(arch)
    if meta is None:
        raise ValueError(f"{getattr(arch, '__name__', arch)!r} is not registered in fastai's model_meta; "
                         f"use tier_arch() (or import course_utils.backbone to register mini_resnet)")
    return arch(weights=meta["weights"]) if "weights" in meta else arch(pretrained=True)


def tensor_dls(train_x, train_y, valid_x, valid_y, bs, val_bs=256):
    """fastai ``DataLoaders`` over tensors (e.g. body feature maps and labels), to train a head alone.

    The training loader shuffles and drops the last partial batch, like an image ``DataLoaders``
    with the same ``bs``; ``bs`` is clipped to the training set's size.
    """
    tx, ty, vx, vy = (torch.as_tensor(a) for a in (train_x, train_y, valid_x, valid_y))
    if len(tx) != len(ty) or len(vx) != len(vy):
        raise ValueError(f"features and labels differ in length: train {len(tx)} vs {len(ty)}, "
                         f"valid {len(vx)} vs {len(vy)}")
    if len(tx) == 0 or len(vx) == 0:
        raise ValueError("tensor_dls needs at least one training and one validation example")
    if isinstance(bs, bool) or not isinstance(bs, (int, np.integer)) or bs < 1:
        raise ValueError(f"bs must be a positive whole number, got {bs!r}")
    train = list(zip(tx, ty.long()))
    valid = list(zip(vx, vy.long()))
    device = default_device()
    return DataLoaders(TfmdDL(train, bs=min(int(bs), len(train)), shuffle=True, drop_last=True, device=device),
                       TfmdDL(valid, bs=val_bs, device=device), device=device)


def _as_numpy(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def avg_pool(maps):
    """Global average pooling: feature maps ``(N, C, H, W)`` -> features ``(N, C)`` (numpy float32).

    Features that are already ``(N, C)`` are returned unchanged (as numpy).
    """
    a = _as_numpy(maps)
    if a.ndim == 4:
        return a.mean(axis=(2, 3)).astype(np.float32)
    if a.ndim == 2:
        return a.astype(np.float32)
    raise ValueError(f"expected body feature maps (N, C, H, W) or features (N, C), got an array of shape {a.shape}")


def body_features(body, dls, items=None, pool=True):
    """The notebook's recipe: run ``items`` through a body-only fastai ``Learner`` with ``get_preds``.

    ``items`` default to the validation set's items; they go through ``dls.test_dl`` (validation
    transforms, no shuffling, labels kept). Returns ``(features, labels)`` as numpy arrays:
    ``(N, C)`` after global average pooling, or the raw ``(N, C, H, W)`` maps with ``pool=False``.
    The body runs in eval mode (BatchNorm uses its running statistics), so nothing in it changes.
    """
    if items is None:
        items = dls.valid_ds.items
    if len(items) == 0:
        raise ValueError("body_features needs at least one item to run through the body")
    learn = Learner(dls, body, loss_func=noop)   # a body has no loss; get_preds still calls one
    with learn.no_bar():
        maps, labels = learn.get_preds(dl=dls.test_dl(items, with_labels=True), act=noop)
    feats = avg_pool(maps) if pool else _as_numpy(maps)
    return feats, _as_numpy(labels).astype(np.int64)


def few_shot_table(rows):
    """Mean ± sd over seeds for each strategy and ``k``.

    ``rows``: an iterable of ``(strategy, labels_per_class, seed, accuracy)`` (or a DataFrame with
    those columns). Returns a DataFrame indexed by ``(strategy, labels_per_class)`` with columns
    ``mean``, ``sd`` (sample sd, 0 for one seed) and ``n`` (seeds), strategies in first-seen order.
    """
    if isinstance(rows, pd.DataFrame):
        df = rows.copy()
    else:
        rows = list(rows)
        bad = [r for r in rows if not isinstance(r, (tuple, list)) or len(r) != len(RESULT_COLUMNS)]
        if bad:
            raise ValueError(f"few_shot_table needs rows of {len(RESULT_COLUMNS)} values {tuple(RESULT_COLUMNS)}, "
                             f"got {bad[0]!r}")
        df = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    missing = [c for c in RESULT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"few_shot_table needs columns {RESULT_COLUMNS}; missing {missing}")
    if df.empty:
        raise ValueError("few_shot_table needs at least one result")
    order = list(dict.fromkeys(df["strategy"]))
    g = df.groupby(["strategy", "labels_per_class"], sort=False)["accuracy"]
    table = pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1).fillna(0.0), "n": g.size()})
    table = table.reset_index()
    table["strategy"] = pd.Categorical(table["strategy"], categories=order, ordered=True)
    return table.sort_values(["strategy", "labels_per_class"]).set_index(["strategy", "labels_per_class"])


def crossings(table, a, b):
    """Where the mean curves of strategies ``a`` and ``b`` change order, as a list of ``(k_lo, k_hi)``.

    Each pair means: at ``k_lo`` one strategy is ahead, at the next measured ``k_hi`` the other
    is (ties count as no change). An empty list means one strategy is never behind the other.
    """
    names = list(table.index.get_level_values("strategy").unique())
    for s in (a, b):
        if s not in names:
            raise ValueError(f"unknown strategy {s!r}; the table has {names}")
    ma, mb = table.loc[a]["mean"], table.loc[b]["mean"]
    ks = sorted(set(ma.index) & set(mb.index))
    if len(ks) < 2:
        raise ValueError(f"{a!r} and {b!r} share fewer than two values of labels per class; nothing to compare")
    sign = [np.sign(round(ma[k] - mb[k], 12)) for k in ks]
    out, last = [], None
    for i, s in enumerate(sign):
        if s == 0:
            continue
        if last is not None and s != sign[last]:
            out.append((int(ks[last]), int(ks[i])))
        last = i
    return out
