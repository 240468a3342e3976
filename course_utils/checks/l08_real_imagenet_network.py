"""Checks for lesson 08's exercises: layer groups of the real network, its last feature map, paired verdicts."""
import torch
from fastai.vision.all import create_body, model_meta

from ..groups import group_names, group_trains
from ..measure import paired_diff
from . import NOT_ANSWERED  # noqa: F401  (re-exported for the lesson)
from . import check_choice  # noqa: F401  (re-exported for the lesson)
from . import unanswered as _unanswered
from . import verdict as _verdict


def check_last_groups_train(learn, n_last):
    """Exercise: after your code, exactly the last ``n_last`` layer groups of ``learn`` train (``freeze_to(-n)``)."""
    if _unanswered(learn, "the Learner you froze"):
        return NOT_ANSWERED
    if not hasattr(learn, "opt_func") or not hasattr(learn, "splitter"):
        return _verdict(False, "", f"expected a fastai Learner, got {type(learn).__name__}")
    if getattr(learn, "opt", None) is None:
        learn.create_opt()
    trains, names = group_trains(learn), group_names(learn)
    want = [False] * (len(trains) - n_last) + [True] * n_last
    shown = ", ".join(f"{n}: {'trains' if t else 'frozen'}" for n, t in zip(names, trains))
    return _verdict(list(trains) == want, f"only the last {n_last} groups train ({shown})",
                    f"{shown}; want only the last {n_last} to train: learn.freeze_to(-{n_last})")


def last_feature_map(arch, size):
    """``(channels, height, width)`` of ``arch``'s body output for one ``size`` x ``size`` image."""
    body = create_body(arch(pretrained=False), cut=model_meta[arch]["cut"]).eval()
    with torch.no_grad():
        return tuple(body(torch.zeros(1, 3, size, size)).shape[1:])


def check_feature_map(answer, arch, size):
    """Exercise: the shape ``(channels, height, width)`` of the body's last feature map at ``size`` px."""
    if _unanswered(answer, "a tuple (channels, height, width)"):
        return NOT_ANSWERED
    want = last_feature_map(arch, size)
    try:
        got = tuple(int(v) for v in answer)
    except (TypeError, ValueError):
        return _verdict(False, "", f"answer with a tuple (channels, height, width), got {answer!r}")
    why = (f"{want}: the body halves the image five times ({size} px / 32 = {max(size // 32, 1)}), so at {size} px "
           f"each of the {want[0]} features sees the whole image")
    return _verdict(got == want, why, f"{got} is not it; run the body on torch.zeros(1, 3, {size}, {size}): {why}")


def check_backbone_verdict(answer, a, b, names):
    """Exercise: what does the paired 95% interval of ``a`` − ``b`` (per seed, e.g. two backbones) say?"""
    if _unanswered(answer, "the verdict of cu.paired_diff: '<a> better', '<b> better' or 'no detectable difference'"):
        return NOT_ANSWERED
    d = paired_diff(a, b, tuple(names))
    return _verdict(answer == d.verdict, str(d), f"{answer!r} is not what the interval says: {d}")
