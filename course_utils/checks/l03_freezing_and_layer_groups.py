"""Checks for lesson 03's exercises: which groups train, BatchNorm parameters in frozen groups, a splitter."""
from fastai.torch_core import norm_types

from . import NOT_ANSWERED, check_choice, check_mean_spread  # noqa: F401  (re-exported for the lesson)
from . import unanswered as _unanswered
from . import verdict as _verdict
from ..groups import check_splitter_output, count_trainable, group_counts, group_trains
from ..lessons.l03_freezing_and_layer_groups import units_of


def check_trains_last(learn, n_last=2):
    """Exercise: freeze ``learn`` so that exactly its last ``n_last`` layer groups train."""
    if not hasattr(learn, "freeze_to"):
        return _verdict(False, "", f"pass the Learner you froze, got {type(learn).__name__}")
    trains = group_trains(learn)
    g = len(trains)
    want = [False] * (g - n_last) + [True] * n_last
    k = sum(trains)
    if trains == want:
        return _verdict(True, f"groups 0..{g - n_last - 1} are frozen and the last {n_last} train: "
                              f"freeze_to(-{n_last}), the same as freeze_to({g - n_last}) here", "")
    if k == 0:
        return _verdict(False, "", "no group trains at all; freeze_to(n) freezes only the groups before n")
    if trains != sorted(trains):
        return _verdict(False, "", f"groups that train: {[i for i, t in enumerate(trains) if t]}; frozen groups "
                                   "must come first (input side): use learn.freeze_to, not requires_grad by hand")
    if k == 1:
        hint = "only the last group (the head) trains: that is learn.freeze()"
    elif k == g:
        hint = "every group trains: that is learn.unfreeze()"
    else:
        hint = f"{k} groups train, not {n_last}: freeze_to({g - k}) froze groups 0..{g - k - 1}"
    return _verdict(False, "", f"{hint}. freeze_to(n) freezes the groups before n; count from the end "
                               f"with a negative n to keep the last {n_last} trainable")


def _frozen_norm_buffers(learn, trains, with_counter):
    """Elements of BatchNorm buffers (running mean/var, optionally num_batches_tracked) in frozen groups."""
    frozen_ids = {id(p) for pg, t in zip(learn.opt.param_lists, trains) if not t for p in pg}
    total = 0
    for m in learn.model.modules():
        own = list(m.parameters(recurse=False))
        if isinstance(m, norm_types) and own and all(id(p) in frozen_ids for p in own):
            total += sum(b.numel() for n, b in m.named_buffers(recurse=False)
                         if with_counter or n != "num_batches_tracked")
    return total


def check_frozen_bn_params(answer, learn):
    """Exercise: how many parameters in ``learn``'s frozen groups will still be updated?"""
    if _unanswered(answer, "a number: the trainable parameters inside the frozen groups"):
        return NOT_ANSWERED
    if learn.opt is None:
        learn.create_opt()
    trains = group_trains(learn)
    counts = group_counts(learn)
    right = sum(c["trainable"] for c, t in zip(counts, trains) if not t)
    frozen_all = sum(c["params"] for c, t in zip(counts, trains) if not t)
    ok = f"{right:,} parameters train inside the frozen groups"
    if right and answer == right:
        return _verdict(True, ok + ": the BatchNorm weights and biases that train_bn=True keeps trainable", "")
    if answer == right:
        return _verdict(True, ok + ": with train_bn=False nothing in a frozen group trains", "")
    if answer == 0:
        return _verdict(False, "", "0 would be right with train_bn=False; fastai's default train_bn=True keeps the "
                                   "BatchNorm weights and biases of frozen groups trainable")
    if answer == count_trainable(learn):
        return _verdict(False, "", "that counts the groups that train as well; count only the frozen ones, "
                                   "learn.opt.param_lists[:learn.opt.frozen_idx]")
    if answer == frozen_all:
        return _verdict(False, "", "that is every parameter of the frozen groups; count only those with "
                                   "requires_grad=True")
    if answer in (right + _frozen_norm_buffers(learn, trains, True), right + _frozen_norm_buffers(learn, trains, False)):
        return _verdict(False, "", "running_mean and running_var are buffers, not parameters: the optimizer never "
                                   "updates them (BatchNorm does, in training mode); count parameters only")
    return _verdict(False, "", f"{answer!r} is not it; add p.numel() for the parameters p of the frozen groups "
                               "that have requires_grad=True")


def _paths(units):
    return ", ".join(u["path"] for u in units) or "nothing"


def check_splitter(splitter, model, expected):
    """Exercise: ``splitter(model)`` must return the groups ``expected`` (lists of module names, input first)."""
    if _unanswered(splitter, "a function model -> list of parameter groups"):
        return NOT_ANSWERED
    if not callable(splitter):
        return _verdict(False, "", f"a splitter is a function model -> groups, got {type(splitter).__name__}")
    try:
        groups = check_splitter_output(splitter(model), model)
    except ValueError as e:
        return _verdict(False, "", str(e))
    except Exception as e:  # the learner's own code failed: say how, without a traceback
        return _verdict(False, "", f"calling your splitter raised {type(e).__name__}: {e}")
    want = [[p for name in names for p in model.get_submodule(name).parameters()] for names in expected]
    got_sets, want_sets = [{id(p) for p in g} for g in groups], [{id(p) for p in g} for g in want]
    got_units, want_units = units_of(model, groups), units_of(model, want)

    def holds(units, i):
        return _paths([u for u in units if u["group"] == i])
    if got_sets == want_sets:
        sizes = ", ".join(f"{sum(p.numel() for p in g):,}" for g in groups)
        return _verdict(True, f"{len(groups)} groups, input to output, every parameter in exactly one "
                              f"(parameters per group: {sizes})", "")
    if sorted(map(sorted, got_sets)) == sorted(map(sorted, want_sets)):
        return _verdict(False, "", "the right groups in the wrong order: list them from the input to the head, "
                                   "because freeze() freezes every group but the last")
    if len(groups) != len(want):
        return _verdict(False, "", f"you made {len(groups)} groups, the exercise asks for {len(want)}: "
                                   + "; ".join(f"group {i} = {holds(want_units, i)}" for i in range(len(want))))
    i = next(i for i, (a, b) in enumerate(zip(got_sets, want_sets)) if a != b)
    return _verdict(False, "", f"group {i} holds {holds(got_units, i)} but should hold {holds(want_units, i)}")
