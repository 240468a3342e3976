"""Checks for lesson 01's exercises: trainable parameters, a from-scratch learner, a paired interval, a choice."""
import numpy as np
import torch
from scipy import stats

from ..groups import count_trainable, group_counts
from ..measure import paired_diff
from . import NOT_ANSWERED, check_choice, check_mean_spread  # noqa: F401  (re-exported for the lesson)
from . import unanswered as _unanswered
from . import verdict as _verdict


def check_trainable_params(answer, learn):
    """Exercise: count the trainable parameters of ``learn``'s model (the head, plus the body's BatchNorm)."""
    if _unanswered(answer, "a number (sum p.numel() over parameters with requires_grad)"):
        return NOT_ANSWERED
    right = count_trainable(learn.model)
    total = sum(p.numel() for p in learn.model.parameters())
    counts = group_counts(learn)
    head, body_bn = counts[-1]["trainable"], sum(g["norm_trainable"] for g in counts[:-1])
    bn = (f"the new head's {head:,} plus {body_bn:,} BatchNorm weights and biases in the frozen body: "
          f"train_bn=True (fastai's default) keeps those training, so they can adapt to the new data")
    if answer == total and total != right:
        return _verdict(False, "", f"{answer:,} is every parameter; only those with requires_grad=True train "
                                   f"(the frozen body's do not)")
    if answer == head and body_bn:
        return _verdict(False, "", f"{answer:,} counts only the head; the optimizer also updates {bn}")
    return _verdict(answer == right, f"{right:,} of {total:,} parameters are trainable: {bn}",
                    f"{answer!r} is not the number of trainable parameters; sum p.numel() for p in "
                    f"learn.model.parameters() if p.requires_grad")


def _same_weights(a, b):
    return all(torch.equal(x.detach().cpu(), y.detach().cpu()) for x, y in zip(a.parameters(), b.parameters()))


def check_from_scratch(learn, pretrained_body):
    """Exercise: build a learner with the same architecture but random weights, every group trainable."""
    if _unanswered(learn, "a Learner built with pretrained=False"):
        return NOT_ANSWERED
    body = learn.model[0]
    if len(list(body.parameters())) != len(list(pretrained_body.parameters())):
        return _verdict(False, "", "the body is not the same architecture: pass the same arch to vision_learner")
    if _same_weights(body, pretrained_body):
        return _verdict(False, "", "the body still holds the pretrained weights: pass pretrained=False")
    frozen = [p for p in learn.model.parameters() if not p.requires_grad]
    if frozen:
        return _verdict(False, "", f"{len(frozen)} parameter tensors are frozen; a from-scratch model must train "
                                   f"everything (fastai does this when pretrained=False, or call learn.unfreeze())")
    return _verdict(True, "same architecture, random weights, every layer group trainable", "")


def check_paired_interval(answer, a, b, tol=5e-4):
    """Exercise: ``answer = (mean, lo, hi)``, the 95% paired t interval of ``a - b`` (one result per seed each)."""
    if _unanswered(answer, "a triple (mean, lo, hi)"):
        return NOT_ANSWERED
    try:
        m, lo, hi = (float(v) for v in answer)
    except (TypeError, ValueError):
        return _verdict(False, "", f"answer must be a triple (mean, lo, hi), got {answer!r}")
    d, diffs = paired_diff(a, b), np.subtract(a, b)
    if abs(m - d.mean) > tol:
        return _verdict(False, "", f"the mean is off: {m:.4f} vs {d.mean:.4f} (the mean of a[i] - b[i] over seeds)")
    half, se = (hi - lo) / 2, diffs.std(ddof=1) / np.sqrt(diffs.size)
    if abs(half - stats.norm.ppf(0.975) * se) <= tol < abs(half - (d.hi - d.mean)):
        return _verdict(False, "", f"1.96 is the normal quantile; with {diffs.size} seeds use Student's t with "
                                   f"n - 1 = {diffs.size - 1} degrees of freedom: scipy.stats.t.ppf(0.975, n - 1)")
    ok = abs(lo - d.lo) <= tol and abs(hi - d.hi) <= tol
    return _verdict(ok, f"{d.mean:+.3f} [95% CI {d.lo:+.3f}, {d.hi:+.3f}]: the interval "
                        + ("excludes zero" if d.direction else "holds zero, so no direction can be claimed"),
                    f"the interval is off: [{lo:.4f}, {hi:.4f}] vs [{d.lo:.4f}, {d.hi:.4f}]; mean ± t × sd / √n with "
                    f"the sample sd (ddof=1) of the per-seed differences, not of each strategy's results")
