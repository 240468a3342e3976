"""Run strategies side by side: same data, same epoch budget, same seeds; one tidy DataFrame out.

``compare_strategies`` trains every (strategy, seed, labels per class, augmentation) once, or
reads it back from the ``ResultCache``, and returns one row per epoch of every run:

    strategy, augment, labels_per_class, seed, epoch, train_loss, valid_loss, accuracy,
    wall_seconds (since the run started), trainable_params (during that epoch),
    source_accuracy (the source task after the run: forgetting; quick tier only, else NaN)

``data=None`` uses the tier's data (digits on the quick tier, Pets on the full tier); a path
uses an ImageFolder-style directory of your own images, validated first.
"""
import hashlib
import math
import random
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import fastai
import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback, CancelFitException
from fastai.data.core import DataLoaders, TfmdDL

from .config import get_mode
from .history import attach_history
from .layer_groups import trainable_params
from .result_cache import ResultCache
from .seeds import seed_everything
from .strategies import get_strategy, make_learner
from .validate import is_whole_number

COLUMNS = ["strategy", "augment", "labels_per_class", "seed", "epoch", "train_loss", "valid_loss", "accuracy",
           "wall_seconds", "trainable_params", "source_accuracy"]
RUN_KEYS = ["strategy", "augment", "labels_per_class", "seed"]
LAB_VERSION = 1   # bump when the way a run is trained or measured changes: every cached result recomputes


class LabStopped(Exception):
    """Raised inside a run when the lab's stop event is set; the run is discarded, finished runs are kept."""


class StopOnEvent(Callback):
    """Cancel the fit at the next batch once ``event`` is set (the lab's Stop button)."""

    def __init__(self, event):
        self.event = event

    def before_batch(self):
        if self.event.is_set():
            raise CancelFitException()


class EpochClock(Callback):
    """Per training epoch: seconds since the run started and how many parameters trained."""

    def __init__(self, start):
        self.start, self.rows = start, []

    def before_train(self):
        self._trained = True

    def after_epoch(self):
        if getattr(self, "_trained", False):      # skip learn.validate(), which runs no training phase
            self._trained = False
            self.rows.append({"wall_seconds": time.perf_counter() - self.start,
                              "trainable_params": trainable_params(self.learn)})


# ---- what a result depends on ---------------------------------------------------------------

def _sha(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
    return h.hexdigest()[:16]


@lru_cache(maxsize=1)
def _digits_fingerprint():
    from .digits import digit_images, split_indices
    x, y = digit_images()
    _, test = split_indices()
    return _sha(x.tobytes(), y.tobytes(), test.tobytes())


def folder_fingerprint(path):
    """A digest of a folder's image files: relative path, size and content (size and mtime above 200 MB)."""
    from fastai.data.transforms import get_image_files
    root = Path(path).expanduser()
    files = sorted(get_image_files(root))
    total = sum(f.stat().st_size for f in files)
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root)}|{st.st_size}".encode())
        h.update(f.read_bytes() if total <= 200e6 else str(st.st_mtime_ns).encode())
    return h.hexdigest()[:16]


def data_identity(data=None):
    """``{"data": ..., "fingerprint": ...}`` for the tier's data (``None``) or a folder path."""
    if data is None:
        if get_mode() == "full":
            return {"data": "pets", "fingerprint": "untar_data(URLs.PETS)"}
        return {"data": "digits", "fingerprint": _digits_fingerprint()}
    from .folders import validate_image_folder
    info = validate_image_folder(data)              # one clear error for a missing, empty or broken folder
    return {"data": "folder", "fingerprint": folder_fingerprint(data), "classes": info["classes"]}


def backbone_identity():
    """The backbone's checksum (quick tier, from the model card) or the torchvision weights' name (full tier)."""
    if get_mode() == "full":
        from .full_tier import full_arch
        return f"{full_arch().__name__}:IMAGENET1K"
    from .backbone import read_card
    return read_card()["sha256"]


