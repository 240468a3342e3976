"""Lesson 10's helpers: imbalanced draws, class weights, scores, calibration, export with a card, and the checks."""
import json
import stat

import numpy as np
import pandas as pd
import pytest
import torch

import course_utils as cu
from course_utils.checks import l10_trust_and_ship as checks
from course_utils.lessons import l10_trust_and_ship as l10
from fastai.vision.all import accuracy, vision_learner


@pytest.fixture(scope="module")
def learn():
    torch.set_num_threads(1)
    return vision_learner(l10.index_dls(cu.few_shot_indices(1, 0)), cu.mini_resnet, metrics=accuracy)


def test_imbalanced_draw_counts_and_determinism():
    idx = l10.imbalanced_indices(20, 0.1, seed=3)
    counts = l10.class_counts(idx)
    assert [counts[c] for c in l10.MINORITY] == [2] * 5
    assert all(counts[c] == 20 for c in range(10) if c not in l10.MINORITY)
    assert np.array_equal(idx, l10.imbalanced_indices(20, 0.1, seed=3))
    assert set(idx) <= set(cu.split_indices()[0])            # only from the training pool
    assert l10.class_counts(l10.imbalanced_indices(20, 0.01)).min() == 1   # never an empty class


@pytest.mark.parametrize("ratio", [0, -0.5, 1.5, float("nan"), "0.5", True])
def test_bad_ratio(ratio):
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        l10.imbalanced_indices(20, ratio)


def test_balanced_weights_mean_one_over_items():
    counts = np.array([20, 2] * 5)
    w = l10.balanced_weights(counts)
    assert torch.isclose((w.double() * torch.as_tensor(counts)).sum() / counts.sum(), torch.tensor(1.0, dtype=torch.float64))
    assert np.isclose(float(w[1] / w[0]), 10)


@pytest.mark.parametrize("weights,match", [([1.0, 2.0], "one number per class"), ([1.0] * 9 + [-1.0], "non-negative"),
                                           ([0.0] * 10, "not all 0"), (["a"] * 10, "list of numbers")])
def test_bad_class_weights(weights, match):
    with pytest.raises(ValueError, match=match):
        l10.check_class_weights(weights)


def test_prior_correction_equalises_a_prior_only_model():
    counts = np.array([30, 10])
    probs = torch.tensor([[0.75, 0.25]] * 4)        # a model that learned nothing but the training prior
    assert torch.allclose(l10.prior_corrected(probs, counts), torch.full((4, 2), 0.5))


def test_class_scores_and_reliability_match_hand_counts():
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7]])
    targs = torch.tensor([0, 1, 1, 1])
    s = l10.class_scores(probs, targs)
    assert s["accuracy"] == 0.75 and s["recall"] == [1.0, 2 / 3]
    ece, table = l10.reliability(probs, targs, n_bins=10)
    # bins 0.6-0.7 (0.6, right), 0.7-0.8 (0.7, right), 0.8-0.9 (0.8, wrong), 0.9-1.0 (0.9, right)
    assert list(table["count"]) == [1, 1, 1, 1]
    assert np.isclose(ece, (0.4 + 0.3 + 0.8 + 0.1) / 4)


def test_index_dls_oversampling_and_bad_weights():
    idx = l10.imbalanced_indices(20, 0.1, seed=0)
    w = l10.balanced_weights(l10.class_counts(idx))[torch.as_tensor(cu.digit_images()[1][idx])].numpy()
    cu.seed_everything(0)
    dls = l10.index_dls(idx, wgts=w)
    drawn = np.concatenate([y.numpy() for _, y in dls.train])
    assert 0.3 < np.isin(drawn, l10.MINORITY).mean() < 0.7
    with pytest.raises(ValueError, match="one non-negative weight per training item"):
        l10.index_dls(idx, wgts=w[:-1])


def test_digit_x_takes_an_index_or_a_new_image():
    x_index = l10.digit_x(5)
    x_array = l10.digit_x(cu.digit_images()[0][5])
    assert x_index.shape == x_array.shape == (3, 32, 32)
    assert torch.equal(x_index, x_array)


def test_export_and_load_round_trip(learn, tmp_path):
    path = l10.export_learner(learn, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.pkl", "digits.pkl.json"]   # no temporary file left
    served = l10.load_export(path)
    assert served.load_warnings and "Only load files you trust" in served.load_warnings[0]
    with served.no_bar():
        label, _, probs = served.predict(l10.digit_x(cu.digit_images()[0][0]))
    assert label in cu.CLASSES and np.isclose(float(probs.sum()), 1, atol=1e-5)


def test_export_refuses_a_read_only_folder_and_keeps_what_is_there(learn, tmp_path):
    (tmp_path / "digits.pkl").write_bytes(b"an older export")
    tmp_path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(OSError, match="read-only"):
            l10.export_learner(learn, tmp_path)
    finally:
        tmp_path.chmod(0o755)
    assert (tmp_path / "digits.pkl").read_bytes() == b"an older export"
    assert [p.name for p in tmp_path.iterdir()] == ["digits.pkl"]


def test_load_refuses_another_fastai_version(learn, tmp_path):
    path = l10.export_learner(learn, tmp_path)
    card = tmp_path / "digits.pkl.json"
    card.write_text(json.dumps({**json.loads(card.read_text()), "fastai": "2.7.0"}))
    with pytest.raises(ValueError, match="exported with fastai 2.7.0"):
        l10.load_export(path)
    (tmp_path / "digits.pkl.json").unlink()
    with pytest.raises(FileNotFoundError, match="card"):
        l10.load_export(path)


def test_imbalance_explorer_runs_and_rejects_bad_ratio():
    fake = {"plain": {"macro_f1": 0.5, "recall": [0.5] * 10, "accuracy": 0.5}}
    ex = l10.ImbalanceExplorer(lambda r: fake, ratio=0.3)
    assert ex.run()["plain"]["macro_f1"] == 0.5
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        ex.run(0)
    assert len(ex.results) == 1
    with pytest.raises(ValueError, match="must be a function"):
        l10.ImbalanceExplorer(None)


def test_checks_say_right_and_wrong(capsys):
    counts = np.array([20, 2] * 5)
    assert checks.check_loss_weights(1 / counts, counts)
    assert not checks.check_loss_weights(counts, counts)
    assert "rare classes" in capsys.readouterr().out
    assert checks.check_n_acc(64, 8, 64)
    assert not checks.check_n_acc(8, 8, 64)
    assert "counts images" in capsys.readouterr().out
    table = pd.DataFrame({"count": [1, 3], "confidence": [0.5, 0.9], "accuracy": [1.0, 0.8]})
    assert checks.check_ece((0.5 + 3 * 0.1) / 4, table)
    assert not checks.check_ece((0.5 + 0.1) / 2, table)
    assert "weight each bin" in capsys.readouterr().out
    assert not checks.check_ece(..., table)
