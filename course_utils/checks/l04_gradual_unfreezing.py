"""Checks for lesson 04's exercises: which groups train, a schedule, weight drift by hand, a choice."""
import torch

from ..groups import check_schedule, group_trains
from ..lessons.l04_gradual_unfreezing import relative_distance
from . import NOT_ANSWERED, check_choice, check_mean_spread  # noqa: F401  (re-exported for the lesson)
from . import unanswered as _unanswered
from . import verdict as _verdict


def check_last_groups_trainable(learn, n):
    """Exercise: exactly the last ``n`` layer groups of ``learn`` train (what stage ``n`` of the schedule does)."""
    if _unanswered(learn, "the learner, after your freeze_to call"):
        return NOT_ANSWERED
    groups = group_trains(learn)
    want = [False] * (len(groups) - n) + [True] * n
    if groups == want:
        return _verdict(True, f"the last {n} of {len(groups)} groups train: freeze_to(-{n})", "")
    got = sum(groups)
    if groups == [False] * n + [True] * (len(groups) - n) and n != len(groups) - n:
        return _verdict(False, "", f"the first {n} groups are frozen and the last {got} train: freeze_to(n) freezes "
                                   f"the first n groups; count from the end with a negative index, freeze_to(-{n})")
    return _verdict(False, "", f"{got} group(s) train ({groups}); stage {n} needs exactly the last {n}: freeze_to(-{n})")


def check_schedule_answer(answer, n_groups, total_epochs):
    """Exercise: a schedule (epochs per stage) that unfreezes every group, spends ``total_epochs``,
    and gives the last, fully unfrozen stage at least as many epochs as any other stage."""
    if _unanswered(answer, f"a list of {n_groups} epoch counts, one per stage"):
        return NOT_ANSWERED
    try:
        epochs = check_schedule(answer, n_groups)
    except ValueError as e:
        return _verdict(False, "", str(e))
    if len(epochs) != n_groups:
        return _verdict(False, "", f"{len(epochs)} stages leave the first {n_groups - len(epochs)} group(s) frozen: "
                                   f"unfreezing every group takes {n_groups} stages")
    if sum(epochs) != total_epochs:
        return _verdict(False, "", f"the schedule spends {sum(epochs)} epochs; the budget is {total_epochs}")
    if epochs[-1] < max(epochs):
        return _verdict(False, "", f"the last stage ({epochs[-1]} epochs) must get at least as many as any other "
                                   f"(here {max(epochs)})")
    return _verdict(True, f"{epochs}: {n_groups} stages, {total_epochs} epochs, most time with everything unfrozen", "")


def check_relative_drift(answer, now, before, tol=1e-4):
    """Exercise: ``||now - before|| / ||before||`` over a group's parameters, computed by hand."""
    if _unanswered(answer, "a number: the norm of the change divided by the norm of the starting weights"):
        return NOT_ANSWERED
    try:
        a = float(answer)
    except (TypeError, ValueError):
        return _verdict(False, "", f"answer must be a number, got {answer!r}")
    now, before = [t.detach().cpu().float() for t in now], [t.float() for t in before]
    right = relative_distance(now, before)
    diff = float(torch.sqrt(sum(((x - y) ** 2).sum() for x, y in zip(now, before))))
    by_now = diff / float(torch.sqrt(sum((x ** 2).sum() for x in now)))
    if abs(a - right) <= tol * max(1.0, right):
        return _verdict(True, f"relative drift {right:.4f}", "")
    if abs(a - diff) <= tol * max(1.0, diff):
        return _verdict(False, "", f"{a:.4f} is ||w - w_start|| alone; divide by ||w_start|| to compare groups of different sizes")
    if abs(a - right ** 2) <= tol * max(1.0, right):
        return _verdict(False, "", "that is the squared ratio: take the square root of each sum of squares")
    if abs(a - by_now) <= tol * max(1.0, by_now):
        return _verdict(False, "", "divide by the norm of the starting (pretrained) weights, not the current ones")
    return _verdict(False, "", f"{a:.4f} is not the relative drift; flatten all the group's tensors into one vector, "
                               f"then ||w - w_start|| / ||w_start||")
