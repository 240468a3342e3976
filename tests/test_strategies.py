"""Every named strategy on a tiny budget, the fitted probe, rates chosen on validation only, and
compare_strategies' frame, cache and stop."""
import course_utils  # noqa: F401
import math
import threading
from functools import lru_cache

import numpy as np
import pytest
import torch

import course_utils as cu
from course_utils import count_trainable as trainable_params
from course_utils import seed_everything
from course_utils.lab import ResultCache
from course_utils.lab.strategies import STRATEGIES, Strategy, first_stage_epochs, get_strategy, gradual_schedule
from course_utils.lab.runs import (COLUMNS, LabStopped, compare_strategies, final_epoch, train_run, tune_rates,
                                   valid_score)

torch.set_num_threads(1)


@lru_cache(maxsize=None)
def tiny_run(name):
    """One run of ``name`` on the tiniest budget that still has two stages: 1 label per class, 2 epochs."""
    return train_run(name, seed=0, k=1, epochs=2, lr=1e-2 if STRATEGIES[name].tuned else None)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_strategy_spends_exactly_its_budget(name):
    epochs = 2
    rows = tiny_run(name)
    fitted = not STRATEGIES[name].tuned                         # the probe: fitted, no SGD epoch
    assert [r["epoch"] for r in rows] == ([0] if fitted else list(range(1, epochs + 1)))
    assert all(fitted or math.isfinite(r["train_loss"]) for r in rows)
    assert 0 <= rows[-1]["accuracy"] <= 1 and all(math.isnan(r["accuracy"]) for r in rows[:-1])   # validated once
    assert 0 <= rows[-1]["source_accuracy"] <= 1 and 0 <= rows[-1]["source_probe_accuracy"] <= 1
    assert 0 <= rows[-1]["test_accuracy"] <= 1 and rows[-1]["wall_seconds"] > 0
    assert math.isnan(rows[-1]["lr"]) if fitted else rows[-1]["lr"] == 1e-2


def test_trainable_parameters_follow_the_strategy():
    p = {name: [r["trainable_params"] for r in tiny_run(name)]
         for name in ["linear probe", "head only", "discriminative", "LP-FT", "fine_tune"]}
    assert p["linear probe"] == [128 * 10 + 10]                 # one linear layer on 128 pooled features
    assert p["head only"][0] < p["discriminative"][0]           # frozen body vs everything
    assert p["LP-FT"][0] == p["LP-FT"][1] > p["linear probe"][0]  # the fitted probe, then everything trains
    assert p["fine_tune"][0] < p["fine_tune"][1]


def test_the_probe_head_is_the_fitted_probe_and_lp_ft_starts_from_it():
    """The linear head scores exactly what cu.fit_linear_probe scores on the validation features (C chosen there)."""
    from course_utils.lab import fit_probe_head, make_learner
    from course_utils.lab.runs import run_dls
    from course_utils.lab.strategies import probe_features
    seed_everything(0)
    learn = make_learner("linear probe", run_dls(3, 0), cu.tier_arch())
    probe = fit_probe_head(learn)
    vx, vy = probe_features(learn, learn.dls.valid)
    with learn.no_bar():
        acc = learn.validate()[1]
    assert probe.C_ in cu.measure.PROBE_CS and abs(acc - probe.score(vx, vy)) < 1e-6
    assert train_run("linear probe", 0, 3, 4, None)[0]["accuracy"] == pytest.approx(acc)


def test_rates_are_chosen_on_validation_and_never_see_the_test_split(monkeypatch, tmp_path):
    """tune_rates scores frames without test_accuracy; NaN test images change the test accuracy, not the choice."""
    from course_utils.lab import runs
    seen = []

    def spy(df):
        seen.append(set(df.columns))
        return valid_score(df)
    monkeypatch.setattr(runs, "valid_score", spy)
    setting = dict(strategies=["head only", "linear probe", "full, one lr"], seeds=[0], labels_per_class=1, epochs=1,
                   rates=(1e-3, 3e-2), grow=0)
    rates, grid = tune_rates(**setting, cache=tmp_path / "a")
    assert set(rates) == {"head only", "full, one lr"} and len(seen) == 4    # the fitted probe has no rate
    assert all("test_accuracy" not in cols and "accuracy" in cols for cols in seen)
    real = runs._digits_eval_tensors(runs._digits_fingerprint())
    x, y = real["test"]
    monkeypatch.setattr(runs, "_digits_eval_tensors",
                        lambda fp, *args: {**real, "test": (torch.full_like(x, float("nan")), y.flip(0))})
    rates_nan, grid_nan = tune_rates(**setting, cache=tmp_path / "b")
    assert rates_nan == rates and grid_nan["accuracy"].tolist() == grid["accuracy"].tolist()
    assert grid_nan["test_accuracy"].tolist() != grid["test_accuracy"].tolist()
    assert valid_score(grid.drop(columns="test_accuracy")) == valid_score(grid)


