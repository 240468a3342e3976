"""Keep every epoch's metrics across several ``fit`` calls (fastai's Recorder resets at each fit).

``fine_tune`` is two fits (frozen, then unfrozen); ``EpochHistory`` sees both, so a lesson can
plot one learning curve per run.
"""
from fastai.callback.core import Callback
from fastai.learner import Recorder


class EpochHistory(Callback):
    """Appends ``{"epoch", "train_loss", "valid_loss", <metrics>, "frozen_groups"}`` after each epoch."""

    order = Recorder.order + 1

    def __init__(self):
        self.rows = []

    def before_train(self):
        self._trained = True

    def after_epoch(self):
        # learn.validate() fires before_fit/after_epoch too, but never before_train: skip those
        if not getattr(self, "_trained", False):
            return
        self._trained = False
        names = [n for n in self.recorder.metric_names[1:] if n != "time"]
        values = self.recorder.values[-1] if self.recorder.values else []
        row = {"epoch": len(self.rows) + 1, **dict(zip(names, (float(v) for v in values)))}
        row["frozen_groups"] = getattr(self.opt, "frozen_idx", 0)
        self.rows.append(row)


def attach_history(learn):
    """Add an ``EpochHistory`` to ``learn`` (once) and return it."""
    existing = [cb for cb in learn.cbs if isinstance(cb, EpochHistory)]
    if existing:
        return existing[0]
    cb = EpochHistory()
    learn.add_cb(cb)
    return cb
