"""Layer groups: the table and counts, index checks, the frozen-layer map, the cost plot, the freeze widget
and lesson 03's exercise checks (right answers accepted, wrong ones explained)."""
import matplotlib
import numpy as np
import pytest
import torch
from fastai.test_utils import synth_learner
from fastai.vision.all import L, ConvLayer, Learner, accuracy, params, vision_learner
from torch import nn

from course_utils import EpochLog as EpochTimer
from course_utils import (check_group_index, check_splitter_output, digits_dls, figure_png, frozen_groups, group_names,
                          group_trains, mini_resnet, n_groups, show_figure)
from course_utils import count_trainable as trainable_params
from course_utils import group_counts as group_params
from course_utils.checks import l03_freezing_and_layer_groups as checks
from course_utils.lessons.l03_freezing_and_layer_groups import (FreezeExplorer, frozen_map_legend, group_table,
                                                                plot_frozen_map, plot_training_cost,
                                                                training_step_flops, units_of)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# MiniResNet + fastai head: parameters per group, and BatchNorm parameters per body group
GROUP_PARAMS = [5424, 14528, 57728, 230144, 137728]
BODY_BN = [128, 192, 384, 768]


@pytest.fixture(scope="module")
def dls():
    return digits_dls(1, seed=0)


@pytest.fixture
def learn(dls):
    return vision_learner(dls, mini_resnet, metrics=accuracy)


def tiny_cnn(n_classes=10):
    body = nn.Sequential(ConvLayer(3, 4, stride=2), ConvLayer(4, 8, stride=2), ConvLayer(8, 8, stride=2))
    return nn.Sequential(body, nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, n_classes)))


def tiny_split(model):
    return L(model[0][:2], model[0][2], model[1]).map(params)


TINY_EXPECTED = [["0.0", "0.1"], ["0.2"], ["1"]]


# ---------------------------------------------------------------- group index checks

@pytest.mark.parametrize("n, want", [(0, 0), (4, 4), (-1, 4), (-5, 0), (np.int64(2), 2)])
def test_check_group_index_accepts_and_normalises(n, want):
    assert check_group_index(n, 5) == want


def test_check_group_index_takes_a_learner(learn):
    assert check_group_index(-2, learn) == 3


@pytest.mark.parametrize("bad, msg", [(5, "past the last group"), (17, "past the last group"),
                                      (-6, "before the first group"), (2.5, "whole number"),
                                      ("3", "whole number"), (True, "whole number"), (None, "whole number")])
def test_check_group_index_refuses_with_a_clear_message(bad, msg):
    with pytest.raises(ValueError, match=msg) as e:
        check_group_index(bad, 5, hint="try freeze_to(-2)")
    assert "try freeze_to(-2)" in str(e.value)
    if msg.startswith(("past", "before")):
        assert "5 layer groups, numbered 0 to 4" in str(e.value)


# ---------------------------------------------------------------- counts and the table

def test_counts_after_vision_learner(learn):
    assert n_groups(learn) == 5
    counts = group_params(learn)
    assert [c["params"] for c in counts] == GROUP_PARAMS
    # train_bn=True: frozen groups keep exactly their BatchNorm parameters trainable
    assert [c["trainable"] for c in counts[:4]] == BODY_BN
    assert [c["norm_trainable"] for c in counts[:4]] == BODY_BN
    assert group_trains(learn) == [False] * 4 + [True]
    assert frozen_groups(learn) == 4
    assert trainable_params(learn) == trainable_params(learn.model) == GROUP_PARAMS[-1] + sum(BODY_BN)


@pytest.mark.parametrize("n, trains", [(-2, [False] * 3 + [True] * 2), (0, [True] * 5), (1, [False] + [True] * 4)])
def test_trains_follows_freeze_to(learn, n, trains):
    learn.freeze_to(n)
    assert group_trains(learn) == trains
    assert frozen_groups(learn) == trains.count(False)


def test_train_bn_false_freezes_batchnorm_too(dls):
    learn = vision_learner(dls, mini_resnet, train_bn=False)
    assert [c["trainable"] for c in group_params(learn)] == [0, 0, 0, 0, GROUP_PARAMS[-1]]
    assert group_trains(learn) == [False] * 4 + [True]


