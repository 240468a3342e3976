"""Lesson 05's plumbing: per-group learning rates read back from fastai, ULMFiT's ÷2.6 rule, checks, widget."""
import math

import matplotlib
import numpy as np
import pytest
from fastai.vision.all import accuracy, vision_learner

import course_utils as cu
from course_utils.checks import l05_discriminative_learning_rates as checks
from course_utils.lessons.l05_discriminative_learning_rates import (DiscriminativeLRExplorer, GroupLRRecorder,
                                                                    check_lr_range, geometric_lrs, group_lrs, lrs_for,
                                                                    plot_group_lr_schedule, plot_group_lrs, ratios)

mini_resnet, digits_dls, seed_everything = cu.mini_resnet, cu.digits_dls, cu.seed_everything
ulmfit_lrs, ulmfit_slice = cu.ulmfit_lrs, cu.ulmfit_slice


matplotlib.use("Agg")


@pytest.fixture(scope="module")
def learn():
    return vision_learner(digits_dls(2, seed=0), mini_resnet, metrics=accuracy)


# --- the rules ---------------------------------------------------------------------------------

def test_geometric_spacing():
    lrs = geometric_lrs(1e-4, 1e-2, 5)
    assert lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(1e-2)
    assert ratios(lrs) == pytest.approx([10 ** 0.5] * 4)
    assert geometric_lrs(1e-3, 1e-3, 3) == pytest.approx([1e-3] * 3)
    assert geometric_lrs(1e-4, 1e-2, 1) == [1e-2]


def test_ulmfit_rule():
    lrs = ulmfit_lrs(1e-2, 5)
    assert lrs[-1] == pytest.approx(1e-2) and lrs[0] == pytest.approx(1e-2 / 2.6 ** 4)
    assert ratios(lrs) == pytest.approx([2.6] * 4)
    s = ulmfit_slice(1e-2, 5)
    assert geometric_lrs(s.start, s.stop, 5) == pytest.approx(lrs)
    assert ulmfit_lrs(1e-2, 3, factor=1) == pytest.approx([1e-2] * 3)


@pytest.mark.parametrize("lo, hi, msg", [
    (1e-2, 1e-4, "must not exceed hi"),
    (0, 1e-2, "positive"),
    (-1e-4, 1e-2, "positive"),
    (1e-4, 0.0, "positive"),
    (1e-4, float("nan"), "finite"),
    (1e-4, float("inf"), "finite"),
    ("1e-4", 1e-2, "positive number"),
    (None, 1e-2, "positive number"),
    (True, 1e-2, "positive number"),
    (1e-4, [1e-2], "positive number"),
])
def test_bad_ranges_are_one_clear_value_error(lo, hi, msg):
    with pytest.raises(ValueError, match=msg):
        check_lr_range(lo, hi)
    with pytest.raises(ValueError, match=msg):
        geometric_lrs(lo, hi, 5)


@pytest.mark.parametrize("hi, n, factor", [(0, 5, 2.6), (-1, 5, 2.6), ("x", 5, 2.6), (1e-2, 0, 2.6),
                                           (1e-2, 2.5, 2.6), (1e-2, True, 2.6), (1e-2, 5, 0.5), (1e-2, 5, "2.6")])
def test_ulmfit_refuses_bad_input(hi, n, factor):
    with pytest.raises(ValueError):
        ulmfit_lrs(hi, n, factor)


def test_numpy_numbers_are_fine():
    assert check_lr_range(np.float32(1e-4), np.int64(1)) == (pytest.approx(1e-4), 1.0)


# --- reading back what fastai set --------------------------------------------------------------

def test_readback_matches_fastai_spacing(learn):
    assert lrs_for(learn, slice(1e-4, 1e-2)) == pytest.approx(geometric_lrs(1e-4, 1e-2, 5))
    assert group_lrs(learn) == pytest.approx(geometric_lrs(1e-4, 1e-2, 5))
    assert lrs_for(learn, slice(1e-2)) == pytest.approx([1e-3] * 4 + [1e-2])   # slice(hi): hi/10 below the head
    assert lrs_for(learn, 3e-3) == pytest.approx([3e-3] * 5)


