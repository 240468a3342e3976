"""Checks for lesson 01's exercises: trainable parameters, a from-scratch learner, mean ± sd, a choice."""
import torch

from ..groups import count_trainable
from . import NOT_ANSWERED, check_choice, check_mean_spread  # noqa: F401  (re-exported for the lesson)
from . import unanswered as _unanswered
from . import verdict as _verdict


def check_trainable_params(answer, learn):
    """Exercise: count the trainable parameters of ``learn``'s model."""
    if _unanswered(answer, "a number (sum p.numel() over parameters with requires_grad)"):
        return NOT_ANSWERED
    right = count_trainable(learn.model)
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
