"""The measurement protocol's core (issue 12): three splits, the test split only for reported results, rates
chosen on validation, paired intervals over seeds."""
import math

import numpy as np
import pytest
import torch
from fastai.vision.all import accuracy, vision_learner

import course_utils as cu
from course_utils.lab import runs


def test_paired_diff_recovers_a_known_difference():
    rng = np.random.default_rng(0)
    b = rng.uniform(0.7, 0.9, 8)
    a = b + 0.05 + rng.normal(0, 0.005, 8)
    d = cu.paired_diff(a, b, ("new", "old"))
    assert d.lo < d.mean < d.hi and d.lo > 0.03 and d.hi < 0.07 and d.n == 8
    assert d.direction == 1 and d.verdict == "new better"
    assert cu.paired_diff(b, a, ("old", "new")).verdict == "new better"
    assert f"new − old: {d.mean:+.3f}" in str(d) and "over 8 seeds" in str(d)


def test_paired_diff_uses_the_t_interval():
    d = cu.paired_diff([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    # mean 2, sd 1, n 3: half width t(0.975, 2) * 1 / sqrt(3) = 4.303 / 1.732
    assert d.mean == pytest.approx(2.0) and d.hi - d.mean == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert d.direction == 0 and d.verdict == "no detectable difference" and "[95% CI" in str(d)
    d90 = cu.paired_diff([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], confidence=0.9)
    assert d90.hi < d.hi and "[90% CI" in str(d90)


def test_pairing_matters_a_shared_seed_effect_cancels():
    seed_effect = np.array([0.60, 0.95, 0.70, 0.85, 0.75])
    d = cu.paired_diff(seed_effect + 0.02, seed_effect)
    assert d.lo == pytest.approx(0.02) and d.hi == pytest.approx(0.02) and d.verdict == "A better"


def test_zero_difference_is_no_detectable_difference():
    d = cu.paired_diff([0.9, 0.8, 0.7], [0.9, 0.8, 0.7])
    assert (d.mean, d.lo, d.hi, d.direction) == (0.0, 0.0, 0.0, 0)


@pytest.mark.parametrize("a, b, match", [
    ([0.9], [0.8], "at least two seeds"),
    ([0.9, float("nan")], [0.8, 0.7], "NaN"),
    ([0.9, 0.8, 0.7], [0.8, 0.7], "one result per seed"),
    ("abc", [0.1, 0.2, 0.3], "lists of numbers"),
])
def test_bad_input_is_one_clear_error(a, b, match):
    with pytest.raises(ValueError, match=match):
        cu.paired_diff(a, b)


def test_paired_table_compares_every_strategy_with_the_baseline():
    t = cu.paired_table({"base": [0.5, 0.6, 0.7], "up": [0.6, 0.7, 0.8], "same": [0.5, 0.61, 0.69]}, "base")
    assert list(t.index) == ["up", "same"] and t.loc["up", "verdict"] == "up better"
    assert t.loc["same", "verdict"] == "no detectable difference"
    with pytest.raises(ValueError, match="baseline 'x'"):
        cu.paired_table({"a": [1, 2]}, "x")


def test_choose_lr_picks_the_best_validation_score():
    best, scores = cu.choose_lr(lambda lr: -abs(math.log10(lr) + 2.5), [1e-3, 3e-3, 1e-2])
    assert best == 3e-3 and set(scores) == {1e-3, 3e-3, 1e-2}
    with pytest.raises(ValueError, match="positive numbers"):
        cu.choose_lr(lambda lr: 0, [0.0])
    with pytest.raises(ValueError, match="positive numbers"):
        cu.choose_lr(lambda lr: 0, [])


def test_test_accuracy_reads_the_test_split_not_the_validation_split():
    dls = cu.digits_dls(2, seed=0)
    learn = vision_learner(dls, cu.mini_resnet, metrics=accuracy)
    acc = cu.test_accuracy(learn)
    x, y = cu.digit_images()
    assert 0 <= acc <= 1 and len(dls.test_items) == cu.N_TEST
    assert not set(dls.test_items) & set(dls.valid_ds.items)
    del dls.test_items
    with pytest.raises(ValueError, match="no test split"):
        cu.test_accuracy(learn)


def test_the_labs_per_epoch_accuracy_is_validation_and_its_test_accuracy_the_test_split():
    splits = runs._digits_eval_tensors(runs._digits_fingerprint())
    assert len(splits["valid"][1]) == cu.N_VALID and len(splits["test"][1]) == cu.N_TEST
    fast = runs._fast_digits_valid(cu.digits_dls(1, seed=0))
    assert len(fast.valid.dataset) == cu.N_VALID        # what the lab scores each epoch (and could choose on)
    _, y = cu.digit_images()
    _, valid, test = cu.split_indices()
    assert np.array_equal(splits["valid"][1].numpy(), y[valid]) and np.array_equal(splits["test"][1].numpy(), y[test])


def test_forgetting_two_ways_on_the_pretrained_body_and_a_random_one():
    from course_utils.backbone import MiniResNet
    assert cu.source_probe_accuracy() > 0.85 and cu.source_accuracy() > 0.85
    random_body = torch.nn.Sequential(*list(MiniResNet(26).children())[:5])
    assert cu.source_probe_accuracy(random_body) < cu.source_probe_accuracy() - 0.2
    assert cu.source_probe_accuracy(source="letters+digits") > 0.85


def test_five_seeds_by_default(monkeypatch):
    monkeypatch.delenv(cu.SEEDS_ENV, raising=False)
    assert len(cu.lesson_seeds()) >= 5
