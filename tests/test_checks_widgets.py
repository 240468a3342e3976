"""Exercise checks accept right answers, reject wrong ones with a reason; widgets keep every result."""
import matplotlib.pyplot as plt
import pytest
from fastai.vision.all import accuracy, vision_learner

from course_utils import LabelsPerClassExplorer, count_trainable, digits_dls, mini_resnet, paired_diff
from course_utils.checks import l01_why_fine_tune as checks


@pytest.fixture(scope="module")
def learn():
    return vision_learner(digits_dls(2, seed=0), mini_resnet, metrics=accuracy)


def test_trainable_params(learn, capsys):
    right = count_trainable(learn.model)
    total = sum(p.numel() for p in learn.model.parameters())
    assert checks.check_trainable_params(right, learn)
    assert not checks.check_trainable_params(total, learn)
    assert not checks.check_trainable_params(123, learn)
    assert not checks.check_trainable_params(..., learn)
    out = capsys.readouterr().out
    assert "✓" in out and "every parameter" in out and "requires_grad" in out and "not answered yet" in out
    assert "BatchNorm" in out and "train_bn=True" in out


def test_trainable_params_head_only_names_the_batchnorm_parameters(learn, capsys):
    head = sum(p.numel() for p in learn.model[1].parameters())
    assert head < count_trainable(learn.model)          # the body's BatchNorm trains too
    assert not checks.check_trainable_params(head, learn)
    out = capsys.readouterr().out
    assert "only the head" in out and "BatchNorm" in out and f"{count_trainable(learn.model) - head:,}" in out


def test_from_scratch(learn, capsys):
    body = learn.model[0]
    assert checks.check_from_scratch(vision_learner(learn.dls, mini_resnet, pretrained=False), body)
    assert not checks.check_from_scratch(learn, body)            # pretrained weights
    frozen = vision_learner(learn.dls, mini_resnet, pretrained=False)
    frozen.freeze()
    assert not checks.check_from_scratch(frozen, body)           # frozen groups
    out = capsys.readouterr().out
    assert "pretrained=False" in out and "frozen" in out


def test_mean_spread_check(capsys):
    vals = [0.8, 0.9, 1.0]
    assert checks.check_mean_spread((0.9, 0.1), vals)
    assert not checks.check_mean_spread((0.9, 0.0816), vals)   # population sd
    assert not checks.check_mean_spread((0.8, 0.1), vals)
    assert not checks.check_mean_spread("0.9", vals)
    out = capsys.readouterr().out
    assert "ddof=1" in out and "mean is off" in out and "pair" in out


def test_paired_interval_check(capsys):
    import numpy as np
    from scipy import stats
    a, b = [0.9, 0.85, 0.88, 0.92, 0.86], [0.6, 0.65, 0.58, 0.7, 0.62]
    d = np.subtract(a, b)
    se = d.std(ddof=1) / np.sqrt(d.size)
    t_half, z_half = stats.t.ppf(0.975, d.size - 1) * se, 1.96 * se
    assert checks.check_paired_interval((d.mean(), d.mean() - t_half, d.mean() + t_half), a, b)
    assert not checks.check_paired_interval((d.mean(), d.mean() - z_half, d.mean() + z_half), a, b)   # normal quantile
    assert not checks.check_paired_interval((d.mean() + 0.01, 0.2, 0.3), a, b)
    unpaired = stats.t.ppf(0.975, d.size - 1) * np.std(a, ddof=1) / np.sqrt(d.size)
    assert not checks.check_paired_interval((d.mean(), d.mean() - unpaired, d.mean() + unpaired), a, b)
    assert not checks.check_paired_interval("0.3", a, b)
    assert not checks.check_paired_interval(..., a, b)
    out = capsys.readouterr().out
    assert "excludes zero" in out and "Student's t" in out and "mean is off" in out and "interval is off" in out
    assert "triple" in out and "not answered yet" in out
    assert checks.check_paired_interval(tuple(paired_diff([0.5, 0.6, 0.7], [0.6, 0.5, 0.7])[2:5]),
                                        [0.5, 0.6, 0.7], [0.6, 0.5, 0.7])
    assert "holds zero" in capsys.readouterr().out


def test_choice_check(capsys):
    opts = ["grow", "shrink"]
    assert checks.check_choice("shrink", "shrink", opts, "because")
    assert not checks.check_choice("grow", "shrink", opts, "because")
    assert not checks.check_choice("maybe", "shrink", opts, "because")
    assert "not one of the options" in capsys.readouterr().out


def test_explorer_runs_and_keeps_results():
    calls = []
    ex = LabelsPerClassExplorer(lambda k, s: calls.append(k) or {"a": 0.5, "b": 0.25}[s], ["a", "b"], k_max=20, k=5)
    ex.picker.value = "all"
    ex.button.click()
    ex.run(7)
    assert calls == [5, 5, 7, 7]
    assert ex.results["labels_per_class"].tolist() == [5, 5, 7, 7]
    assert not ex.button.disabled and "Done" in ex.status.value


def test_explorer_names_what_is_labelled_on_its_axis():
    ex = LabelsPerClassExplorer(lambda k, s: 0.5, ["a"], k_max=20, unit="examples")
    ex.run(3)
    ax = ex.plot()
    assert ax.get_xlabel().startswith("labelled examples per class")
    default = LabelsPerClassExplorer(lambda k, s: 0.5, ["a"], k_max=20)
    default.run(3)
    assert default.plot().get_xlabel().startswith("labelled images")
    plt.close("all")


@pytest.mark.parametrize("bad", [0, 21, 2.5, "3", True])
def test_explorer_refuses_bad_k_and_keeps_earlier_rows(bad):
    ex = LabelsPerClassExplorer(lambda k, s: 1.0, ["a"], k_max=20)
    ex.run(3)
    with pytest.raises(ValueError, match="1 <= k <= 20"):
        ex.run(bad)
    assert len(ex.results) == 1 and "whole number" in ex.status.value


def test_explorer_survives_a_failing_run():
    def boom(k, s):
        raise RuntimeError("training failed")
    ex = LabelsPerClassExplorer(boom, ["a"], k_max=5)
    with pytest.raises(RuntimeError):
        ex.run(2)
    assert not ex.button.disabled and "Run failed" in ex.status.value


def test_explorer_needs_a_function():
    with pytest.raises(ValueError, match="train_fn"):
        LabelsPerClassExplorer("not a function", ["a"], k_max=5)
