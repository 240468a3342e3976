"""Layer groups of a fastai ``Learner``: what each group holds, what trains, and checked group indices.

A learner's splitter cuts its model into parameter groups ("layer groups"); ``freeze_to(n)``
freezes the groups before ``n``. With ``train_bn=True`` (fastai's default) the BatchNorm
weights and biases of a frozen group keep training, so "does this group train?" is answered
here by its other parameters (convolutions, linear layers): see ``group_trains``.

Everything here only reads a learner, except ``EpochTimer``, a callback that times training
epochs for the lesson on what freezing buys.
"""
import time
from collections import Counter

import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback
from fastai.torch_core import norm_types
from torch import nn

from .validate import is_whole_number

__all__ = ["check_group_index", "check_splitter_output", "n_groups", "group_params", "group_trains",
           "frozen_groups", "trainable_params", "group_names", "group_units", "units_of", "group_rows", "group_table",
           "training_step_flops", "EpochTimer"]


def check_group_index(n, groups, what="group index", hint=""):
    """Return ``n`` as a group number ``0..groups-1`` (negative ``n`` counts from the end), or raise ValueError.

    ``groups`` is the number of layer groups (or a learner). Used for ``freeze_to(n)``'s
    argument too: the valid range is the same (0 = nothing frozen, ``groups-1`` = only the last
    group trains); ``freeze_to(groups)`` would freeze everything and leave nothing to train.
    """
    g = n_groups(groups) if not isinstance(groups, (int, np.integer)) else int(groups)
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
    """How many layer groups ``learn`` has."""
    return len(_learner_groups(learn))


def _is_norm_param(model):
    """A function ``p -> bool``: is ``p`` a parameter of a normalization layer (BatchNorm & co.)?"""
    ids = {id(p) for m in model.modules() if isinstance(m, norm_types) for p in m.parameters(recurse=False)}
    return lambda p: id(p) in ids


def group_params(learn):
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
    """One bool per group: does it train, judged by its non-normalization weights?

    With ``train_bn=True`` a frozen group still has trainable BatchNorm parameters, so looking
    at ``requires_grad`` of every parameter would call every group trainable.
    """
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


def trainable_params(learn_or_model):
    """How many parameters the optimizer will update (``requires_grad``), BatchNorm included."""
    model = getattr(learn_or_model, "model", learn_or_model)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def group_names(learn):
    """Names for the groups: the shipped backbone's from its model card, else ``group 0``, ``group 1``..."""
    g = n_groups(learn)
    try:
        from .backbone import mini_resnet_split, read_card
        if learn.splitter is mini_resnet_split:
            names = list(read_card()["layer_groups"])
            if len(names) == g:
                return [n.replace(" (added by fastai)", "") for n in names]
    except (ImportError, FileNotFoundError, ValueError, KeyError):
        pass
    return [f"group {i}" for i in range(g)]


def _index_path(name):
    """``"0.1.conv1"`` -> ``"model[0][1].conv1"``: the Python expression that reaches the module."""
    out = "model"
    for part in name.split(".") if name else []:
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def _contents(module):
    """What a module holds, e.g. ``"Conv2d, BatchNorm2d"`` or ``"2 BatchNorm1d, 2 Linear"``."""
    children = [c for c in module.children() if any(True for _ in c.parameters())]
    if not children:
        return type(module).__name__
    counts = Counter(type(c).__name__ for c in children)
    return ", ".join(name if k == 1 else f"{k} {name}" for name, k in counts.items())


def group_units(learn):
    """The largest modules that lie wholly in one of ``learn``'s groups, in model order.

    A list of dicts ``{"path", "module", "group", "params", "contents"}``; ``group`` is None for
    parameters that no group holds (a splitter that forgot them: the optimizer never updates them).
    """
    return units_of(learn.model, _learner_groups(learn))