@pytest.mark.parametrize("bad", [slice(1e-2, 1e-4), slice(0, 1e-2), slice(None, -1.0), -1e-3, "1e-3"])
def test_readback_refuses_bad_rates(learn, bad):
    with pytest.raises(ValueError):
        lrs_for(learn, bad)


def test_group_lrs_creates_the_optimizer():
    fresh = vision_learner(digits_dls(1, seed=0), mini_resnet)
    fresh.opt = None
    assert len(group_lrs(fresh)) == 5


def test_recorder_sees_the_one_cycle_peak_per_group():
    seed_everything(0)
    lrn = vision_learner(digits_dls(1, seed=0), mini_resnet, metrics=accuracy)
    rec = GroupLRRecorder()
    with lrn.no_bar(), lrn.no_logging():
        lrn.fit_one_cycle(1, slice(1e-4, 1e-2), cbs=rec)
    assert len(rec.rows) == len(lrn.dls.train) and len(rec.rows[0]) == 5
    assert ratios(rec.peak) == pytest.approx([10 ** 0.5] * 4)               # every group follows the same cycle
    assert all(p <= m * (1 + 1e-6) for p, m in zip(rec.peak, geometric_lrs(1e-4, 1e-2, 5)))
    assert rec.rows[0] == pytest.approx([v / 25 for v in geometric_lrs(1e-4, 1e-2, 5)])   # warm-up from lr_max / 25
    with lrn.no_bar(), lrn.no_logging():
        lrn.fit(1, slice(1e-5, 1e-3), cbs=rec)                                # constant rates: rows restart per fit
    assert len(rec.rows) == len(lrn.dls.train)
    assert rec.peak == pytest.approx(geometric_lrs(1e-5, 1e-3, 5))
    with pytest.raises(ValueError, match="no training batch"):
        GroupLRRecorder().peak


# --- plots ----------------------------------------------------------------------------------------

def test_plots_draw_and_refuse_bad_input():
    ax = plot_group_lrs({"a": geometric_lrs(1e-4, 1e-2, 5), "b": ulmfit_lrs(1e-2, 5)}, title="t")
    assert ax.get_yscale() == "log" and len(ax.lines) == 2
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"group {i}" for i in range(5)]
    names = ["stem + stage1", "stage2", "stage3", "stage4", "head"]
    ax = plot_group_lrs({"a": ulmfit_lrs(1e-2, 5)}, names=names)
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    ax = plot_group_lr_schedule([[1e-4, 1e-3], [2e-4, 2e-3]])
    assert len(ax.lines) == 2
    with pytest.raises(ValueError):
        plot_group_lrs({})
    with pytest.raises(ValueError, match="one rate per layer group"):
        plot_group_lrs({"a": [1, 2], "b": [1, 2, 3]})
    with pytest.raises(ValueError):
        plot_group_lr_schedule([])


# --- exercise checks ------------------------------------------------------------------------------

def test_check_slice_lrs(learn, capsys):
    right = geometric_lrs(1e-5, 1e-3, 5)
    assert checks.check_slice_lrs(right, learn, 1e-5, 1e-3)
    assert not checks.check_slice_lrs(right[::-1], learn, 1e-5, 1e-3)
    assert not checks.check_slice_lrs(list(np.linspace(1e-5, 1e-3, 5)), learn, 1e-5, 1e-3)
    assert not checks.check_slice_lrs(right[:3], learn, 1e-5, 1e-3)
    assert not checks.check_slice_lrs("fast", learn, 1e-5, 1e-3)
    assert not checks.check_slice_lrs(..., learn, 1e-5, 1e-3)
    out = capsys.readouterr().out
    for s in ("✓", "reversed", "linspace", "5 layer groups", "list of 5 numbers", "not answered yet"):
        assert s in out


def test_check_ulmfit_lrs(capsys):
    right = ulmfit_lrs(1e-2, 5)
    assert checks.check_ulmfit_lrs(right, 1e-2, 5)
    assert not checks.check_ulmfit_lrs(right[::-1], 1e-2, 5)
    assert not checks.check_ulmfit_lrs([1e-2 * 2.6 ** (4 - i) for i in range(5)], 1e-2, 5)
    assert not checks.check_ulmfit_lrs([1e-2] * 5, 1e-2, 5)
    assert not checks.check_ulmfit_lrs([1e-2, -1, 1, 1, 1], 1e-2, 5)
    out = capsys.readouterr().out
    assert "reversed" in out and "divides" in out and "positive" in out


