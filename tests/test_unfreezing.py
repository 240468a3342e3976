"""Lesson 04's plumbing: the gradual-unfreezing loop, forgetting and drift measures, plots, widget, checks."""
import matplotlib
import pytest
import torch
from fastai.vision.all import accuracy, vision_learner

from course_utils import SkipValidation as ValidateOnlyOnRequest
from course_utils import n_groups as n_layer_groups
from course_utils import (check_schedule, digits_dls, gradual_unfreeze, group_trains, heldout_source_data, mini_resnet,
                          plot_gain_vs_forgetting, seed_everything, source_accuracy, stage_plan)
from course_utils.checks import l04_gradual_unfreezing as checks
from course_utils.lessons.l04_gradual_unfreezing import (ScheduleExplorer, plot_drift, plot_stage_grid,
                                                         relative_distance, snapshot_groups, uniform_schedule,
                                                         weight_drift)

matplotlib.use("Agg")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The tiny model trains as fast on one thread, and far faster when the machine is busy."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _learner(k=1, seed=0, cbs=None):
    seed_everything(seed)
    return vision_learner(digits_dls(k, seed=seed), mini_resnet, metrics=accuracy, cbs=cbs)


@pytest.fixture(scope="module")
def learn():
    return _learner()


# --- schedules -------------------------------------------------------------------------------

def test_stage_plan_unfreezes_one_group_per_stage():
    assert stage_plan([1, 2, 3], 5) == [(-1, 1), (-2, 2), (-3, 3)]
    assert check_schedule((1, 1, 1, 1, 1), 5) == [1, 1, 1, 1, 1]
    assert uniform_schedule(2, 3, 5) == [2, 2, 2]


@pytest.mark.parametrize("bad, match", [
    ([], "empty"),
    ([1, 0], "stage 2 has 0"),
    ([1, -1], "positive whole number of epochs"),
    ([1, 1.5], "stage 2 has 1.5"),
    ([1, True], "positive whole number"),
    ([1] * 6, "6 stages but the model has only 5 layer groups"),
    (3, "list of epochs per stage"),
    (None, "list of epochs per stage"),
])
def test_bad_schedules_are_one_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        check_schedule(bad, 5)


@pytest.mark.parametrize("epochs, stages, match", [(0, 2, "stage 1 has 0"), (1, 0, "number of stages"),
                                                   (1, 6, "6 stages"), (1, 2.0, "number of stages")])
def test_uniform_schedule_refuses_bad_sliders(epochs, stages, match):
    with pytest.raises(ValueError, match=match):
        uniform_schedule(epochs, stages, 5)


class FakeLearner:
    """Records the calls gradual_unfreeze makes, without training."""

    def __init__(self, n_groups=5):
        self.n, self.calls = n_groups, []
        self.model = None

    def splitter(self, model):
        return [[]] * self.n

    def freeze_to(self, n):
        self.calls.append(("freeze_to", n))

    def fit_one_cycle(self, epochs, lr, **kw):
        self.calls.append(("fit_one_cycle", epochs, (lr.start, lr.stop), kw))


def test_gradual_unfreeze_makes_fine_tunes_calls_stage_by_stage():
    fake = FakeLearner()
    plan = gradual_unfreeze(fake, [1, 2, 1], base_lr=1e-2)
    assert plan == [(-1, 1), (-2, 2), (-3, 1)]
    assert fake.calls == [
        ("freeze_to", -1), ("fit_one_cycle", 1, (None, 1e-2), {"pct_start": 0.99}),
        ("freeze_to", -2), ("fit_one_cycle", 2, (5e-5, 5e-3), {"pct_start": 0.3, "div": 5.0}),
        ("freeze_to", -3), ("fit_one_cycle", 1, (5e-5, 5e-3), {"pct_start": 0.3, "div": 5.0}),
    ]


def test_gradual_unfreeze_with_lr_mult_1_gives_every_group_one_rate():
    fake = FakeLearner()
    gradual_unfreeze(fake, [1, 1], base_lr=1e-2, lr_mult=1)
    assert fake.calls[-1] == ("fit_one_cycle", 1, (5e-3, 5e-3), {"pct_start": 0.3, "div": 5.0})
    with pytest.raises(ValueError, match="at least 1"):
        gradual_unfreeze(fake, [1, 1], lr_mult=0.5)


