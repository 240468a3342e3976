"""Checks for lesson 05's exercises: per-group rates of a slice, ULMFiT's ÷2.6 rule, a slice that gives it."""
import math

import numpy as np

from . import NOT_ANSWERED, check_choice, check_mean_spread  # noqa: F401  (re-exported for the lesson)
from . import unanswered as _unanswered
from . import verdict as _verdict
from ..groups import ulmfit_lrs
from ..lessons.l05_discriminative_learning_rates import lrs_for


def _as_rates(answer, n):
    """``answer`` as a list of ``n`` positive floats, or a string saying why it is not one."""
    try:
        vals = [float(v) for v in answer]
    except (TypeError, ValueError):
        return f"answer must be a list of {n} numbers (one learning rate per layer group), got {answer!r}"
    if len(vals) != n:
        return f"this learner has {n} layer groups, so the answer needs {n} rates, got {len(vals)}"
    if not all(math.isfinite(v) and v > 0 for v in vals):
        return "every learning rate must be a positive number"
    return vals


def _close(a, b, rtol=1e-3):
    return np.allclose(a, b, rtol=rtol, atol=0)


def _fmt(lrs):
    return "[" + ", ".join(f"{v:.2e}" for v in lrs) + "]"


def check_slice_lrs(answer, learn, lo, hi):
    """Exercise: predict the per-group rates fastai sets for ``slice(lo, hi)`` on ``learn``."""
    if _unanswered(answer, "a list with one learning rate per layer group, earliest group first"):
        return NOT_ANSWERED
    truth = lrs_for(learn, slice(lo, hi))
    vals = _as_rates(answer, len(truth))
    if isinstance(vals, str):
        return _verdict(False, "", vals)
    if _close(vals[::-1], truth) and not _close(vals, truth):
        return _verdict(False, "", "the order is reversed: fastai's groups go from the earliest layers (lo) to the head (hi)")
    if _close(vals, np.linspace(lo, hi, len(truth))) and not _close(vals, truth):
        return _verdict(False, "", "those are evenly spaced in value (linspace); fastai spaces them evenly on a "
                                   "log scale: each group's rate is the previous one times the same factor")
    return _verdict(_close(vals, truth), f"fastai set {_fmt(truth)}: x{truth[1] / truth[0]:.2f} from one group to the next",
                    f"{_fmt(vals)} is not what fastai set; read it back with [h['lr'] for h in learn.opt.hypers] "
                    f"after learn.opt.set_hyper('lr', slice(lo, hi)) and compare")


def check_ulmfit_lrs(answer, hi, n_groups, factor=2.6):
    """Exercise: ULMFiT's rates for ``n_groups`` groups with the head at ``hi``, earliest group first."""
    if _unanswered(answer, f"a list of {n_groups} rates, earliest group first, the head's = {hi:g}"):
        return NOT_ANSWERED
    truth = ulmfit_lrs(hi, n_groups, factor)
    vals = _as_rates(answer, n_groups)
    if isinstance(vals, str):
        return _verdict(False, "", vals)
    if _close(vals[::-1], truth) and not _close(vals, truth):
        return _verdict(False, "", "reversed: the earliest group gets the smallest rate and the head gets hi")
    if _close(vals, [hi * factor ** (n_groups - 1 - i) for i in range(n_groups)]):
        return _verdict(False, "", f"those grow below the head; ULMFiT *divides* by {factor} for each group further down")
    return _verdict(_close(vals, truth), f"{_fmt(truth)}: the head at {hi:g}, each group below ÷{factor}",
                    f"{_fmt(vals)} is off; the group i steps below the head trains at hi / {factor}**i")


def check_ulmfit_slice(answer, learn, hi, factor=2.6):
    """Exercise: a ``slice(lo, hi)`` whose rates on ``learn`` are exactly ULMFiT's ÷``factor`` rule."""
    if _unanswered(answer, "slice(lo, hi) with the right lo"):
        return NOT_ANSWERED
    if not isinstance(answer, slice) or answer.start is None:
        return _verdict(False, "", f"answer must be a slice(lo, hi) with both ends, got {answer!r}")
    try:
        got = lrs_for(learn, answer)
    except ValueError as e:
        return _verdict(False, "", str(e))
    truth = ulmfit_lrs(hi, len(got), factor)
    if not math.isclose(float(answer.stop), hi, rel_tol=1e-6):
        return _verdict(False, "", f"the head's rate (the slice's stop) should be {hi:g}, got {answer.stop!r}")
    n = len(got)
    return _verdict(_close(got, truth),
                    f"slice({answer.start:.3g}, {hi:g}) = ÷{factor} per group: lo = hi / {factor}**{n - 1} = hi / {factor ** (n - 1):.1f}",
                    f"with lo={answer.start:.3g} fastai sets {_fmt(got)}, ULMFiT wants {_fmt(truth)}; there are "
                    f"{n - 1} steps of ÷{factor} between the head and the first group")