def run_fields(strategy, seed, k, epochs, lr, augment, identity):
    """Everything that changes one run's result: the cache key's fields."""
    s = get_strategy(strategy)
    return {"strategy": s.name, "strategy_code": s.code_sha(), "pretrained": s.pretrained, "probe_head": s.probe_head,
            "seed": int(seed), "labels_per_class": None if k is None else int(k), "epochs": int(epochs),
            "lr": float(lr), "augment": bool(augment), **identity, "mode": get_mode(), "lab": LAB_VERSION,
            "backbone": backbone_identity(), "torch": torch.__version__, "fastai": fastai.__version__,
            "threads": torch.get_num_threads(), "device": "cuda" if torch.cuda.is_available() else "cpu"}


# ---- one run ----------------------------------------------------------------------------------

@contextmanager
def _random_state_kept():
    """Whatever runs inside leaves Python's, NumPy's and torch's global random generators as they were."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


@lru_cache(maxsize=1)
def _digits_valid_tensors(fingerprint):
    from .digits import digits_dls
    with _random_state_kept():   # building and iterating a DataLoader draws random numbers: a run must not
        dls = digits_dls(1, seed=0)    # depend on whether it is the kernel's first
        xs, ys = zip(*[(x.cpu(), y.cpu()) for x, y in dls.valid])
    return torch.cat(xs), torch.cat(ys)


def _fast_digits_valid(dls):
    """The fixed 500 test digits, decoded and normalised once per kernel instead of once per epoch."""
    x, y = _digits_valid_tensors(_digits_fingerprint())
    valid = TfmdDL(list(zip(x, y)), bs=256, device=dls.device)
    return DataLoaders(dls.train, valid, device=dls.device)


def _aug_tfms(data):
    if data is None and get_mode() == "quick":
        from .augmentation import digit_safe_tfms
        return digit_safe_tfms()
    from fastai.vision.augment import aug_transforms
    return aug_transforms()


def run_dls(k, seed, augment=False, data=None):
    """The DataLoaders one run trains on: the tier's data or a folder, with or without augmentation."""
    batch_tfms = _aug_tfms(data) if augment else None
    if data is None:
        from .tier import tier_dls
        dls = tier_dls(k, seed=seed, batch_tfms=batch_tfms)
        return _fast_digits_valid(dls) if get_mode() == "quick" else dls
    from .folders import folder_dls
    from .tier import tier_settings
    return folder_dls(data, k=k, seed=seed, size=tier_settings()["size"], batch_tfms=batch_tfms)


def train_run(strategy, seed, k, epochs, lr, augment=False, data=None, stop=None):
    """Train one run and return its rows (one dict per epoch). Raises ``LabStopped`` if ``stop`` was set."""
    from .tier import tier_arch
    strategy = get_strategy(strategy)
    start = time.perf_counter()
    seed_everything(seed)
    dls = run_dls(k, seed, augment, data)
    clock = EpochClock(start)
    cbs = [clock] + ([StopOnEvent(stop)] if stop is not None else [])
    learn = make_learner(strategy, dls, tier_arch(), cbs=cbs)
    history = attach_history(learn)
    with learn.no_bar(), learn.no_logging():
        strategy.train(learn, epochs, lr)
    if stop is not None and stop.is_set():
        raise LabStopped(f"stopped during {strategy.name}, seed {seed}")
    source = math.nan
    if get_mode() == "quick":
        from .forgetting import source_accuracy
        source = source_accuracy(learn.model[0])
    rows = []
    for h, c in zip(history.rows, clock.rows):
        rows.append({"strategy": strategy.name, "augment": bool(augment), "labels_per_class": k, "seed": int(seed),
                     "epoch": h["epoch"], "train_loss": h.get("train_loss", math.nan),
                     "valid_loss": h.get("valid_loss", math.nan), "accuracy": h.get("accuracy", math.nan),
                     "wall_seconds": c["wall_seconds"], "trainable_params": c["trainable_params"],
                     "source_accuracy": source})
    if rows:
        rows[-1]["wall_seconds"] = time.perf_counter() - start   # the whole run, forgetting measured included
    return rows


