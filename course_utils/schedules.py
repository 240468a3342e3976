"""Gradual unfreezing (ULMFiT, Howard & Ruder 2018) as a loop over fastai calls.

Lesson 04 writes the schedule out by hand first::

    learn.fit_one_cycle(1, slice(lr), pct_start=0.99)        # stage 1: head only (vision_learner froze the body)
    learn.freeze_to(-2); learn.fit_one_cycle(1, slice(lr / 200, lr / 2), pct_start=0.3, div=5)
    learn.freeze_to(-3); ...                                 # one more layer group per stage
    learn.unfreeze();    ...                                 # last stage: everything

``gradual_unfreeze`` is only that loop. Its learning rates are exactly ``fine_tune``'s (the head
stage at ``base_lr``, every later stage at ``slice(base_lr / 2 / lr_mult, base_lr / 2)``), so
``fine_tune(e, freeze_epochs=1)`` is the two-stage special case ``[1, e]`` with the middle stages
left out, and a comparison between them is about the schedule, not the rates.
"""
import numpy as np
import torch
from fastai.callback.core import Callback, CancelValidException
from fastai.learner import Recorder


def n_layer_groups(learn):
    """How many layer groups ``learn``'s splitter makes (5 for the quick tier's MiniResNet)."""
    return len(learn.splitter(learn.model))


def _is_whole(n):
    return not isinstance(n, bool) and isinstance(n, (int, np.integer))


def check_schedule(epochs_per_stage, n_groups):
    """Return ``epochs_per_stage`` as a list of ints, or raise one ValueError saying what is wrong.

    Stage ``i`` (1-based) trains the last ``i`` layer groups, so there can be at most ``n_groups``
    stages, each with a positive whole number of epochs.
    """
    if not _is_whole(n_groups) or n_groups < 1:
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
    bad = [(i, e) for i, e in enumerate(epochs, 1) if not _is_whole(e) or e < 1]
    if bad:
        i, e = bad[0]
        raise ValueError(f"every stage needs a positive whole number of epochs; stage {i} has {e!r}")
    return [int(e) for e in epochs]


def uniform_schedule(epochs_per_stage, n_stages, n_groups):
    """``[epochs_per_stage] * n_stages``, checked (the widget's two sliders)."""
    if not _is_whole(n_stages) or n_stages < 1:
        raise ValueError(f"the number of stages must be a positive whole number, got {n_stages!r}")
    return check_schedule([epochs_per_stage] * n_stages, n_groups)


def stage_plan(epochs_per_stage, n_groups):
    """``[(freeze_to argument, epochs), ...]``: what each stage calls, e.g. ``[(-1, 1), (-2, 1), ...]``."""
    epochs = check_schedule(epochs_per_stage, n_groups)
    return [(-i, e) for i, e in enumerate(epochs, 1)]


def gradual_unfreeze(learn, epochs_per_stage, base_lr=2e-3, lr_mult=100, pct_start=0.3, div=5.0, **kwargs):
    """Train ``learn`` stage by stage: stage ``i`` calls ``freeze_to(-i)`` then ``fit_one_cycle``.

    ``epochs_per_stage`` is a list, one entry per stage, e.g. ``[1, 1, 1, 1, 1]`` for the five
    groups of the MiniResNet. Learning rates follow ``fine_tune``: stage 1 (head only) uses
    ``base_lr``, later stages ``slice(base_lr / 2 / lr_mult, base_lr / 2)``. Extra keyword
    arguments go to every ``fit_one_cycle``. Returns the plan it ran (see ``stage_plan``).
    """
    plan = stage_plan(epochs_per_stage, n_layer_groups(learn))
    for name, value, least in (("base_lr", base_lr, 0), ("lr_mult", lr_mult, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not value > least \
                or not np.isfinite(value):
            raise ValueError(f"{name} must be a finite number above {least}, got {value!r}"
                             + (" (earlier groups train lr_mult times more slowly than the head)" if least else ""))
    for n, epochs in plan:
        learn.freeze_to(n)
        if n == -1:
            learn.fit_one_cycle(epochs, slice(base_lr), pct_start=0.99, **kwargs)
        else:
            lr = base_lr / 2
            learn.fit_one_cycle(epochs, slice(lr / lr_mult, lr), pct_start=pct_start, div=div, **kwargs)
    return plan


class ValidateOnlyOnRequest(Callback):
    """Skip the validation pass fastai runs after every training epoch; ``learn.validate()`` still works.

    On the quick tier, scoring the 500 test images after each epoch costs about as much as the
    training itself. A comparison that only needs the final accuracy adds this callback
    (``vision_learner(..., cbs=ValidateOnlyOnRequest())``) and calls ``learn.validate()`` once at
    the end. Training is unchanged, bit for bit: starting a pass over a DataLoader draws one number
    from torch's global generator (the workers' base seed), so the callback draws that number too
    (``tests/test_unfreezing.py`` checks it). fastai's recorder logs no validation numbers for the
    skipped epochs, so train with ``learn.no_logging()``.
    """

    order = Recorder.order - 1  # before the recorder and the progress bar see the validation start

    def before_epoch(self):
        self.after_training = False

    def after_train(self):
        self.after_training = True  # a fit's epoch; learn.validate() runs no training phase

    def before_validate(self):
        if getattr(self, "after_training", False):
            self.after_training = False
            torch.empty((), dtype=torch.int64).random_()  # what the skipped DataLoader pass would draw
            raise CancelValidException
