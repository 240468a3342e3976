"""How the course measures a run: one epoch log, validation skipped bit-exactly, mean ± sd over seeds."""
import time

import numpy as np
import torch
from fastai.callback.core import Callback, CancelValidException
from fastai.vision.augment import RandTransform
from fastai.learner import Recorder

from .groups import count_trainable


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()   # queued GPU work belongs to the epoch that queued it


class EpochLog(Callback):
    """One dict per training epoch in ``rows``, across every fit (fastai's Recorder resets at each fit): the
    recorder's losses and metrics, ``frozen_groups``, ``trainable_params``, ``train_seconds``, ``wall_seconds``."""

    order = Recorder.order + 1

    def __init__(self, start=None):
        self.start = time.perf_counter() if start is None else start
        self.rows = []
        self._train_s = None

    def before_train(self):
        _sync()
        self._t0 = time.perf_counter()

    def after_train(self):
        _sync()
        self._train_s = time.perf_counter() - self._t0

    def after_epoch(self):
        if self._train_s is None:
            return
        names = [n for n in self.recorder.metric_names[1:] if n != "time"]
        values = self.recorder.values[-1] if self.recorder.values else []
        self.rows.append({"epoch": len(self.rows) + 1, **dict(zip(names, (float(v) for v in values))),
                          "frozen_groups": getattr(self.opt, "frozen_idx", 0),
                          "trainable_params": count_trainable(self.learn), "train_seconds": self._train_s,
                          "wall_seconds": time.perf_counter() - self.start})
        self._train_s = None

    def column(self, name):
        """One value per logged epoch (NaN where an epoch has none, e.g. accuracy of a skipped validation)."""
        return [row.get(name, float("nan")) for row in self.rows]

    @property
    def median_train_seconds(self):
        """The median training-phase time, the robust summary on a machine that other programs share."""
        if not self.rows:
            raise ValueError("no epoch logged yet: pass the log to fit, e.g. learn.fit(3, cbs=log)")
        return float(np.median(self.column("train_seconds")))


def attach_epoch_log(learn, start=None):
    """Add an ``EpochLog`` to ``learn`` (once: an existing one is returned) and return it."""
    existing = [cb for cb in learn.cbs if isinstance(cb, EpochLog)]
    if existing:
        return existing[0]
    log = EpochLog(start)
    learn.add_cb(log)
    return log


class SkipValidation(Callback):
    """Skip the validation pass after every training epoch; ``learn.validate()`` still works. Bit-exact: the
    callback draws what the skipped DataLoader pass would have drawn (``tests/test_core.py`` checks it).
    The recorder logs no validation numbers for skipped epochs, so train with ``learn.no_logging()``."""

    order = Recorder.order - 1  # before the recorder and the progress bar see the validation start

    def before_epoch(self):
        self.after_training = False

    def after_train(self):
        self.after_training = True  # a fit's epoch; learn.validate() runs no training phase

    def before_validate(self):
        if getattr(self, "after_training", False):
            self.after_training = False
            if any(isinstance(t, RandTransform) for t in (*self.dl.after_item.fs, *self.dl.after_batch.fs)):
                for _ in self.dl:  # random transforms (augmentation) draw on the valid set too: make every draw
                    pass
            else:
                torch.empty((), dtype=torch.int64).random_()  # what the skipped DataLoader pass would draw
            raise CancelValidException


def mean_spread(values):
    """``(mean, sd)`` over seeds; sd is the sample standard deviation (0 for one seed)."""
    try:
        v = np.asarray(list(values), dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"mean_spread needs a list of numbers (one result per seed), got {values!r}") from None
    if v.ndim != 1:
        raise ValueError(f"mean_spread needs a flat list of numbers (one result per seed), got shape {v.shape}")
    if v.size == 0:
        raise ValueError("mean_spread needs at least one value (one result per seed)")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def fmt_mean_spread(values, digits=3):
    """``"0.932 ± 0.014"``: mean ± standard deviation over seeds, rounded."""
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or digits < 0:
        raise ValueError(f"digits must be a whole number >= 0 (decimal places), got {digits!r}")
    m, s = mean_spread(values)
    return f"{m:.{digits}f} ± {s:.{digits}f}"
