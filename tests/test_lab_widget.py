"""The strategy lab widget, driven from Python: Run in a thread, Stop, the table, a failed run."""
import course_utils  # noqa: F401
import threading

import torch

from course_utils.lab import widget as lab_widget
from course_utils.lab import StrategyLab
from course_utils.lab import ResultCache

torch.set_num_threads(1)


def small_lab(tmp_path, **kw):
    lab = StrategyLab(checked=("head only", "linear probe"), labels_per_class=1, epochs=1, n_seeds=1,
                      cache=tmp_path, **kw)
    return lab


def test_widget_contract(tmp_path):
    lab = small_lab(tmp_path)
    assert [b.description for b in lab.strategy_boxes][:3] == ["from scratch", "linear probe", "head only"]
    assert lab.run_button.description == "Run" and "lab-run" in lab.run_button._dom_classes
    assert lab.stop_button.description == "Stop" and "lab-stop" in lab.stop_button._dom_classes
    for name, cls in [("progress", "lab-progress"), ("status", "lab-status"), ("results", "lab-results"),
                      ("plots", "lab-plots")]:
        assert cls in getattr(lab, name)._dom_classes
    assert {"labels_per_class", "epochs", "n_seeds", "augment", "widget"} <= set(vars(lab))


def test_run_click_trains_in_a_thread_then_fills_table_and_plots(tmp_path):
    lab = small_lab(tmp_path)
    lab.run_button.click()
    assert lab.running or lab.progress.value == lab.progress.max
    assert lab._thread is not threading.current_thread()
    df = lab.wait(60)
    assert not lab.running and lab.error is None
    assert lab.progress.value == lab.progress.max == 2
    assert lab.results.value.count("<tr>") == 1 + 2             # header + one row per run
    assert lab.status.value.startswith("Done: 2 runs") and len(lab.plots.value) > 1000
    assert len(df) == 2 and len(ResultCache(tmp_path)) == 2
    lab.run()                                                   # again: everything from the cache
    lab.wait(30)
    assert "from the cache" in lab.status.value or lab.status.value.startswith("Done")


def test_stop_interrupts_and_keeps_finished_runs(tmp_path, monkeypatch):
    lab = small_lab(tmp_path)
    lab.epochs.value = 3
    original = lab._on_run

    def on_run(i, n, rows, cached):             # press Stop as soon as the first run is finished
        original(i, n, rows, cached)
        lab.stop_button.click()
    monkeypatch.setattr(lab, "_on_run", on_run)
    lab.run()
    lab.wait(60)
    assert lab.status.value.startswith("Stopped: 1 finished run")
    assert lab.results.value.count("<tr>") == 2 and len(ResultCache(tmp_path)) == 1
    assert not lab.run_button.disabled and lab.stop_button.disabled


def test_a_failed_run_shows_its_error_and_the_lab_survives(tmp_path, monkeypatch):
    lab = small_lab(tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory (simulated)")
    monkeypatch.setattr(lab_widget, "compare_strategies", broken)
    lab.run()
    lab.wait(30)
    assert "Run failed: RuntimeError: out of memory (simulated)" in lab.status.value
    assert isinstance(lab.error, RuntimeError) and not lab.run_button.disabled
    monkeypatch.undo()
    lab.run()
    lab.wait(60)
    assert lab.status.value.startswith("Done: 2 runs")


def test_nothing_ticked_says_so(tmp_path):
    lab = small_lab(tmp_path)
    for b in lab.strategy_boxes:
        b.value = False
    assert lab.run() is None and "Tick at least one strategy" in lab.status.value


def test_stop_in_the_middle_of_a_fit(tmp_path):
    """Stop pressed while a run trains: the fit is cancelled at its next batch, nothing half-done is kept."""
    from course_utils.lab import Strategy

    def train(learn, epochs, lr):
        learn.fit_one_cycle(1, lr)
        lab.stop_button.click()                 # the learner presses Stop during the run
        learn.fit_one_cycle(epochs - 1, lr)     # cancelled at its first batch
        fits.append(learn.recorder.values)

    fits = []
    lab = StrategyLab(strategies=[Strategy("stops itself", train), "head only"], checked=("stops itself",),
                      labels_per_class=1, epochs=3, n_seeds=1, cache=tmp_path)
    lab.run()
    lab.wait(60)
    assert lab.status.value.startswith("Stopped: 0 finished run(s)")
    assert fits == [[]] and len(ResultCache(tmp_path)) == 0 and lab.frame.empty
    lab.strategy_boxes[0].value, lab.strategy_boxes[1].value = False, True
    lab.run()                                   # the lab is still usable
    lab.wait(60)
    assert lab.status.value == "Done: 1 run."