# ---- many runs --------------------------------------------------------------------------------

def _as_list(x, what):
    if isinstance(x, (str, bytes)) or not hasattr(x, "__iter__"):
        x = [x]
    x = list(x)
    if not x:
        raise ValueError(f"{what}: give at least one")
    return x


def check_budget(epochs, lr):
    if not is_whole_number(epochs) or not 1 <= epochs <= 100:
        raise ValueError(f"epochs must be a whole number from 1 to 100, got {epochs!r}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < 10 or not math.isfinite(lr):
        raise ValueError(f"lr must be a positive number below 10 (e.g. 1e-2), got {lr!r}")


def plan_runs(strategies, seeds, labels_per_class, augment):
    """Every (Strategy, seed, k, augment) to run, in the order they run."""
    strategies = [get_strategy(s) for s in _as_list(strategies, "strategies")]
    seeds = _as_list(seeds, "seeds")
    for s in seeds:
        if not is_whole_number(s) or s < 0:
            raise ValueError(f"seeds must be non-negative whole numbers, got {s!r}")
    ks = _as_list(labels_per_class, "labels_per_class")
    augs = [bool(a) for a in _as_list(augment, "augment")]
    return [(name, int(seed), k, aug) for aug in augs for k in ks for name in strategies for seed in seeds]


def compare_strategies(strategies, seeds, labels_per_class, epochs, lr=None, augment=False, data=None,
                       cache=None, stop=None, on_run=None):
    """Run (or read from the cache) every strategy x seed x labels per class x augmentation; a tidy DataFrame.

    ``strategies``: names from ``STRATEGIES`` (or ``Strategy`` objects); ``labels_per_class`` and
    ``augment`` may be one value or a list. ``lr`` defaults to the tier's. ``data``: None (the
    tier's data) or an image folder. ``cache``: a ``ResultCache``, a folder for one, or False to
    recompute without storing. ``stop``: a ``threading.Event``; when it is set the current run is
    abandoned and the frame of the runs finished so far comes back (``df.attrs["stopped"]``).
    ``on_run(i, n, rows, cached)`` is called after each run.
    """
    from .tier import tier_settings
    lr = tier_settings()["lr"] if lr is None else lr
    check_budget(epochs, lr)
    runs = plan_runs(strategies, seeds, labels_per_class, augment)
    identity = data_identity(data)
    store = None if cache is False else cache if isinstance(cache, ResultCache) else ResultCache(cache)
    rows, stopped = [], False
    for i, (strategy, seed, k, aug) in enumerate(runs):
        if stop is not None and stop.is_set():
            stopped = True
            break
        fields = run_fields(strategy, seed, k, epochs, lr, aug, identity)
        got = store.get(fields) if store is not None else None
        cached = got is not None
        if not cached:
            try:
                got = train_run(strategy, seed, k, epochs, lr, aug, data, stop)
            except LabStopped:
                stopped = True
                break
            if store is not None:
                store.put(fields, got)
        rows.extend(got)
        if on_run is not None:
            on_run(i + 1, len(runs), got, cached)
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.attrs["stopped"] = stopped
    return df


def final_epoch(df):
    """One row per run: its last epoch (final accuracy, total wall seconds, source accuracy)."""
    if df.empty:
        return df
    return df.sort_values("epoch").groupby(RUN_KEYS, sort=False, dropna=False).tail(1).sort_index()


def summary_table(df, by=("strategy",)):
    """Final accuracy and source accuracy, mean ± sd over seeds, and mean seconds per run, per strategy."""
    last = final_epoch(df)
    by = list(by)
    g = last.groupby(by, sort=False, dropna=False)
    out = pd.DataFrame({"accuracy": g["accuracy"].mean(), "accuracy_sd": g["accuracy"].std(ddof=1).fillna(0.0),
                        "source_accuracy": g["source_accuracy"].mean(), "seconds": g["wall_seconds"].mean(),
                        "trainable_params": g["trainable_params"].max(), "seeds": g.size()})
    return out