def test_group_table(learn):
    df = group_table(learn)
    assert list(df.columns) == ["name", "layers", "params", "trainable params", "trains", "state"]
    assert df["params"].tolist() == GROUP_PARAMS
    assert df.loc[0, "layers"] == "model[0][0], model[0][1]" and df.loc[4, "layers"] == "model[1]"
    assert df.loc[0, "name"] == "stem + stage1" and df.loc[4, "name"] == "head"
    assert df["state"].tolist() == ["frozen (BatchNorm trains)"] * 4 + ["trains"]
    full = group_table(learn, contents=True)
    assert full.loc[1, "contains"] == "BasicBlock" and full.loc[0, "contains"] == "Conv2d, BatchNorm2d; BasicBlock"
    learn.unfreeze()
    assert group_table(learn)["state"].tolist() == ["trains"] * 5


def test_custom_splitter_gets_generic_names(dls):
    learn = Learner(dls, tiny_cnn(), splitter=tiny_split)
    learn.freeze()
    assert group_names(learn) == ["group 0", "group 1", "group 2"]
    df = group_table(learn)
    assert df["layers"].tolist() == ["model[0][0], model[0][1]", "model[0][2]", "model[1]"]
    assert df["trains"].tolist() == [False, False, True]


def test_units_flag_parameters_no_group_holds(dls):
    model = tiny_cnn()
    units = units_of(model, [params(model[0][:2]), params(model[1])])
    assert [(u["path"], u["group"]) for u in units] == [("model[0][0]", 0), ("model[0][1]", 0),
                                                         ("model[0][2]", None), ("model[1]", 1)]
    learn = Learner(dls, model, splitter=lambda m: L(m[0][:2], m[1]).map(params))
    with pytest.raises(ValueError, match="in no group"):
        group_table(learn)       # no optimizer yet: the splitter's output is validated first


# ---------------------------------------------------------------- splitter output

def test_check_splitter_output_accepts_a_good_split():
    model = tiny_cnn()
    groups = check_splitter_output(tiny_split(model), model)
    assert [len(g) for g in groups] == [6, 3, 2]


@pytest.mark.parametrize("split, msg", [
    (lambda m: L(m[0][:2], m[0][2], m[1]), "you returned modules"),
    (lambda m: L(m[0], m[1], m[1]).map(params), "exactly one group"),
    (lambda m: L(m[0][:2], m[1]).map(params), "in no group"),
    (lambda m: [], "no groups"),
    (lambda m: 3, "list of parameter lists"),
])
def test_check_splitter_output_explains_mistakes(split, msg):
    model = tiny_cnn()
    with pytest.raises(ValueError, match=msg):
        check_splitter_output(split(model), model)


# ---------------------------------------------------------------- timing

def test_epoch_timer_records_training_epochs():
    learn = synth_learner(n_trn=2)
    timer = EpochTimer()
    with pytest.raises(ValueError, match="no epoch logged yet"):
        timer.median_train_seconds
    with learn.no_bar(), learn.no_logging():
        learn.fit(3, 1e-3, cbs=timer)
    assert len(timer.column("train_seconds")) == 3 and all(t > 0 for t in timer.column("train_seconds"))
    assert timer.median_train_seconds == float(np.median(timer.column("train_seconds")))


# ---------------------------------------------------------------- plots

def test_frozen_map_titles_and_legend(learn):
    _, ax = plt.subplots()
    plot_frozen_map(learn, ax=ax, title="learn.freeze()")
    assert ax.get_title(loc="left") == "learn.freeze(): 139,200 of 445,552 parameters train"
    texts = [t.get_text() for t in ax.texts]
    assert "0: stem + stage1" in texts and "4: head" in texts and "[0][4]" in texts
    learn.unfreeze()
    _, ax2 = plt.subplots()
    plot_frozen_map(learn, ax=ax2)
    assert not [p for p in ax2.patches if p.get_hatch()]
    frozen_map_legend(ax2)
    assert ax2.get_legend() is not None
    plt.close("all")


def test_frozen_map_hatch_counts(learn, dls):
    learn.freeze()
    _, ax = plt.subplots()
    plot_frozen_map(learn, ax=ax)
    assert sum(bool(p.get_hatch()) for p in ax.patches) == 5          # 5 frozen boxes, BN strips train
    learn_nobn = vision_learner(dls, mini_resnet, train_bn=False)
    _, ax = plt.subplots()
    plot_frozen_map(learn_nobn, ax=ax)
    assert sum(bool(p.get_hatch()) for p in ax.patches) == 10         # boxes and their BN strips
    plt.close("all")


