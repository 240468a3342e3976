"""A "freeze up to group n" slider: it calls ``learn.freeze_to(n)`` and redraws the frozen-layer map.

The map is drawn into an ``ipywidgets.Image`` (PNG), so moving the slider sends no cell output:
a notebook can drive the widget from code and print ``explorer.summary()`` in a checked cell.
"""
import ipywidgets as W
import matplotlib.pyplot as plt
from IPython.display import display

from .layer_group_plots import figure_png, frozen_map_legend, plot_frozen_map
from .layer_groups import (check_group_index, frozen_groups, group_names, group_params, group_trains, n_groups,
                           trainable_params)


class FreezeExplorer:
    """Slider ``freeze_to`` (0 = ``unfreeze()``, last = ``freeze()``) and a ``train_bn`` switch for ``learn``.

    The slider starts where ``learn`` is (or at ``n``). It changes ``learn`` itself (its frozen
    groups, and its optimizer when ``train_bn`` is switched), so give it a learner you are not
    training. ``explorer.set(n)`` and ``explorer.set_train_bn(flag)`` do from code what the
    controls do; ``explorer.state`` and ``explorer.summary()`` report the result.
    """

    def __init__(self, learn, n=None, names=None):
        if not hasattr(learn, "freeze_to") or not hasattr(learn, "model"):
            raise ValueError(f"FreezeExplorer needs a fastai Learner, got {type(learn).__name__}")
        self.learn = learn
        self.groups = n_groups(learn)
        if self.groups < 2:
            raise ValueError(f"this learner has {self.groups} layer group; freezing needs at least two "
                             "(give vision_learner or Learner a splitter)")
        self.names = list(names) if names is not None else group_names(learn)
        if len(self.names) != self.groups:
            raise ValueError(f"names must give one name per layer group: this learner has {self.groups} groups, "
                             f"got {len(self.names)} names")
        self.n = self._check(min(frozen_groups(learn), self.groups - 1) if n is None else n)
        self._busy = False
        self.slider = W.IntSlider(value=self.n, min=0, max=self.groups - 1, description="freeze_to",
                                  continuous_update=False, style={"description_width": "initial"})
        self.bn_box = W.Checkbox(value=bool(learn.train_bn), description="train_bn", indent=False)
        self.status = W.HTML()
        self.image = W.Image(format="png")
        self.slider.observe(self._on_slider, names="value")
        self.bn_box.observe(self._on_bn, names="value")
        help_text = W.HTML(f"<small>0 = <code>unfreeze()</code>, {self.groups - 1} = <code>freeze()</code>: "
                           "<code>freeze_to(n)</code> freezes the groups before <i>n</i></small>")
        self.box = W.VBox([W.HBox([self.slider, self.bn_box]), help_text, self.status, self.image])
        self._apply()

    def _check(self, n):
        g = self.groups
        return check_group_index(n, g, what="freeze_to index",
                                 hint=f"freeze_to(n) freezes groups 0..n-1, so use 0 (= unfreeze()) to "
                                      f"{g - 1} (= freeze(), only the last group trains)")

    def _error(self, e):
        self.status.value = f"<b style='color:#b00'>{e}</b>"

    def set(self, n):
        """Freeze the groups before ``n`` (negative counts from the end) and redraw; bad ``n``: ValueError."""
        try:
            self.n = self._check(n)
        except ValueError as e:
            self._error(e)
            raise
        self._apply()
        return self.state

    def set_train_bn(self, flag):
        """Switch ``learn.train_bn`` (which rebuilds its optimizer) and redraw."""
        if not isinstance(flag, bool):
            e = ValueError(f"train_bn must be True or False, got {flag!r}")
            self._error(e)
            raise e
        self.learn.train_bn = flag
        self.learn.create_opt()  # force_train is set on BatchNorm parameters when the optimizer is made
        self._apply()
        return self.state

    def _on_slider(self, change):
        if not self._busy:
            self.set(change["new"])

    def _on_bn(self, change):
        if not self._busy:
            self.set_train_bn(change["new"])

    def _apply(self):
        self.learn.freeze_to(self.n)
        self._busy = True
        try:
            self.slider.value, self.bn_box.value = self.n, bool(self.learn.train_bn)
        finally:
            self._busy = False
        st = self.state
        self.status.value = "<br>".join(self.summary().split("\n"))
        fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * (self.groups + 1)), 2.5))
        plot_frozen_map(self.learn, ax=ax, title=f"learn.freeze_to({st['freeze_to']})", names=self.names)
        frozen_map_legend(ax)
        self.image.value = figure_png(fig)

    @property
    def state(self):
        """``freeze_to``, ``train_bn``, which groups train, trainable parameters (all, and BatchNorm in frozen groups)."""
        trains = group_trains(self.learn)
        counts = group_params(self.learn)
        return {
            "freeze_to": self.n,
            "train_bn": bool(self.learn.train_bn),
            "trains": trains,
            "trainable_params": trainable_params(self.learn),
            "total_params": sum(c["params"] for c in counts),
            "frozen_bn_trainable": sum(c["trainable"] for c, t in zip(counts, trains) if not t),
        }

    def summary(self):
        """The state in words, one fact per line."""
        st = self.state
        frozen = [i for i, t in enumerate(st["trains"]) if not t]
        training = [i for i, t in enumerate(st["trains"]) if t]
        lines = [f"learn.freeze_to({st['freeze_to']}) with train_bn={st['train_bn']}",
                 f"frozen groups: {frozen or 'none'}; training groups: {training or 'none'}",
                 f"trainable parameters: {st['trainable_params']:,} of {st['total_params']:,}"]
        if frozen:
            lines.append(f"of which BatchNorm in frozen groups: {st['frozen_bn_trainable']:,}")
        return "\n".join(lines)

    def _ipython_display_(self):
        display(self.box)
