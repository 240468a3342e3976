"""config, seeds, stats, history, plots, env check, pretraining smoke run."""
import json

import matplotlib
import numpy as np
import pytest
import torch
from fastai.vision.all import accuracy, vision_learner

import sys
from pathlib import Path

from course_utils import config
from course_utils import attach_epoch_log as attach_history
from course_utils.data import default_batch_size
from course_utils import (CHARS, LETTERS, SkipValidation, digits_dls, environment_report, fmt_mean_spread,
                          make_source_data, mean_spread, mini_resnet, plot_learning_curves, seed_everything, tier_arch,
                          tier_settings)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from pretrain import main as pretrain_main  # noqa: E402


@pytest.fixture(autouse=True)
def reset_mode(monkeypatch):
    monkeypatch.setattr(config, "_mode", None)
    monkeypatch.delenv("COURSE_MODE", raising=False)


def test_mode_defaults_to_quick_and_switches():
    assert config.get_mode() == "quick"
    assert config.set_mode(" FULL ") == "full" and config.get_mode() == "full"
    assert tier_settings()["size"] == 224
    config.set_mode("quick")
    assert tier_arch() is mini_resnet


def test_mode_from_environment(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "full")
    assert config.get_mode() == "full"


@pytest.mark.parametrize("bad", ["fast", "", "Quick-ish", None])
def test_unknown_mode_is_a_clear_error(bad, monkeypatch):
    with pytest.raises(ValueError, match="unknown course mode.*quick, full"):
        config.set_mode(bad)
    monkeypatch.setenv("COURSE_MODE", "gpu")
    with pytest.raises(ValueError, match="COURSE_MODE"):
        config.get_mode()


def test_seeds_make_runs_repeat():
    seed_everything(3)
    a = torch.rand(3), np.random.rand()
    seed_everything(3)
    b = torch.rand(3), np.random.rand()
    assert torch.equal(a[0], b[0]) and a[1] == b[1]


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True, None])
def test_bad_seed(bad):
    with pytest.raises(ValueError, match="seed must be"):
        seed_everything(bad)


def test_mean_spread():
    assert mean_spread([0.9]) == (0.9, 0.0)
    m, s = mean_spread([0.8, 0.9, 1.0])
    assert m == pytest.approx(0.9) and s == pytest.approx(0.1)
    assert fmt_mean_spread([0.8, 0.9, 1.0]) == "0.900 ± 0.100"
    with pytest.raises(ValueError, match="at least one"):
        mean_spread([])


def test_default_batch_size_gives_several_steps():
    assert default_batch_size(10) == 4 and default_batch_size(100) == 16 and default_batch_size(60) == 10


def test_source_data_is_deterministic_and_balanced():
    a, ya = make_source_data(2, seed=5)
    b, yb = make_source_data(2, seed=5)
    c, _ = make_source_data(2, seed=6)
    assert np.array_equal(a, b) and np.array_equal(ya, yb) and not np.array_equal(a, c)
    assert a.shape == (2 * len(LETTERS), 32, 32) and np.bincount(ya).tolist() == [2] * len(LETTERS)
    d, yd = make_source_data(2, seed=5, chars=CHARS)
    assert np.bincount(yd).tolist() == [2] * len(CHARS) and np.array_equal(d[yd >= 10][:0], d[:0])
    with pytest.raises(ValueError, match="positive"):
        make_source_data(0, seed=0)


def test_history_keeps_both_fits_of_fine_tune():
    seed_everything(0)
    learn = vision_learner(digits_dls(2, seed=0), mini_resnet, metrics=accuracy)
    hist = attach_history(learn)
    assert attach_history(learn) is hist
    with learn.no_bar(), learn.no_logging():
        learn.fine_tune(2, base_lr=1e-2)
    assert [r["epoch"] for r in hist.rows] == [1, 2, 3]
    assert [r["frozen_groups"] for r in hist.rows] == [4, 0, 0]
    assert all(0 <= r["accuracy"] <= 1 for r in hist.rows)


def test_plots_draw_and_refuse_bad_input():
    matplotlib.use("Agg")
    ax = plot_learning_curves({"a": [[0.1, 0.5], [0.2, 0.6]], "b": [[0.3, 0.4]]})
    assert len(ax.lines) == 2
    with pytest.raises(ValueError, match="same number of epochs"):
        plot_learning_curves({"a": [[0.1, 0.5], [0.2]]})
    with pytest.raises(ValueError, match="at least one"):
        plot_learning_curves({})


def test_skip_validation_trains_bit_for_bit_like_per_epoch_validation():
    def weights(cbs):
        seed_everything(0)
        learn = vision_learner(digits_dls(2, seed=0), mini_resnet, metrics=accuracy)
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(2, 1e-2, cbs=cbs)
        return [p.detach().clone() for p in learn.model.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(weights([]), weights([SkipValidation()])))


def test_epoch_log_times_training_and_refuses_a_median_before_any_epoch():
    from course_utils import EpochLog
    log = EpochLog()
    with pytest.raises(ValueError, match="no epoch logged yet"):
        log.median_train_seconds
    learn = vision_learner(digits_dls(2, seed=0), mini_resnet, metrics=accuracy)
    with learn.no_bar(), learn.no_logging():
        learn.fit(2, 1e-3, cbs=log)
    assert len(log.column("train_seconds")) == 2 and log.median_train_seconds > 0
    assert all(r["trainable_params"] > 0 for r in log.rows)


def test_environment_report_says_backbone_ok():
    r = environment_report()
    assert r["backbone"].startswith("ok") and r["tier"] == "quick" and r["fastai"] == "2.8.12"


def test_environment_report_names_a_broken_backbone(data_dir):
    (data_dir / "mini_resnet_chars.pth").write_bytes(b"not weights")
    assert environment_report()["backbone"].startswith("PROBLEM")


def test_pretrain_smoke_run_writes_a_loadable_checkpoint(tmp_path, capsys, monkeypatch):
    assert pretrain_main(["--epochs", "1", "--per-class", "3", "--heldout-per-class", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "epoch 1/1" in out and "Source-task held-out accuracy" in out
    card = json.loads((tmp_path / "mini_resnet_letters.json").read_text())
    assert card["epochs"] == 1 and card["seed"] == 0 and len(card["sha256"]) == 64
    assert card["source"] == "letters" and not set("0123456789") & set(card["data_recipe"]["classes"])
    monkeypatch.setattr(config, "DATA_DIR", tmp_path)
    assert mini_resnet(pretrained=True)[7].out_features == len(LETTERS)


def test_pretrain_rejects_bad_arguments(tmp_path):
    with pytest.raises(SystemExit):
        pretrain_main(["--epochs", "0", "--out", str(tmp_path)])


def test_history_ignores_validate_calls():
    seed_everything(0)
    learn = vision_learner(digits_dls(2, seed=0), mini_resnet, metrics=accuracy)
    hist = attach_history(learn)
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(1, 1e-3)
        learn.validate()
        learn.fit_one_cycle(1, 1e-3)
    assert [r["epoch"] for r in hist.rows] == [1, 2] and all("accuracy" in r for r in hist.rows)
