"""Discriminative learning rates: read back what fastai set per layer group, and the ULMFiT rule.

The technique (``fit_one_cycle(n, slice(lo, hi))``) stays in the notebook; these helpers only
check a learning-rate range, read the rates fastai applied, and compute the two spacings a
lesson compares them with:

- ``geometric_lrs(lo, hi, n)``: ``n`` rates evenly spaced on a log scale from ``lo`` to ``hi``,
  the spacing fastai gives ``slice(lo, hi)``;
- ``ulmfit_lrs(hi, n)``: ULMFiT's rule (Howard & Ruder 2018), each layer group below the top
  one trains at the rate of the group above divided by 2.6.
"""
import math
import numbers

from fastai.callback.core import Callback
from fastai.callback.schedule import ParamScheduler

from .validate import is_whole_number

ULMFIT_FACTOR = 2.6


def _check_rate(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive, finite number, got {value!r}")
    return value


def _check_groups(n_groups):
    if not is_whole_number(n_groups) or n_groups < 1:
        raise ValueError(f"the number of layer groups must be a whole number >= 1, got {n_groups!r}")
    return int(n_groups)


def check_lr_range(lo, hi):
    """Return ``(lo, hi)`` as floats, or raise one ValueError that says what is wrong.

    Both must be positive, finite numbers and ``lo <= hi``: ``lo`` is the rate of the first
    (earliest) layer group, ``hi`` the head's.
    """
    lo, hi = _check_rate(lo, "lo (the first layer group's learning rate)"), _check_rate(hi, "hi (the head's learning rate)")
    if lo > hi:
        raise ValueError(f"lo must not exceed hi: got lo={lo:g} > hi={hi:g} "
                         f"(slice(lo, hi) gives the earliest layers lo and the head hi; swap them)")
    return lo, hi


def geometric_lrs(lo, hi, n_groups):
    """``n_groups`` rates from ``lo`` to ``hi``, each the previous one times the same factor."""
    lo, hi = check_lr_range(lo, hi)
    n = _check_groups(n_groups)
    if n == 1:
        return [hi]
    return [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]


def ulmfit_lrs(hi, n_groups, factor=ULMFIT_FACTOR):
    """ULMFiT's rule: the head trains at ``hi``, each group below at the rate above / ``factor``.

    Returned from the first (earliest) layer group to the head, like fastai's layer groups.
    """
    hi = _check_rate(hi, "hi (the head's learning rate)")
    factor = _check_rate(factor, "factor")
    if factor < 1:
        raise ValueError(f"factor must be >= 1 (earlier layers train more slowly), got {factor:g}")
    n = _check_groups(n_groups)
    return [hi / factor ** (n - 1 - i) for i in range(n)]


def ulmfit_slice(hi, n_groups, factor=ULMFIT_FACTOR):
    """The ``slice(lo, hi)`` whose geometric spacing is exactly ULMFiT's ÷``factor`` rule."""
    return slice(ulmfit_lrs(hi, n_groups, factor)[0], float(hi))


def group_lrs(learn):
    """The learning rate fastai has set on each layer group of ``learn``, earliest group first.

    Read from ``learn.opt.hypers`` (fastai's optimizer keeps one dict of hyper-parameters per
    parameter group). Creates the optimizer if ``learn`` has none yet.
    """
    if getattr(learn, "opt", None) is None:
        learn.create_opt()
    return [float(h["lr"]) for h in learn.opt.hypers]


def lrs_for(learn, lr):
    """The per-group rates fastai sets on ``learn`` for ``lr`` (a number or a ``slice``), read back.

    Does what ``fit_one_cycle(n, lr)`` does first (``learn.opt.set_hyper("lr", lr)``) and returns
    ``group_lrs(learn)``. Bad ranges raise ValueError before fastai sees them.
    """
    if isinstance(lr, slice):
        if lr.start is None:
            _check_rate(lr.stop, "slice(hi)'s hi")
        else:
            check_lr_range(lr.start, lr.stop)
    else:
        _check_rate(lr, "the learning rate")
    if getattr(learn, "opt", None) is None:
        learn.create_opt()
    learn.opt.set_hyper("lr", lr)
    return group_lrs(learn)


class GroupLRRecorder(Callback):
    """Records every layer group's learning rate at each training batch, after fastai's schedulers.

    ``rows`` is a list of lists (one per batch, one rate per group). Runs after the
    ``ParamScheduler`` of ``fit_one_cycle``, so it sees the rates really used for the step.
    """

    order = ParamScheduler.order + 1

    def __init__(self):
        self.rows = []

    def before_fit(self):
        self.rows = []

    def before_batch(self):
        if self.training:
            self.rows.append([float(h["lr"]) for h in self.opt.hypers])

    @property
    def peak(self):
        """Each group's highest rate during the fit (the ``lr_max`` of a one-cycle schedule)."""
        if not self.rows:
            raise ValueError("no training batch was recorded yet: fit the learner with this callback first")
        return [max(col) for col in zip(*self.rows)]


def ratios(lrs):
    """Each group's rate divided by the one before it (one fewer value than ``lrs``)."""
    lrs = [_check_rate(v, "a learning rate") for v in lrs]
    return [b / a for a, b in zip(lrs, lrs[1:])]
