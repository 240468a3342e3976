"""The strategy lab's widget: pick strategies and a setting, press Run, watch the table and plots fill in."""
import html
import threading

import ipywidgets as W
import pandas as pd
from IPython.display import display
from matplotlib.figure import Figure

from ..config import check_positive_int, check_seed
from ..plots import figure_png
from .runs import ResultCache
from .plots import lab_figure
from .runs import COLUMNS, compare_strategies, final_epoch
from .strategies import STRATEGIES, get_strategy

MAX_EPOCHS = 15
DEFAULT_CHECKED = ("linear probe", "head only", "fine_tune", "discriminative", "gradual", "LP-FT")


def _with_class(widget, name):
    widget.add_class(name)
    return widget


def _num(value, spec=".3f"):
    return "" if pd.isna(value) else format(value, spec)


def results_html(df):
    """An HTML table with one row per finished run (strategy x seed): its rate, validation and test accuracy,
    source accuracy both ways (source head reattached / probe refitted), seconds."""
    head = ("<tr><th>strategy</th><th>aug</th><th>labels/class</th><th>seed</th><th>lr</th><th>valid acc.</th>"
            "<th>test acc.</th><th>source (head)</th><th>source (probe)</th><th>seconds</th></tr>")
    rows = [f"<tr><td>{html.escape(r.strategy)}</td><td>{'yes' if r.augment else 'no'}</td>"
            f"<td>{r.labels_per_class}</td><td>{r.seed}</td><td>{_num(r.lr, 'g')}</td><td>{_num(r.accuracy)}</td>"
            f"<td>{_num(r.test_accuracy)}</td><td>{_num(r.source_accuracy)}</td><td>{_num(r.source_probe_accuracy)}</td>"
            f"<td>{r.wall_seconds:.1f}</td></tr>" for r in (final_epoch(df).itertuples() if not df.empty else [])]
    return f"<table class='lab-table'>{head}{''.join(rows)}</table>"