def test_gradual_unfreeze_refuses_bad_schedules_before_training():
    fake = FakeLearner(n_groups=3)
    for bad in ([], [1, 0], [1, 1, 1, 1]):
        with pytest.raises(ValueError):
            gradual_unfreeze(fake, bad)
    assert fake.calls == []


def test_real_learner_ends_with_the_right_groups_trainable():
    learn = _learner(cbs=[ValidateOnlyOnRequest()])
    assert n_layer_groups(learn) == 5
    with learn.no_bar(), learn.no_logging():
        gradual_unfreeze(learn, [1, 1, 1], base_lr=1e-2)
    assert group_trains(learn) == [False, False, True, True, True]


def test_freeze_to_clears_the_optimizer_state():
    """Lesson 04 says every freeze_to drops Adam's running averages (fastai's Learner.freeze_to calls clear_state)."""
    learn = _learner(cbs=[ValidateOnlyOnRequest()])
    averages = lambda: sum("sqr_avg" in s for s in learn.opt.state.values())
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(1, 1e-2)
    assert averages() > 0
    learn.freeze_to(-2)
    assert averages() == 0


def test_one_float_rate_gives_every_group_the_same_rate():
    """Lesson 04's single-rate control: fit_one_cycle(e, lr) with a float sets one rate for all groups."""
    learn = _learner(cbs=[ValidateOnlyOnRequest()])
    learn.freeze_to(-3)
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(1, 1e-3)
    assert len({h["lr"] for h in learn.opt.hypers}) == 1


def test_skipping_validation_leaves_training_unchanged():
    results = []
    for cbs in (None, [ValidateOnlyOnRequest()]):
        learn = _learner(k=2, cbs=cbs)
        with learn.no_bar(), learn.no_logging():
            learn.fine_tune(1, base_lr=1e-2)
            results.append(learn.validate())
    assert results[1] and results[0] == results[1]


# --- forgetting and drift --------------------------------------------------------------------

def test_pretrained_network_reads_heldout_print():
    x, y = heldout_source_data(n_per_class=2, seed=20_001)
    assert x.shape == (52, 3, 32, 32) and len(y) == 52
    assert source_accuracy(None, (x, y)) > 0.85


def test_source_accuracy_of_an_untrained_body_matches_the_pretrained_network(learn):
    data = heldout_source_data(n_per_class=2, seed=20_001)
    assert source_accuracy(learn.model[0], data) == source_accuracy(None, data)


@pytest.mark.parametrize("kw, match", [({"seed": 0}, "used to build the backbone"),
                                       ({"seed": 10_000}, "used to build the backbone"),
                                       ({"n_per_class": 0}, "positive whole number"),
                                       ({"seed": -1}, "non-negative")])
def test_heldout_data_refuses_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        heldout_source_data(**kw)


def test_relative_distance():
    a = [torch.ones(3), torch.zeros(1)]
    b = [torch.ones(3) * 2, torch.zeros(1)]
    assert relative_distance(b, a) == pytest.approx(1.0)
    assert relative_distance(a, a) == 0.0
    with pytest.raises(ValueError, match="equally long"):
        relative_distance(a, a[:1])
    with pytest.raises(ValueError, match="shapes differ"):
        relative_distance([torch.ones(2)], [torch.ones(3)])
    with pytest.raises(ValueError, match="all zero"):
        relative_distance([torch.ones(1)], [torch.zeros(1)])


def test_weight_drift_is_zero_before_training_and_grows_after():
    learn = _learner(cbs=[ValidateOnlyOnRequest()])
    start = snapshot_groups(learn)
    assert weight_drift(learn, start) == [0.0] * 5
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(1, 1e-2)          # head only; BatchNorm trains everywhere (train_bn)
    drift = weight_drift(learn, start)
    assert all(d > 0 for d in drift) and drift[-1] == max(drift)
    with pytest.raises(ValueError, match="snapshot has 4 layer groups"):
        weight_drift(learn, start[:4])


# --- plots -----------------------------------------------------------------------------------