def test_a_best_rate_at_an_edge_grows_the_grid(monkeypatch):
    """No training: a fake lab whose validation accuracy peaks at 3e-4, below the grid (1e-3, 3e-3, 1e-2)."""
    import pandas as pd
    from course_utils.lab import runs

    def fake(strategies, seeds, k, epochs, lr, **kwargs):
        return pd.DataFrame([{**dict.fromkeys(COLUMNS, 0.5), "strategy": strategies[0].name, "seed": 0, "lr": lr,
                              "epoch": 1, "accuracy": 1 - abs(math.log10(lr / 3e-4))}], columns=COLUMNS)
    monkeypatch.setattr(runs, "compare_strategies", fake)
    rates, grid = tune_rates(["head only"], [0], 1, 1)
    assert rates == {"head only": 3e-4} and sorted(grid["lr"]) == [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
    assert tune_rates(["head only"], [0], 1, 1, grow=0)[0] == {"head only": 1e-3}


def test_per_strategy_rates(tmp_path):
    df = compare_strategies(["head only", "linear probe"], [0], 1, 1, lr={"head only": 3e-3}, cache=tmp_path)
    last = final_epoch(df).set_index("strategy")
    assert last.loc["head only", "lr"] == 3e-3 and math.isnan(last.loc["linear probe", "lr"])


def test_budget_helpers():
    assert gradual_schedule(5, 5) == [1, 1, 1, 1, 1]
    assert gradual_schedule(7, 5) == [1, 1, 1, 1, 3]
    assert gradual_schedule(2, 5) == [1, 1]
    assert [first_stage_epochs(e) for e in (1, 2, 3, 5, 6)] == [1, 1, 1, 1, 2]


def test_unknown_strategy_and_bad_budget():
    with pytest.raises(ValueError, match="unknown strategy 'finetune'"):
        get_strategy("finetune")
    with pytest.raises(ValueError, match="epochs must be a whole number"):
        compare_strategies(["head only"], [0], 1, 0, cache=False)
    with pytest.raises(ValueError, match="seeds must be non-negative"):
        compare_strategies(["head only"], [-1], 1, 1, cache=False)
    with pytest.raises(ValueError, match="labels per class"):
        compare_strategies(["head only"], [0], 0, 1, cache=False)


def test_frame_is_tidy_and_cached(tmp_path):
    cache = ResultCache(tmp_path)
    df = compare_strategies(["head only", "linear probe"], [0, 1], 1, 1, cache=cache)
    assert list(df.columns) == COLUMNS and len(df) == 4 and not df.attrs["stopped"]
    assert len(cache) == 4
    hits = []
    again = compare_strategies(["head only", "linear probe"], [0, 1], 1, 1, cache=cache,
                               on_run=lambda i, n, rows, cached: hits.append(cached))
    assert hits == [True] * 4
    assert again.drop(columns="wall_seconds").equals(df.drop(columns="wall_seconds"))
    assert np.allclose(again["wall_seconds"], df["wall_seconds"])     # the stored timings come back too
    assert len(final_epoch(df)) == 4


def test_same_seed_same_result_and_custom_strategy(tmp_path):
    def last_two(learn, epochs, lr):
        learn.freeze_to(-2)
        learn.fit_one_cycle(epochs, lr)
    mine = Strategy("last two groups", last_two)
    a = compare_strategies([mine], [3], 1, 1, cache=False)
    b = compare_strategies([mine], [3], 1, 1, cache=tmp_path)
    assert a["accuracy"].tolist() == b["accuracy"].tolist() and a["strategy"].tolist() == ["last two groups"]


def test_stop_keeps_finished_runs(tmp_path):
    stop = threading.Event()

    def after(i, n, rows, cached):
        stop.set()                                  # Stop pressed while the second run is about to train
    df = compare_strategies(["head only", "linear probe", "fine_tune"], [0], 1, 1, cache=tmp_path, stop=stop,
                            on_run=after)
    assert df.attrs["stopped"] and df["strategy"].unique().tolist() == ["head only"]
    assert len(ResultCache(tmp_path)) == 1


def test_stop_during_a_fit_raises_lab_stopped():
    stop = threading.Event()
    stop.set()
    with pytest.raises(LabStopped):
        train_run("fine_tune", 0, 1, 2, 1e-2, stop=stop)


def test_corrupt_cache_file_is_recomputed(tmp_path):
    messages = []
    cache = ResultCache(tmp_path, report=messages.append)
    df = compare_strategies(["head only"], [0], 1, 1, cache=cache)
    for f in tmp_path.glob("*/*.json"):
        f.write_text("{ half a file")
    again = compare_strategies(["head only"], [0], 1, 1, cache=cache)
    assert len(messages) == 1 and "corrupt" in messages[0]
    assert again["accuracy"].tolist() == df["accuracy"].tolist()
    assert compare_strategies(["head only"], [0], 1, 1, cache=cache)["accuracy"].tolist() == df["accuracy"].tolist()
    assert len(messages) == 1                       # rewritten: read cleanly the third time


def test_bring_your_own_folder(tmp_path):
    from PIL import Image
    from course_utils import digit_images
    x, y = digit_images()
    root = tmp_path / "mine"
    for c in (0, 1):
        (root / str(c)).mkdir(parents=True)
        for j, i in enumerate(np.flatnonzero(y == c)[:10]):
            Image.fromarray(x[i]).save(root / str(c) / f"{j}.png")
    df = compare_strategies(["head only"], [0], 3, 1, data=root, cache=tmp_path / "cache")
    assert len(df) == 1 and 0 <= df["accuracy"].iloc[0] <= 1
    (root / "2").mkdir()
    with pytest.raises(ValueError, match="have no images"):
        compare_strategies(["head only"], [0], 3, 1, data=root, cache=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        compare_strategies(["head only"], [0], 3, 1, data=tmp_path / "nowhere", cache=False)


# ---- lesson 07's exercise checks ------------------------------------------------------------

def _frame():
    import pandas as pd
    rows = [{"strategy": s, "augment": False, "labels_per_class": 3, "seed": seed, "lr": 1e-2, "epoch": e,
             "train_loss": 1.0, "valid_loss": 1.0, "accuracy": acc, "test_accuracy": acc + 0.01 * seed + noise * (seed == 1),
             "wall_seconds": 1.0 * e, "trainable_params": 10, "source_accuracy": src + 0.001 * seed,
             "source_probe_accuracy": 0.9}
            for s, acc, src, noise in [("head only", 0.8, 0.9, 0.0), ("LP-FT", 0.85, 0.8, 0.0), ("fine_tune", 0.8, 0.9, 0.05)]
            for seed in (0, 1, 2) for e in (1, 2)]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_lab_checks_grade_without_raising(capsys):
    from course_utils.checks import l07_strategy_lab as checks
    df = _frame()
    three = ["LP-FT", "head only", "fine_tune"]
    assert checks.check_lab_run(df, three, 3, 2, 3)
    assert not checks.check_lab_run(df, three, 5, 2, 3)
    assert not checks.check_lab_run(df, ["LP-FT"], 3, 2, 3)
    assert not checks.check_lab_run(df, three, 3, 4, 3)
    assert not checks.check_lab_run("not a frame", ["LP-FT"], 3, 2, 3)
    assert not checks.check_lab_run(..., ["LP-FT"], 3, 2, 3)
    assert checks.per_seed(df, "LP-FT") == pytest.approx([0.85, 0.86, 0.87])
    assert checks.check_paired_verdict("LP-FT better", df, "LP-FT", "head only")        # +0.05 on every seed
    assert not checks.check_paired_verdict("no detectable difference", df, "LP-FT", "head only")
    assert checks.check_paired_verdict("no detectable difference", df, "fine_tune", "head only")   # +0, +0.05, +0
    assert checks.check_forgets_more(["LP-FT"], df, "head only", ["LP-FT", "fine_tune"])
    assert not checks.check_forgets_more([], df, "head only", ["LP-FT", "fine_tune"])
    assert not checks.check_forgets_more("LP-FT", df, "head only", ["LP-FT", "fine_tune"])
    out = capsys.readouterr().out
    assert out.count("✓") == 4 and "not answered yet" in out and "95% CI" in out


def test_the_probe_counts_as_complete_with_no_epochs():
    from course_utils.checks import l07_strategy_lab as checks
    df = _frame()
    probe = df[df["strategy"] == "head only"].assign(strategy="linear probe", epoch=0).drop_duplicates("seed")
    import pandas as pd
    assert checks.check_lab_run(pd.concat([df[df["strategy"] != "head only"], probe]), ["LP-FT", "fine_tune",
                                                                                     "linear probe"], 3, 2, 3)


def test_own_strategy_check():
    from course_utils.checks import l07_strategy_lab as checks
    from course_utils import digits_dls
    from course_utils import tier_arch

    def last_two(learn, epochs, lr):
        learn.freeze_to(-2)
        learn.fit_one_cycle(epochs, lr)

    def head(learn, epochs, lr):
        learn.fit_one_cycle(epochs, lr)
    dls = digits_dls(1, seed=0)
    from course_utils.lab import make_learner
    assert checks.check_own_strategy(last_two, make_learner("head only", dls, tier_arch()), 1, 2)
    assert not checks.check_own_strategy(head, make_learner("head only", dls, tier_arch()), 1, 2)
    assert not checks.check_own_strategy(lambda learn, e, lr: None, make_learner("head only", dls, tier_arch()), 1, 2)


def test_a_run_does_not_depend_on_being_the_kernels_first():
    from course_utils.lab import runs as strategy_lab
    strategy_lab._digits_eval_tensors.cache_clear()
    first = train_run("head only", 0, 1, 1, 1e-2)        # builds the cached test tensors
    again = train_run("head only", 0, 1, 1, 1e-2)        # reuses them
    assert [r["accuracy"] for r in first] == [r["accuracy"] for r in again]
    assert [r["test_accuracy"] for r in first] == [r["test_accuracy"] for r in again]
    assert [r["train_loss"] for r in first] == [r["train_loss"] for r in again]


def test_augmentation_is_part_of_the_run_and_of_the_key(tmp_path):
    cache = ResultCache(tmp_path)
    plain = compare_strategies(["head only"], [0], 1, 1, cache=cache)
    both = compare_strategies(["head only"], [0], 1, 1, augment=[False, True], cache=cache)
    assert both["augment"].tolist() == [False, True] and len(cache) == 2
    assert both["accuracy"].iloc[0] == plain["accuracy"].iloc[0]


# ---- parameter-efficient fine-tuning (lesson 09's LoRA and BitFit) in the lab ----------------------------

def _body_params(learn):
    """``{name: tensor}`` of the body's parameters, named as before LoRA wrapped a convolution (``base_layer.``)."""
    return {n.replace("base_layer.", ""): p.detach().clone() for n, p in learn.model[0].named_parameters()}


def _expected_trainable(name, learn):
    """What the strategy claims to train, counted from the architecture (not from requires_grad): fastai's head,
    plus a rank-r pair beside every 3x3 convolution of the body (LoRA) or the body's bias terms (BitFit)."""
    from course_utils.lab.strategies import LORA_RANK
    head = sum(p.numel() for p in learn.model[1].parameters())
    if name == "LoRA":
        convs = [m for m in learn.model[0].modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
        return head + sum(LORA_RANK * (m.in_channels * 9 + m.out_channels) for m in convs), len(convs)
    return head + sum(p.numel() for n, p in learn.model[0].named_parameters() if n.endswith("bias")), 0


def test_lora_and_bitfit_are_lab_strategies_and_in_the_widget(tmp_path):
    from course_utils.lab import PEFT_STRATEGIES, StrategyLab
    assert list(STRATEGIES)[-2:] == ["LoRA", "BitFit"] and set(PEFT_STRATEGIES) == {"LoRA", "BitFit"}
    assert all(STRATEGIES[n].pretrained and STRATEGIES[n].tuned and not STRATEGIES[n].probe_head for n in PEFT_STRATEGIES)
    lab = StrategyLab(checked=("LoRA",), labels_per_class=1, epochs=1, n_seeds=1, cache=tmp_path)
    assert [b.description for b in lab.strategy_boxes][-2:] == ["LoRA", "BitFit"] and lab.chosen == ["LoRA"]


@pytest.mark.parametrize("name", ["LoRA", "BitFit"])
def test_parameter_efficient_strategies_train_only_what_they_claim(name):
    """On a tiny budget (1 label per class, 1 epoch): the trainable count is the one computed from the architecture,
    every frozen body weight is bit-for-bit unchanged, the trained ones moved; BatchNorm's running statistics
    follow the digits (as in head only: the docstrings say so)."""
    from course_utils.lab import make_learner
    from course_utils.lab.runs import run_dls
    seed_everything(0)
    learn = make_learner(name, run_dls(1, 0), cu.tier_arch())
    expected, n_adapted = _expected_trainable(name, learn)
    before = _body_params(learn)
    stats = {n: b.clone() for n, b in learn.model[0].named_buffers() if "running_mean" in n}
    with learn.no_bar(), learn.no_logging():
        get_strategy(name).train(learn, 1, 1e-2)
    assert len(learn.recorder.losses) == len(learn.dls.train)            # exactly the budget: one epoch of steps
    assert trainable_params(learn) == expected
    after = {n: p for n, p in learn.model[0].named_parameters()}
    trained = {n.replace("base_layer.", "") for n, p in after.items() if p.requires_grad}
    if name == "LoRA":
        assert trained and all(".lora_A." in n or ".lora_B." in n for n in trained) and len(trained) == 2 * n_adapted
        assert all(after[n].abs().sum() > 0 for n in after if ".lora_B." in n)      # B starts at zero, then moves
    else:
        assert trained == {n for n in before if n.endswith("bias")}                  # BatchNorm's shifts
        assert any(not torch.equal(after[n], before[n]) for n in trained)
    frozen = {n for n in before if n not in trained}
    assert frozen and all(torch.equal(_body_params(learn)[n], before[n]) for n in frozen)
    assert any(not torch.equal(b, stats[n]) for n, b in learn.model[0].named_buffers() if n in stats)
    assert trainable_params(learn) < sum(p.numel() for p in learn.model.parameters()) / 2


def test_lora_starts_from_the_pretrained_network():
    """The adapters' B matrices start at zero: right after injection the body computes exactly what it did."""
    from peft import LoraConfig, inject_adapter_in_model
    from course_utils.lab import make_learner
    from course_utils.lab.runs import run_dls
    from course_utils.lab.strategies import LORA_RANK
    learn = make_learner("LoRA", run_dls(1, 0), cu.tier_arch())
    body = learn.model[0].eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        plain = body(x)
        targets = [n for n, m in body.named_modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
        inject_adapter_in_model(LoraConfig(r=LORA_RANK, lora_alpha=LORA_RANK, target_modules=targets), body)
        assert torch.equal(body(x), plain)


def test_parameter_efficient_runs_are_measured_and_cached(tmp_path, monkeypatch):
    """Through the lab: each run's trainable count, forgetting measured on the adapted body, and a second call
    served from the cache; the digest follows LORA_RANK and peft's version, BitFit's does not need them."""
    import importlib.metadata
    from course_utils.lab import strategies as strategies_module
    cache = ResultCache(tmp_path)
    df = compare_strategies(["LoRA", "BitFit"], [0], 1, 1, lr=1e-2, cache=cache)
    last = final_epoch(df).set_index("strategy")
    assert last.loc["LoRA", "trainable_params"] > last.loc["BitFit", "trainable_params"]
    assert ((last[["source_accuracy", "source_probe_accuracy", "test_accuracy"]] >= 0) &
            (last[["source_accuracy", "source_probe_accuracy", "test_accuracy"]] <= 1)).all().all()
    hits = []
    again = compare_strategies(["LoRA", "BitFit"], [0], 1, 1, lr=1e-2, cache=cache,
                               on_run=lambda i, n, rows, cached: hits.append(cached))
    assert hits == [True, True] and again.drop(columns="wall_seconds").equals(df.drop(columns="wall_seconds"))
    lora = STRATEGIES["LoRA"]
    digest = lora.code_sha()
    monkeypatch.setattr(strategies_module, "LORA_RANK", 8)
    assert lora.code_sha() != digest                        # another rank: another cache key
    monkeypatch.setattr(strategies_module, "LORA_RANK", 4)
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda p: "0.0.0" if p == "peft" else real(p))
    assert lora.code_sha() != digest and STRATEGIES["BitFit"].packages == ()