class StrategyLab:
    """Checkboxes for strategies, sliders for labels per class, epochs and seeds, augmentation, Run and Stop.
    ``lr``: one rate, or ``{strategy: rate}`` as ``lab.tune_rates`` chose them (the tier's rate otherwise)."""

    def __init__(self, strategies=None, checked=DEFAULT_CHECKED, labels_per_class=10, epochs=5, n_seeds=3,
                 augment=False, seeds=(0, 1, 2, 3, 4), k_max=50, data=None, cache=None, lr=None):
        self.strategies = {st.name: st for st in (get_strategy(s) for s in (strategies or list(STRATEGIES)))}
        names = list(self.strategies)
        if checked is DEFAULT_CHECKED:   # the default ticks whichever of its names this lab has
            checked = [n for n in checked if n in self.strategies]
        unknown = [n for n in checked if n not in self.strategies]
        if unknown:
            raise ValueError(f"checked: {unknown} are not among the lab's strategies {names}")
        seeds = [check_seed(s, "each of seeds") for s in seeds]
        if not seeds:
            raise ValueError("seeds: give at least one seed for the seed slider to pick from")
        k_max = check_positive_int(k_max, "k_max")
        for value, name, hi in [(labels_per_class, "labels_per_class", k_max), (epochs, "epochs", MAX_EPOCHS),
                                (n_seeds, "n_seeds", len(seeds))]:
            if check_positive_int(value, name) > hi:
                raise ValueError(f"{name} must be between 1 and {hi} (the slider's range), got {value}")
        self.data, self.cache, self.lr, self.seeds = data, cache, lr, seeds
        self.strategy_boxes = [W.Checkbox(value=n in checked, description=n, indent=False,
                                          layout=W.Layout(width="150px")) for n in names]
        style = {"description_width": "initial"}
        self.labels_per_class = W.IntSlider(value=labels_per_class, min=1, max=k_max, description="labels/class",
                                            continuous_update=False, style=style)
        self.epochs = W.IntSlider(value=epochs, min=1, max=MAX_EPOCHS, description="epochs", continuous_update=False,
                                  style=style)
        self.n_seeds = W.IntSlider(value=n_seeds, min=1, max=len(seeds), description="seeds",
                                   continuous_update=False, style=style)
        self.augment = W.Checkbox(value=augment, description="augmentation", indent=False)
        self.run_button = _with_class(W.Button(description="Run", button_style="primary", icon="play"), "lab-run")
        self.stop_button = _with_class(W.Button(description="Stop", button_style="warning", icon="stop",
                                                disabled=True), "lab-stop")
        self.progress = _with_class(W.IntProgress(value=0, min=0, max=1, description="runs"), "lab-progress")
        self.status = _with_class(W.HTML("Tick strategies, choose a setting, then press Run."), "lab-status")
        self.results = _with_class(W.HTML(results_html(pd.DataFrame(columns=COLUMNS))), "lab-results")
        self.plots = _with_class(W.Image(format="png"), "lab-plots")
        self.frame = pd.DataFrame(columns=COLUMNS)
        self.error = None
        self._stop = threading.Event()
        self._thread = None
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())
        boxes = W.GridBox(self.strategy_boxes, layout=W.Layout(grid_template_columns="repeat(3, 160px)"))
        self.widget = W.VBox([boxes, W.HBox([self.labels_per_class, self.epochs]), W.HBox([self.n_seeds, self.augment]),
                              W.HBox([self.run_button, self.stop_button, self.progress]), self.status, self.results,
                              self.plots])

    # ---- state -----------------------------------------------------------------------------
    @property
    def chosen(self):
        """The ticked strategies' names."""
        return [b.description for b in self.strategy_boxes if b.value]

    @property
    def running(self):
        return self._thread is not None and self._thread.is_alive()

    def settings(self):
        """What Run would run: ``dict(strategies, seeds, labels_per_class, epochs, augment)``."""
        return {"strategies": self.chosen, "seeds": self.seeds[:self.n_seeds.value],
                "labels_per_class": self.labels_per_class.value, "epochs": self.epochs.value,
                "augment": self.augment.value}

    # ---- actions ---------------------------------------------------------------------------
    def run(self):
        """Start the chosen runs in a background thread (what the Run button does); returns the thread."""
        if self.running:
            self.status.value = "Already running: press Stop first, or wait."
            return self._thread
        settings = self.settings()
        if not settings["strategies"]:
            self.status.value = "<b style='color:#b00'>Tick at least one strategy, then press Run.</b>"
            return None
        self._stop.clear()
        self.error = None
        self.frame = pd.DataFrame(columns=COLUMNS)
        self.results.value = results_html(self.frame)
        n = len(settings["strategies"]) * len(settings["seeds"])
        self.progress.max, self.progress.value = n, 0
        self.run_button.disabled, self.stop_button.disabled = True, False
        self.status.value = f"Running {n} runs..."
        self._thread = threading.Thread(target=self._work, args=(settings,), daemon=True, name="strategy-lab")
        self._thread.start()
        return self._thread

    def stop(self):
        """Interrupt at the next batch (what the Stop button does); finished runs are kept."""
        if self.running:
            self._stop.set()
            self.status.value = "Stopping at the next batch..."

    def wait(self, timeout=None):
        """Block until the current run finishes (or ``timeout`` seconds pass); returns ``lab.frame``."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.frame

    # ---- the background thread ---------------------------------------------------------------
    def _report(self, message):
        self.status.value = f"<span style='color:#a60'>{html.escape(message)}</span>"

    def _on_run(self, i, n, rows, cached):
        self.frame = pd.concat([self.frame, pd.DataFrame(rows, columns=COLUMNS)], ignore_index=True) \
            if not self.frame.empty else pd.DataFrame(rows, columns=COLUMNS)
        self.progress.value = i
        self.results.value = results_html(self.frame)
        last = rows[-1]
        self.status.value = (f"{i}/{n} done: {html.escape(last['strategy'])}, seed {last['seed']}: validation accuracy "
                             f"{last['accuracy']:.3f}{' (from the cache)' if cached else ''}")

    def _work(self, settings):
        try:
            cache = self.cache if self.cache is False or isinstance(self.cache, ResultCache) \
                else ResultCache(self.cache, report=self._report)
            df = compare_strategies([self.strategies[n] for n in settings["strategies"]], settings["seeds"],
                                    settings["labels_per_class"],
                                    settings["epochs"], lr=self.lr, augment=settings["augment"], data=self.data,
                                    cache=cache, stop=self._stop, on_run=self._on_run)
            self.frame = df
            runs = len(final_epoch(df)) if not df.empty else 0
            if not df.empty:
                self.plots.value = figure_png(lab_figure(df, figure=Figure), dpi=72)   # no pyplot: safe in a thread
            if df.attrs.get("stopped"):
                self.status.value = f"Stopped: {runs} finished run(s) kept (in the table and the cache)."
            else:
                self.status.value = f"Done: {runs} run{'' if runs == 1 else 's'}."
        except Exception as e:   # a failed run must not kill the lab: say what happened, keep what finished
            self.error = e
            self.status.value = (f"<b style='color:#b00'>Run failed: {type(e).__name__}: {html.escape(str(e))}</b>"
                                 f" ({len(final_epoch(self.frame)) if not self.frame.empty else 0} finished run(s) kept)")
        finally:
            self.run_button.disabled, self.stop_button.disabled = False, True

    def _ipython_display_(self):
        display(self.widget)