def units_of(model, groups):
    """``group_units`` for any model and list of parameter groups (e.g. a splitter's output)."""
    owner = {}
    for i, pg in enumerate(groups):
        for p in pg:
            owner.setdefault(id(p), i)
    units = []

    def visit(module, name):
        params = list(module.parameters())
        if not params:
            return
        found = {owner.get(id(p)) for p in params}
        if len(found) == 1:
            units.append({"path": _index_path(name), "module": module, "group": found.pop(),
                          "params": sum(p.numel() for p in params), "contents": _contents(module)})
            return
        for pname, p in module.named_parameters(recurse=False):
            units.append({"path": _index_path(f"{name}.{pname}" if name else pname), "module": None,
                          "group": owner.get(id(p)), "params": p.numel(), "contents": "Parameter"})
        for cname, child in module.named_children():
            visit(child, f"{name}.{cname}" if name else cname)

    visit(model, "")
    return units


def group_rows(learn, names=None):
    """One dict per layer group: name, layers, contents, parameter counts, whether it trains, its state."""
    names = names or group_names(learn)
    counts, trains, units = group_params(learn), group_trains(learn), group_units(learn)
    rows = []
    for i, (c, t) in enumerate(zip(counts, trains)):
        mine = [u for u in units if u["group"] == i]
        if t:
            state = "trains"
        elif c["norm_trainable"]:
            state = "frozen (BatchNorm trains)"
        else:
            state = "frozen"
        rows.append({"group": i, "name": names[i] if i < len(names) else f"group {i}",
                     "layers": ", ".join(u["path"] for u in mine),
                     "contains": "; ".join(u["contents"] for u in mine),
                     "params": c["params"], "trainable params": c["trainable"], "trains": t, "state": state})
    return rows


def group_table(learn, names=None, contents=False):
    """A DataFrame, one row per layer group: group, name, layers, params, trainable params, trains, state.

    ``contents=True`` adds what each layer holds (e.g. ``Conv2d, BatchNorm2d``).
    """
    df = pd.DataFrame(group_rows(learn, names))
    if not contents:
        df = df.drop(columns="contains")
    return df.set_index("group")


def check_splitter_output(groups, model):
    """Validate what a splitter returned: a list of parameter lists, every parameter exactly once.

    Returns the groups as lists; raises ValueError with what is wrong (and how to fix it).
    """
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


def training_step_flops(learn, batch=None):
    """Floating-point operations of one training step on ``batch`` (default: one training batch).

    Counted by ``torch.utils.flop_counter`` (convolutions and matrix products, which dominate),
    for the forward pass and for the backward pass that the current freezing makes necessary.
    Returns ``{"forward", "backward", "total"}``. Leaves the model as it was: no gradients, the
    same BatchNorm running statistics, the same train/eval mode.
    """
    from torch.utils.flop_counter import FlopCounterMode
    xb, yb = batch if batch is not None else learn.dls.train.one_batch()
    model = learn.model
    was_training = model.training
    saved = {k: v.clone() for k, v in model.state_dict().items() if "running_" in k or "num_batches" in k}
    model.train()
    try:
        with FlopCounterMode(display=False) as counter:
            loss = learn.loss_func(model(xb), yb)
            forward = counter.get_total_flops()
            if loss.requires_grad:
                loss.backward()
            total = counter.get_total_flops()
    finally:
        for p in model.parameters():
            p.grad = None
        model.load_state_dict(saved, strict=False)
        model.train(was_training)
    return {"forward": int(forward), "backward": int(total - forward), "total": int(total)}


class EpochTimer(Callback):
    """Times the training phase of each epoch (wall clock, validation excluded).

    Pass one to ``fit``; ``wall_s`` lists one duration per epoch and ``median_s`` summarises
    them. On a GPU it waits for queued work before reading the clock.
    """

    order = 0

    def __init__(self):
        self.wall_s = []

    def _sync(self):
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def before_train(self):
        self._sync()
        self._t0 = time.perf_counter()

    def after_train(self):
        self._sync()
        self.wall_s.append(time.perf_counter() - self._t0)

    @property
    def median_s(self):
        """The median epoch time, the robust summary on a machine that other programs share."""
        if not self.wall_s:
            raise ValueError("no epoch timed yet: pass the timer to fit, e.g. learn.fit(3, cbs=timer)")
        return float(np.median(self.wall_s))
