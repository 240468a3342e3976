"""How the course measures: one epoch log, validation skipped bit-exactly, the test split kept for reported
results, rates chosen on validation, and strategies compared per seed with a paired 95% interval."""
import time
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback, CancelValidException
from fastai.metrics import accuracy
from scipy import stats
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


# ---- the protocol: test split for reported results, rates chosen on validation, paired seeds -----

def test_accuracy(learn):
    """Accuracy on the DataLoaders' fixed test split (``dls.test_items``): for reported results only."""
    items = getattr(learn.dls, "test_items", None)
    if items is None:
        raise ValueError("these DataLoaders carry no test split (dls.test_items): build them with cu.tier_dls, "
                         "cu.digits_dls or cu.folder_dls, or set dls.test_items yourself")
    dl = learn.dls.test_dl(items, with_labels=True)
    with learn.no_bar():
        preds, targs = learn.get_preds(dl=dl)
    return float(accuracy(preds, targs))


def choose_lr(valid_score, rates):
    """``(best rate, {rate: score})``: ``valid_score(lr)`` is a validation score, higher is better; a tie goes to the
    rate listed first in ``rates`` (list the grid from low to high to prefer the gentler rate)."""
    rates = [float(r) for r in rates]
    if not rates or not all(np.isfinite(r) and r > 0 for r in rates):
        raise ValueError(f"rates must be a non-empty list of positive numbers (a log grid such as 1e-3, 3e-3, 1e-2), "
                         f"got {rates!r}")
    scores = {r: float(valid_score(r)) for r in rates}
    return max(scores, key=scores.get), scores


class PairedDiff(NamedTuple):
    """Mean per-seed difference ``a - b`` with its interval; ``verdict`` names the better one or says none."""
    a: str
    b: str
    mean: float
    lo: float
    hi: float
    n: int
    confidence: float = 0.95

    @property
    def direction(self):
        """+1 when ``a`` is better (interval above zero), -1 when ``b`` is, 0 when the interval holds zero."""
        return 1 if self.lo > 0 else -1 if self.hi < 0 else 0

    @property
    def verdict(self):
        return {1: f"{self.a} better", -1: f"{self.b} better", 0: "no detectable difference"}[self.direction]

    def __str__(self):
        return (f"{self.a} − {self.b}: {self.mean:+.3f} [{self.confidence:.0%} CI {self.lo:+.3f}, {self.hi:+.3f}] "
                f"over {self.n} seeds"
                f" → {self.verdict}")


def paired_diff(a, b, names=("A", "B"), confidence=0.95):
    """Compare two strategies run on the same seeds: the mean of ``a[i] - b[i]`` with a t interval."""
    try:
        x, y = (np.asarray(list(v), dtype=float) for v in (a, b))
    except (TypeError, ValueError):
        raise ValueError(f"paired_diff needs two lists of numbers, one per seed, got {a!r} and {b!r}") from None
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"paired_diff needs one result per seed for both, in the same seed order; got shapes "
                         f"{x.shape} and {y.shape}")
    if x.size < 2:
        raise ValueError(f"a paired interval needs at least two seeds (five or more to say much), got {x.size}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("paired_diff got NaN or infinite results: a run failed or was not measured")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, such as 0.95; got {confidence!r}")
    d = x - y
    half = stats.t.ppf((1 + confidence) / 2, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    m = float(d.mean())
    return PairedDiff(str(names[0]), str(names[1]), m, m - float(half), m + float(half), int(d.size), confidence)


def paired_table(results, baseline):
    """One row per strategy against ``baseline`` (``{strategy: per-seed results}``): the paired difference,
    its interval and the verdict, as a DataFrame."""
    if baseline not in results:
        raise ValueError(f"baseline {baseline!r} is not among the strategies {list(results)}")
    rows = [paired_diff(v, results[baseline], (name, baseline)) for name, v in results.items() if name != baseline]
    return pd.DataFrame([{"strategy": r.a, f"minus {baseline}": round(r.mean, 3), "95% CI low": round(r.lo, 3),
                          "95% CI high": round(r.hi, 3), "verdict": r.verdict} for r in rows]).set_index("strategy")


PROBE_CS = (0.01, 0.1, 1.0, 10.0)   # inverse regularisation strengths tried; the best on validation wins


def fit_linear_probe(train_x, train_y, valid_x, valid_y, Cs=PROBE_CS):
    """The course's one linear probe: standardised features, logistic regression with its ``C`` chosen on
    the validation split; returns the fitted probe (``.C_`` the choice, ``.valid_scores_`` every score)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    if len(train_x) != len(train_y) or len(valid_x) != len(valid_y) or not len(train_y) or not len(valid_y):
        raise ValueError(f"fit_linear_probe needs non-empty features with one label each: train {len(train_x)} "
                         f"features / {len(train_y)} labels, valid {len(valid_x)} / {len(valid_y)}")
    if len(set(np.asarray(train_y).tolist())) < 2:
        raise ValueError("fit_linear_probe needs at least two classes among the training labels")
    fits = {C: make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000)).fit(train_x, train_y)
            for C in Cs}
    scores = {C: float(p.score(valid_x, valid_y)) for C, p in fits.items()}
    best = max(scores, key=scores.get)
    probe = fits[best]
    probe.C_, probe.valid_scores_ = best, scores
    return probe
