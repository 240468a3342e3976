"""Layer groups of a fastai ``Learner`` (what each holds, whether it trains) and the schedules over
them that several lessons and the lab share: ULMFiT's ÷2.6 rates and gradual unfreezing."""
import math
import numbers

import torch
from fastai.callback.core import Callback
from fastai.callback.progress import Recorder
from fastai.torch_core import norm_types
from torch import nn

from .config import is_whole_number

def check_group_index(n, groups, what="group index", hint=""):
    """Return ``n`` as a group number ``0..groups-1`` (negative ``n`` counts from the end), or raise ValueError."""
    g = int(groups) if is_whole_number(groups) else n_groups(groups)
    if not is_whole_number(n):
        raise ValueError(f"{what} must be a whole number (an int), got {n!r} ({type(n).__name__})"
                         + (f"; {hint}" if hint else ""))
    if not -g <= n < g:
        side = "past the last group" if n >= g else "before the first group"
        raise ValueError(f"{what} {n} is {side}: this learner has {g} layer groups, numbered 0 to {g - 1} "
                         f"(or {-g} to -1 counting from the end)" + (f"; {hint}" if hint else ""))
    return int(n) % g


def _learner_groups(learn):
    """The learner's parameter groups, as its optimizer holds them (or as its splitter makes them)."""
    opt = getattr(learn, "opt", None)
    if opt is not None:
        return [list(pg) for pg in opt.param_lists]
    return check_splitter_output(learn.splitter(learn.model), learn.model)


def n_groups(learn):
    """How many layer groups ``learn`` has (its optimizer's, or its splitter's before it has one)."""
    if getattr(learn, "opt", None) is not None:
        return len(learn.opt.param_lists)
    groups = list(learn.splitter(learn.model))
    return 1 if groups and isinstance(groups[0], torch.Tensor) else len(groups)   # a flat list is one group


def _is_norm_param(model):
    """A function ``p -> bool``: is ``p`` a parameter of a normalization layer (BatchNorm & co.)?"""
    ids = {id(p) for m in model.modules() if isinstance(m, norm_types) for p in m.parameters(recurse=False)}
    return lambda p: id(p) in ids


def group_counts(learn):
    """One dict per group: ``params``, ``trainable``, ``norm_params`` and ``norm_trainable`` (counts)."""
    is_norm = _is_norm_param(learn.model)
    rows = []
    for pg in _learner_groups(learn):
        rows.append({
            "params": sum(p.numel() for p in pg),
            "trainable": sum(p.numel() for p in pg if p.requires_grad),
            "norm_params": sum(p.numel() for p in pg if is_norm(p)),
            "norm_trainable": sum(p.numel() for p in pg if is_norm(p) and p.requires_grad),
        })
    return rows


def group_trains(learn):
    """One bool per group: does it train, judged by its non-normalization weights?"""
    is_norm = _is_norm_param(learn.model)
    out = []
    for pg in _learner_groups(learn):
        weights = [p for p in pg if not is_norm(p)] or pg
        out.append(any(p.requires_grad for p in weights))
    return out


def frozen_groups(learn):
    """How many groups, counted from the first, do not train (what ``freeze_to(n)`` set as ``n``)."""
    trains = group_trains(learn)
    return next((i for i, t in enumerate(trains) if t), len(trains))


def count_trainable(learn_or_model):
    """How many numbers the optimizer will update (``requires_grad``), BatchNorm included."""
    from fastai.torch_core import trainable_params
    return sum(p.numel() for p in trainable_params(getattr(learn_or_model, "model", learn_or_model)))


def group_names(learn):
    """Names for the groups: the shipped backbone's from its model card, EfficientNet-Lite0's (stem and block stages,
    head conv, new head), else ``group 0``, ``group 1``..."""
    g = n_groups(learn)
    from .efficientnet import GROUP_NAMES, efficientnet_split
    if learn.splitter is efficientnet_split and len(GROUP_NAMES) == g:
        return list(GROUP_NAMES)
    try:
        from .backbone import mini_resnet_split, read_card
        if learn.splitter is mini_resnet_split:
            names = list(read_card()["layer_groups"])
            if len(names) == g:
                return [n.replace(" (added by fastai)", "") for n in names]
    except (ImportError, FileNotFoundError, ValueError, KeyError):
        pass
    return [f"group {i}" for i in range(g)]


def check_splitter_output(groups, model):
    """Validate what a splitter returned: a list of parameter lists, every parameter exactly once."""
    try:
        groups = list(groups)
        if groups and isinstance(groups[0], torch.Tensor):
            groups = [groups]  # a flat list of parameters is one group, as fastai's Optimizer reads it
        groups = [list(g) for g in groups]
    except TypeError:
        raise ValueError(f"a splitter must return a list of parameter lists, got {type(groups).__name__}") from None
    if not groups:
        raise ValueError("the splitter returned no groups; return e.g. L(body, head).map(params)")
    for i, g in enumerate(groups):
        bad = [x for x in g if not isinstance(x, torch.Tensor)]
        if bad:
            kind = type(bad[0]).__name__
            fix = (" (you returned modules: add .map(params), or write [list(m.parameters()) for m in ...])"
                   if isinstance(bad[0], nn.Module) else "")
            raise ValueError(f"group {i} holds a {kind}, not parameters{fix}")
    names = {id(p): n for n, p in model.named_parameters()}
    seen = {}
    for i, g in enumerate(groups):
        for p in g:
            if id(p) in seen:
                raise ValueError(f"parameter {names.get(id(p), '?')} is in group {seen[id(p)]} and in group {i}; "
                                 "each parameter must be in exactly one group")
            seen[id(p)] = i
    missing = [n for n, p in model.named_parameters() if id(p) not in seen]
    if missing:
        raise ValueError(f"{len(missing)} parameter tensors are in no group (first: {missing[0]}); "
                         "the optimizer would never update them")
    return groups