def test_frozen_map_marks_parameters_in_no_group(dls):
    learn = Learner(dls, tiny_cnn(), splitter=lambda m: L(m[0][:2], m[1]).map(params))
    learn.create_opt()          # fastai accepts the incomplete split; the map shows the hole
    _, ax = plt.subplots()
    plot_frozen_map(learn, ax=ax)
    assert "in no group!" in [t.get_text() for t in ax.texts]
    plt.close("all")


def test_figure_png():
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    png = figure_png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)


def test_show_figure_displays_once_and_closes(capsys):
    fig, ax = plt.subplots()
    show_figure(fig)
    assert not plt.fignum_exists(fig.number)
    assert "Figure" in capsys.readouterr().out     # outside IPython, display() prints the repr


def test_plot_training_cost():
    rows = [{"train_bn": t, "groups_trained": g, "seconds": 0.1 * g, "trainable_params": 1000 * g}
            for t in (True, False) for g in (1, 2, 3)]
    axes = plot_training_cost(rows)
    assert len(axes) == 2 and len(axes[0].lines) == 2 and len(axes[1].lines) == 2
    axes = plot_training_cost([{**r, "step_flops": 1e9 * r["groups_trained"]} for r in rows])
    assert len(axes) == 3 and axes[1].get_ylabel() == "GFLOPs per training step"
    with pytest.raises(ValueError, match="missing"):
        plot_training_cost([{"train_bn": True, "seconds": 1.0}])
    with pytest.raises(ValueError, match="at least one"):
        plot_training_cost([])
    _, two = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="3 panels"):
        plot_training_cost([{**r, "step_flops": 1.0} for r in rows], axes=two)
    plt.close("all")


def test_training_step_flops_follow_freezing_and_leave_the_model_alone(dls):
    batch = dls.train.one_batch()
    out = {}
    for train_bn in (True, False):
        learn = vision_learner(dls, mini_resnet, train_bn=train_bn)
        learn.model.eval()
        stats = {k: v.clone() for k, v in learn.model.state_dict().items() if "running_" in k}
        out[train_bn, "head"] = training_step_flops(learn, batch)
        assert not learn.model.training
        assert all(torch.equal(v, learn.model.state_dict()[k]) for k, v in stats.items())
        assert all(p.grad is None for p in learn.model.parameters())
        learn.unfreeze()
        out[train_bn, "all"] = training_step_flops(learn, batch)
    forward = {v["forward"] for v in out.values()}
    assert len(forward) == 1 and forward.pop() > 0
    assert out[True, "all"] == out[False, "all"]
    assert out[False, "head"]["backward"] < out[True, "head"]["backward"] < out[True, "all"]["backward"]
    assert all(v["total"] == v["forward"] + v["backward"] for v in out.values())


# ---------------------------------------------------------------- widget

def test_explorer_slider_freezes_and_redraws(learn):
    ex = FreezeExplorer(learn)
    assert ex.state["freeze_to"] == 4 and ex.slider.max == 4
    first = ex.image.value
    ex.slider.value = 2                                   # what moving the slider does
    assert group_trains(learn) == [False, False, True, True, True]
    assert ex.state["trainable_params"] == trainable_params(learn)
    assert ex.image.value != first and "freeze_to(2)" in ex.summary()
    ex.set(-2)
    assert ex.slider.value == 3 and ex.state["trains"] == [False] * 3 + [True] * 2
    assert ex.state["frozen_bn_trainable"] == sum(BODY_BN[:3])


def test_explorer_train_bn_switch(learn):
    ex = FreezeExplorer(learn)
    before = ex.state["trainable_params"]
    ex.bn_box.value = False
    assert learn.train_bn is False
    assert ex.state["trainable_params"] == before - sum(BODY_BN)
    assert ex.state["frozen_bn_trainable"] == 0 and ex.state["freeze_to"] == 4
    with pytest.raises(ValueError, match="True or False"):
        ex.set_train_bn("no")


@pytest.mark.parametrize("bad, msg", [(5, "past the last group"), (-6, "before the first group"),
                                      (1.5, "whole number"), ("2", "whole number")])
def test_explorer_refuses_bad_index_and_keeps_state(learn, bad, msg):
    ex = FreezeExplorer(learn)
    ex.set(1)
    with pytest.raises(ValueError, match=msg):
        ex.set(bad)
    assert ex.state["freeze_to"] == 1 and group_trains(learn) == [False] + [True] * 4
    assert "color:#b00" in ex.status.value