def test_plots_draw_and_refuse_bad_input():
    plot_gain_vs_forgetting({"a": ([0.01, 0.02], [0.1, 0.2])})
    plot_drift({"a": [[0.1, 0.2], [0.2, 0.3]]}, ["g0", "g1"])
    plot_stage_grid(stage_plan([1, 1], 3), ["a", "b", "c"])
    with pytest.raises(ValueError, match="one per seed"):
        plot_gain_vs_forgetting({"a": ([0.01], [0.1, 0.2])})
    with pytest.raises(ValueError, match="one drift per layer group"):
        plot_drift({"a": [[0.1, 0.2, 0.3]]}, ["g0", "g1"])
    with pytest.raises(ValueError):
        plot_stage_grid([], ["a"])


# --- widget ----------------------------------------------------------------------------------

def _fake_train(schedule):
    return {"accuracy": [0.5] * sum(schedule), "source_accuracy": 0.9, "drift": [0.01, 0.02, 0.03]}


def test_explorer_runs_and_keeps_results():
    ex = ScheduleExplorer(_fake_train, ["a", "b", "c"], source_before=0.95)
    ex.stages.value, ex.epochs.value = 2, 2
    ex.button.click()
    ex.run(1, 3)
    assert ex.results["schedule"].tolist() == ["[2, 2]", "[1, 1, 1]"]
    assert ex.results["epochs"].tolist() == [4, 3]
    assert not ex.button.disabled and "Done" in ex.status.value


@pytest.mark.parametrize("epochs, stages", [(0, 1), (1, 4), (1, 0)])
def test_explorer_refuses_bad_schedules_and_keeps_earlier_rows(epochs, stages):
    ex = ScheduleExplorer(_fake_train, ["a", "b", "c"])
    ex.run(1, 1)
    with pytest.raises(ValueError):
        ex.run(epochs, stages)
    assert len(ex.results) == 1 and "color:#b00" in ex.status.value


def test_explorer_reports_a_failing_run():
    def boom(schedule):
        raise RuntimeError("training failed")
    ex = ScheduleExplorer(boom, ["a", "b"])
    with pytest.raises(RuntimeError, match="training failed"):
        ex.run(1, 1)
    assert not ex.button.disabled and "Run failed" in ex.status.value and ex.results.empty


def test_explorer_needs_a_function_and_groups():
    with pytest.raises(ValueError, match="train_fn"):
        ScheduleExplorer("nope", ["a"])
    with pytest.raises(ValueError, match="at least one"):
        ScheduleExplorer(_fake_train, [])


# --- exercise checks -------------------------------------------------------------------------

def test_trainable_groups_check(capsys):
    learn = _learner()
    assert not checks.check_last_groups_trainable(learn, 3)      # fresh: head only
    learn.freeze_to(3)
    assert not checks.check_last_groups_trainable(learn, 3)      # the positive-index mistake
    learn.freeze_to(-3)
    assert checks.check_last_groups_trainable(learn, 3)
    assert not checks.check_last_groups_trainable(..., 3)
    out = capsys.readouterr().out
    assert "negative index" in out and "✓" in out and "not answered" in out


def test_schedule_check(capsys):
    assert checks.check_schedule_answer([1, 1, 1, 1, 4], 5, 8)
    assert not checks.check_schedule_answer([1, 1, 1, 5], 5, 8)        # leaves a group frozen
    assert not checks.check_schedule_answer([1, 1, 1, 1, 1], 5, 8)     # wrong budget
    assert not checks.check_schedule_answer([4, 1, 1, 1, 1], 5, 8)     # last stage not the longest
    assert not checks.check_schedule_answer([1, 1, 1, 0, 5], 5, 8)     # ValueError message
    assert not checks.check_schedule_answer(..., 5, 8)
    out = capsys.readouterr().out
    assert "frozen" in out and "budget" in out and "last stage" in out and "stage 4 has 0" in out


def test_drift_check(capsys):
    before = [torch.ones(4), torch.ones(2)]
    now = [torch.ones(4) * 1.5, torch.ones(2)]
    right = relative_distance(now, before)
    assert checks.check_relative_drift(right, now, before)
    assert not checks.check_relative_drift(1.0, now, before)                      # ||w - w0|| alone
    assert not checks.check_relative_drift(right ** 2, now, before)               # no square root
    diff = float(torch.cat([n - b for n, b in zip(now, before)]).norm())
    assert not checks.check_relative_drift(diff / float(torch.cat(now).norm()), now, before)
    assert not checks.check_relative_drift("x", now, before)
    assert not checks.check_relative_drift(..., now, before)
    out = capsys.readouterr().out
    assert "alone" in out and "square root" in out and "starting" in out and "number" in out