# ---- learning rates per group and gradual unfreezing ----------------------------------------

ULMFIT_FACTOR = 2.6


def check_rate(value, name):
    """Return ``value`` as a float when it is a positive, finite number; else one ValueError naming it."""
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


def ulmfit_lrs(hi, n_groups, factor=ULMFIT_FACTOR):
    """ULMFiT's rule: the head trains at ``hi``, each group below at the rate above / ``factor``."""
    hi = check_rate(hi, "hi (the head's learning rate)")
    factor = check_rate(factor, "factor")
    if factor < 1:
        raise ValueError(f"factor must be >= 1 (earlier layers train more slowly), got {factor:g}")
    n = _check_groups(n_groups)
    return [hi / factor ** (n - 1 - i) for i in range(n)]


def ulmfit_slice(hi, n_groups, factor=ULMFIT_FACTOR):
    """The ``slice(lo, hi)`` whose geometric spacing is exactly ULMFiT's ÷``factor`` rule."""
    return slice(ulmfit_lrs(hi, n_groups, factor)[0], float(hi))


# Gradual unfreezing (ULMFiT, Howard & Ruder 2018) as a loop over fastai calls; lesson 04 writes it
# out by hand first. Its rates are exactly fine_tune's (the head stage at base_lr, every later stage
# at slice(base_lr / 2 / lr_mult, base_lr / 2)), so fine_tune(e, freeze_epochs=1) is the two-stage
# special case [1, e] and a comparison between them is about the schedule, not the rates.

def check_schedule(epochs_per_stage, n_groups):
    """Return ``epochs_per_stage`` as a list of ints, or raise one ValueError saying what is wrong."""
    if not is_whole_number(n_groups) or n_groups < 1:
        raise ValueError(f"n_groups must be a positive whole number, got {n_groups!r}")
    try:
        epochs = list(epochs_per_stage)
    except TypeError:
        raise ValueError(f"a schedule is a list of epochs per stage, e.g. [1, 1, 2], got {epochs_per_stage!r}") from None
    if not epochs:
        raise ValueError("the schedule is empty: give at least one stage, e.g. [1] (head only)")
    if len(epochs) > n_groups:
        raise ValueError(f"the schedule has {len(epochs)} stages but the model has only {n_groups} layer groups "
                         f"(stage i unfreezes the last i groups): use at most {n_groups} stages")
    bad = [(i, e) for i, e in enumerate(epochs, 1) if not is_whole_number(e) or e < 1]
    if bad:
        i, e = bad[0]
        raise ValueError(f"every stage needs a positive whole number of epochs; stage {i} has {e!r}")
    return [int(e) for e in epochs]


def stage_plan(epochs_per_stage, n_groups):
    """``[(freeze_to argument, epochs), ...]``: what each stage calls, e.g. ``[(-1, 1), (-2, 1), ...]``."""
    epochs = check_schedule(epochs_per_stage, n_groups)
    return [(-i, e) for i, e in enumerate(epochs, 1)]


def gradual_unfreeze(learn, epochs_per_stage, base_lr=2e-3, lr_mult=100, pct_start=0.3, div=5.0, **kwargs):
    """Train ``learn`` stage by stage: stage ``i`` calls ``freeze_to(-i)`` then ``fit_one_cycle``."""
    plan = stage_plan(epochs_per_stage, n_groups(learn))
    for name, value, least in (("base_lr", base_lr, 0), ("lr_mult", lr_mult, 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
                or not (value >= least if least else value > least):
            raise ValueError(f"{name} must be a finite number {'of at least' if least else 'above'} {least}, got {value!r}"
                             + (" (earlier groups train lr_mult times more slowly than the head; 1: one rate)"
                                if least else ""))
    for n, epochs in plan:
        learn.freeze_to(n)
        if n == -1:
            learn.fit_one_cycle(epochs, slice(base_lr), pct_start=0.99, **kwargs)
        else:
            lr = base_lr / 2
            learn.fit_one_cycle(epochs, slice(lr / lr_mult, lr), pct_start=pct_start, div=div, **kwargs)
    return plan


class BnEval(Callback):
    """Keep every BatchNorm layer of the body in inference mode while training: running statistics fixed at the
    pretrained ones, whether or not the layer's weights train. fastai's ``BnFreeze`` does this only for frozen layers;
    EfficientNet needs it after ``unfreeze`` too (lesson 08)."""

    order = Recorder.order + 1   # after TrainEvalCallback has put the model in training mode

    def before_train(self):
        for m in self.learn.model[0].modules():
            if isinstance(m, norm_types):
                m.eval()
