"""Checks for lesson 10's exercises: class weights for a loss, GradientAccumulation's n_acc, expected calibration
error from a reliability table, and what a paired interval allows."""
import numpy as np

from . import NOT_ANSWERED, check_choice  # noqa: F401  (re-exported for the lesson)
from . import unanswered as _unanswered
from . import verdict as _verdict


def check_loss_weights(answer, counts):
    """Exercise: class weights for ``CrossEntropyLossFlat(weight=...)`` that balance classes with ``counts`` items."""
    if _unanswered(answer, f"a list of {len(counts)} weights, one per class"):
        return NOT_ANSWERED
    try:
        w = np.asarray(answer, dtype=float)
    except (TypeError, ValueError):
        return _verdict(False, "", f"answer must be a list of numbers, got {answer!r}")
    c = np.asarray(counts, dtype=float)
    if w.shape != c.shape:
        return _verdict(False, "", f"one weight per class: {len(c)} classes, got {w.size} numbers")
    if not np.isfinite(w).all() or (w <= 0).any():
        return _verdict(False, "", "every weight must be a positive number")
    inverse = (1 / c) / (1 / c).sum()
    if np.allclose(w / w.sum(), c / c.sum(), rtol=1e-3) and not np.allclose(c, c[0]):
        return _verdict(False, "", "those grow with the count: the rare classes must get the large weights (1 / count)")
    return _verdict(np.allclose(w / w.sum(), inverse, rtol=1e-3),
                    "proportional to 1 / count; the scale does not matter, because the weighted mean loss divides "
                    "by the sum of the batch's weights",
                    "not proportional to 1 / count: a class with half the images needs twice the weight")


def check_n_acc(answer, bs, target_bs):
    """Exercise: ``GradientAccumulation(n_acc=?)`` so that batches of ``bs`` step like batches of ``target_bs``."""
    if _unanswered(answer, "a whole number for n_acc"):
        return NOT_ANSWERED
    if answer == target_bs // bs and target_bs // bs != target_bs:
        return _verdict(False, "", f"{answer} is the number of batches; fastai's n_acc counts images (samples): "
                                   f"it steps once {answer} x {bs} images have gone through")
    return _verdict(answer == target_bs, f"n_acc={target_bs}: the optimizer steps after every {target_bs} images, "
                                         f"{target_bs // bs} batches of {bs}",
                    f"n_acc={answer!r} steps after {answer!r} images, not {target_bs}")


def check_ece(answer, table):
    """Exercise: expected calibration error from a reliability table (columns count, confidence, accuracy)."""
    if _unanswered(answer, "a number: the count-weighted mean of |confidence - accuracy| over the bins"):
        return NOT_ANSWERED
    try:
        a = float(answer)
    except (TypeError, ValueError):
        return _verdict(False, "", f"answer must be a number, got {answer!r}")
    gap = (table["confidence"] - table["accuracy"]).abs()
    truth = float((table["count"] * gap).sum() / table["count"].sum())
    if np.isclose(a, gap.mean(), atol=5e-4) and not np.isclose(truth, gap.mean(), atol=5e-4):
        return _verdict(False, "", "that is the plain mean over bins; weight each bin's gap by how many images it holds")
    if np.isclose(a, float((table["count"] * (table["confidence"] - table["accuracy"])).sum() / table["count"].sum()),
                  atol=5e-4) and not np.isclose(a, truth, atol=5e-4):
        return _verdict(False, "", "take the absolute gap in each bin: over- and under-confidence must not cancel")
    return _verdict(np.isclose(a, truth, atol=5e-4), f"ECE = {truth:.4f}",
                    f"{a:.4f} is off: sum over bins of count x |confidence - accuracy|, divided by the number of images")