def test_check_ulmfit_slice(learn, capsys):
    assert checks.check_ulmfit_slice(slice(1e-2 / 2.6 ** 4, 1e-2), learn, 1e-2)
    assert not checks.check_ulmfit_slice(slice(1e-2 / 2.6 ** 5, 1e-2), learn, 1e-2)
    assert not checks.check_ulmfit_slice(slice(1e-2 / 2.6 ** 4, 1e-3), learn, 1e-2)
    assert not checks.check_ulmfit_slice(slice(1e-2), learn, 1e-2)
    assert not checks.check_ulmfit_slice(slice(1e-1, 1e-2), learn, 1e-2)   # lo > hi: a message, no exception
    assert not checks.check_ulmfit_slice(1e-2, learn, 1e-2)
    out = capsys.readouterr().out
    assert "4 steps" in out and "stop" in out and "must not exceed" in out and "both ends" in out


# --- widget ---------------------------------------------------------------------------------------

def _explorer(calls=None):
    calls = [] if calls is None else calls
    return DiscriminativeLRExplorer(lambda lo, hi: geometric_lrs(lo, hi, 5),
                                    lambda lo, hi: calls.append((lo, hi)) or 0.5, lo=1e-4, hi=1e-2)


def test_widget_redraws_when_a_slider_moves():
    ex = _explorer()
    first = ex.redraws
    assert ex.current_lrs == pytest.approx(geometric_lrs(1e-4, 1e-2, 5))
    ex.hi_slider.value = 1e-1
    assert ex.redraws == first + 1 and ex.current_lrs[-1] == pytest.approx(1e-1)
    ex.set_range(1e-5, 1e-3)
    assert ex.redraws == first + 2 and ex.current_lrs == pytest.approx(geometric_lrs(1e-5, 1e-3, 5))
    ex.lo_slider.value = 1e-1                                    # lo above hi: a message, no plot, no exception
    assert ex.current_lrs is None and "must not exceed" in ex.status.value


def test_widget_run_adds_rows_and_refuses_bad_ranges():
    calls = []
    ex = _explorer(calls)
    ex.button.click()
    ex.run(1e-5, 1e-3)
    assert calls == [(1e-4, 1e-2), (1e-5, 1e-3)]
    assert ex.results["head/first"].tolist() == [100.0, 100.0] and ex.results["accuracy"].tolist() == [0.5, 0.5]
    assert "validation accuracy 0.500" in ex.status.value      # the widget chooses rates, so it reports validation
    for lo, hi in [(1e-2, 1e-4), (0, 1e-2), ("a", 1e-2)]:
        with pytest.raises(ValueError):
            ex.run(lo, hi)
        with pytest.raises(ValueError):
            ex.set_range(lo, hi)
    assert len(ex.results) == 2 and not ex.button.disabled


def test_widget_survives_a_failing_run_and_needs_functions():
    def boom(lo, hi):
        raise RuntimeError("diverged")
    ex = DiscriminativeLRExplorer(lambda lo, hi: [lo, hi], boom)
    with pytest.raises(RuntimeError):
        ex.run()
    assert not ex.button.disabled and "Run failed" in ex.status.value
    with pytest.raises(ValueError, match="must be functions"):
        DiscriminativeLRExplorer("no", boom)
    with pytest.raises(ValueError):
        DiscriminativeLRExplorer(lambda lo, hi: [lo, hi], boom, lo=1, hi=0.1)
    nan_run = DiscriminativeLRExplorer(lambda lo, hi: [lo, hi], lambda lo, hi: math.nan)
    assert math.isnan(nan_run.run())


def test_checks_show_nothing_as_a_cells_last_value(learn, capsys):
    """nbval ignores a trailing ';', so a check's result must display nothing by itself."""
    for v in (checks.check_ulmfit_lrs(ulmfit_lrs(1e-2, 5), 1e-2, 5), checks.check_ulmfit_lrs(..., 1e-2, 5),
              checks.check_slice_lrs(..., learn, 1e-5, 1e-3), checks.check_ulmfit_slice(..., learn, 1e-2)):
        assert hasattr(v, "_ipython_display_")
