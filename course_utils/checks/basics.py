"""Checks for lesson 01's exercises: trainable parameters, a from-scratch learner, mean ± sd, a choice."""
import numpy as np
import torch

from . import unanswered as _unanswered
from . import NOT_ANSWERED
from . import verdict as _verdict


def trainable_params(model):
    """How many parameters of ``model`` the optimizer will update."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def check_trainable_params(answer, learn):
    """Exercise: count the trainable parameters of ``learn``'s model."""
    if _unanswered(answer, "a number (sum p.numel() over parameters with requires_grad)"):
        return NOT_ANSWERED
    right = trainable_params(learn.model)
    total = sum(p.numel() for p in learn.model.parameters())
    if answer == total and total != right:
        return _verdict(False, "", f"{answer:,} is every parameter; only those with requires_grad=True train "
                                   f"(the frozen body's do not)")
    return _verdict(answer == right, f"{right:,} of {total:,} parameters are trainable",
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


def check_mean_spread(answer, values, tol=5e-4):
    """Exercise: ``answer = (mean, sd)`` of ``values`` over seeds (sample sd, ddof=1)."""
    if _unanswered(answer, "a pair (mean, sd)"):
        return NOT_ANSWERED
    try:
        m, s = (float(v) for v in answer)
    except (TypeError, ValueError):
        return _verdict(False, "", f"answer must be a pair (mean, sd), got {answer!r}")
    v = np.asarray(values, dtype=float)
    want_m, want_s = v.mean(), v.std(ddof=1)
    if abs(m - want_m) > tol:
        return _verdict(False, "", f"the mean is off: {m:.4f} vs {want_m:.4f}")
    if abs(s - v.std(ddof=0)) <= tol < abs(s - want_s):
        return _verdict(False, "", "that sd divides by n; with a few seeds use the sample sd (ddof=1)")
    return _verdict(abs(s - want_s) <= tol, f"{want_m:.3f} ± {want_s:.3f}",
                    f"the spread is off: {s:.4f} vs {want_s:.4f} (sample standard deviation, ddof=1)")


def check_choice(answer, correct, options, why):
    """Exercise: a multiple-choice question; ``why`` explains the right answer either way."""
    if _unanswered(answer, f"one of {options}"):
        return NOT_ANSWERED
    if answer not in options:
        return _verdict(False, "", f"{answer!r} is not one of the options {options}")
    return _verdict(answer == correct, f"{answer!r}: {why}", f"not {answer!r}: {why}")