def test_explorer_starts_where_the_learner_is(dls):
    learn = vision_learner(dls, mini_resnet, pretrained=False)     # nothing frozen
    assert FreezeExplorer(learn).state["freeze_to"] == 0
    assert FreezeExplorer(learn, n=-1).state["freeze_to"] == 4


def test_explorer_needs_a_learner_with_groups(dls):
    with pytest.raises(ValueError, match="fastai Learner"):
        FreezeExplorer("learner")
    with pytest.raises(ValueError, match="at least two"):
        FreezeExplorer(Learner(dls, tiny_cnn()))
    with pytest.raises(ValueError, match="past the last group"):
        FreezeExplorer(Learner(dls, tiny_cnn(), splitter=tiny_split), n=3)


# ---------------------------------------------------------------- exercise checks

def test_check_trains_last(learn, capsys):
    assert not checks.check_trains_last(learn, 2)             # freeze(): only the head
    learn.freeze_to(-2)
    assert checks.check_trains_last(learn, 2)
    learn.unfreeze()
    assert not checks.check_trains_last(learn, 2)
    learn.freeze_to(2)
    assert not checks.check_trains_last(learn, 2)
    for p in learn.opt.param_lists[0]:
        p.requires_grad_(True)
    for p in learn.opt.param_lists[1]:
        p.requires_grad_(False)
    assert not checks.check_trains_last(learn, 2)
    assert not checks.check_trains_last("learn", 2)
    out = capsys.readouterr().out
    for text in ["learn.freeze()", "✓", "learn.unfreeze()", "3 groups train, not 2", "must come first", "pass the Learner"]:
        assert text in out


def test_check_frozen_bn_params(learn, capsys):
    learn.freeze_to(-2)
    right = sum(BODY_BN[:3])
    assert checks.check_frozen_bn_params(right, learn)
    assert not checks.check_frozen_bn_params(..., learn)
    assert not checks.check_frozen_bn_params(0, learn)
    assert not checks.check_frozen_bn_params(trainable_params(learn), learn)
    assert not checks.check_frozen_bn_params(sum(GROUP_PARAMS[:3]), learn)
    assert not checks.check_frozen_bn_params(2 * right, learn)                 # + running mean and var
    assert not checks.check_frozen_bn_params(2 * right + 9, learn)             # + num_batches_tracked (9 BN layers)
    assert not checks.check_frozen_bn_params(12345, learn)
    out = capsys.readouterr().out
    for text in ["not answered yet", "train_bn=False", "groups that train as well", "every parameter of the frozen",
                 "buffers, not parameters", "requires_grad=True"]:
        assert text in out


def test_check_frozen_bn_params_with_train_bn_false(dls, capsys):
    learn = vision_learner(dls, mini_resnet, train_bn=False)
    assert checks.check_frozen_bn_params(0, learn)
    assert "nothing in a frozen group trains" in capsys.readouterr().out


def test_check_splitter(capsys):
    model = tiny_cnn()
    assert checks.check_splitter(tiny_split, model, TINY_EXPECTED)
    assert not checks.check_splitter(..., model, TINY_EXPECTED)
    assert not checks.check_splitter("split", model, TINY_EXPECTED)
    assert not checks.check_splitter(lambda m: L(m[0][:2], m[0][2], m[1]), model, TINY_EXPECTED)
    assert not checks.check_splitter(lambda m: L(m[1], m[0][2], m[0][:2]).map(params), model, TINY_EXPECTED)
    assert not checks.check_splitter(lambda m: L(m[0], m[1]).map(params), model, TINY_EXPECTED)
    assert not checks.check_splitter(lambda m: L(m[0][:1], m[0][1:], m[1]).map(params), model, TINY_EXPECTED)
    assert not checks.check_splitter(lambda m: L(m[0][:2], m[1]).map(params), model, TINY_EXPECTED)
    assert not checks.check_splitter(lambda m: m.nope, model, TINY_EXPECTED)
    out = capsys.readouterr().out
    for text in ["✓ 3 groups", "not answered yet", "function model -> groups", "you returned modules",
                 "wrong order", "you made 2 groups", "group 0 holds model[0][0] but should hold model[0][0], model[0][1]",
                 "in no group", "raised AttributeError"]:
        assert text in out, text
