"""Robustness table: bad input to every public course_utils function and widget that takes input.

One row per case: what is called, the one clear error it must raise (type + a fragment of the
message that tells the learner what to do) or ``None`` for a safe fallback, and an optional
``after`` check. For every row, nothing on disk may change: the case's own files (folders,
checkpoints, caches it set up) and the repository's shipped ``data/`` folder are hashed before
and after the call.

A case is ``make(env) -> callable``: ``make`` sets the scene (files in ``env.tmp``, environment
variables via ``env.monkeypatch``), the returned zero-argument callable is the call under test.
Other test files check the happy paths; this table is the one place that lists the bad ones.
"""
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pandas as pd
import pytest
import torch
from PIL import Image

import course_utils  # noqa: F401
from fastai.vision.all import Callback, CancelFitException, accuracy, vision_learner

import course_utils as cu
from course_utils import backbone, config, folders
from course_utils.lab import (COLUMNS, ResultCache, Strategy, StrategyLab, cache_key, compare_strategies,
                              data_identity, get_strategy, plot_paired, run_fields, tune_rates)
from course_utils.lessons import l02_feature_extraction as l02
from course_utils.lessons import l04_gradual_unfreezing as l04
from course_utils.lessons import l05_discriminative_learning_rates as l05
from course_utils.lessons import l06_data_augmentation as l06
from course_utils.lessons import l09_text_and_peft as l09
from course_utils.lessons import l10_trust_and_ship as l10
from course_utils.lessons.l03_freezing_and_layer_groups import FreezeExplorer
from course_utils.lessons.l04_gradual_unfreezing import ScheduleExplorer
from course_utils.lessons.l05_discriminative_learning_rates import DiscriminativeLRExplorer
LabelsPerClassExplorer = cu.LabelsPerClassExplorer

REPO_DATA = config.REPO_ROOT / "data"


# ---------------------------------------------------------------- the scene each case can use

class Env:
    """What a case's ``make`` gets: a private folder, monkeypatch, a private data/ and a shared learner."""

    def __init__(self, tmp, monkeypatch, learner_factory):
        self.tmp, self.monkeypatch, self._learner_factory = tmp, monkeypatch, learner_factory

    def learner(self):
        return self._learner_factory()

    def data_dir(self):
        """A private copy of the shipped backbone (weights + card) that config.DATA_DIR points to."""
        d = self.tmp / "data"
        d.mkdir(exist_ok=True)
        for name in (f"{stem}.{ext}" for stem, _ in backbone.BACKBONES.values() for ext in ("pth", "json")):
            (d / name).write_bytes((REPO_DATA / name).read_bytes())
        self.monkeypatch.setattr(config, "DATA_DIR", d)
        return d


def png(path, shade=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), (shade % 256, 40, 200)).save(path)
    return path


def image_folder(root, classes=("cat", "dog"), n=5):
    for c_i, name in enumerate(classes):
        for i in range(n):
            png(root / name / f"{name}_{i}.png", shade=40 * c_i + 9 * i)
    return root


def hashes(*roots):
    """sha256 of every file under the given folders (relative path -> digest)."""
    out = {}
    for root in roots:
        root = Path(root)
        if not root.exists():
            continue
        for p in sorted(root.rglob("*")):
            if p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def noop_train(*args):
    return 0.5


# ---------------------------------------------------------------- scenes used by several cases

def folder_with(env, extra):
    """A good two-class folder, then ``extra(root)`` to spoil it; returns validate_image_folder(root)."""
    root = image_folder(env.tmp / "imgs")
    extra(root)
    return lambda: folders.validate_image_folder(root)


def empty_folder(env):
    root = env.tmp / "empty"
    root.mkdir()
    return lambda: folders.validate_image_folder(root)


def freeze_explorer_action(env, action):
    """A FreezeExplorer on the shared learner; the call under test is ``action(explorer)``, state must not change."""
    ex = FreezeExplorer(env.learner())
    env.explorer, env.state_before = ex, ex.state
    return lambda: action(ex)


def freeze_state_kept(env):
    assert env.explorer.state == env.state_before, "a rejected action changed the learner"


def corrupt_checkpoint(env):
    d = env.data_dir()
    w = d / backbone.WEIGHTS_FILE
    blob = bytearray(w.read_bytes())
    blob[len(blob) // 2] ^= 0xFF                  # one flipped byte
    w.write_bytes(bytes(blob))
    return lambda: backbone.mini_resnet(pretrained=True)


def wrong_card_checksum(env):
    d = env.data_dir()
    card = json.loads((d / backbone.CARD_FILE).read_text())
    card["sha256"] = "0" * 64
    (d / backbone.CARD_FILE).write_text(json.dumps(card))
    return lambda: backbone.load_checkpoint()


def missing_card(env):
    d = env.data_dir()
    (d / backbone.CARD_FILE).unlink()
    return lambda: backbone.mini_resnet(pretrained=True)


def corrupt_card(env):
    d = env.data_dir()
    (d / backbone.CARD_FILE).write_text("{ not json")
    return lambda: backbone.read_card()


def missing_weights(env):
    d = env.data_dir()
    (d / backbone.WEIGHTS_FILE).unlink()
    return lambda: backbone.mini_resnet(pretrained=True)


class InterruptAt(Callback):
    """Raise ``exc`` at the given training batch of the first epoch (Ctrl-C, or a callback that cancels)."""

    def __init__(self, exc, at_batch=1):
        self.exc, self.at_batch = exc, at_batch

    def after_batch(self):
        if self.training and self.iter == self.at_batch:
            raise self.exc


def interrupted_fit(exc):
    def make(env):
        env.data_dir()
        learn = vision_learner(cu.digits_dls(2, seed=0), backbone.mini_resnet, metrics=accuracy)
        env.interrupted = learn

        def call():
            with learn.no_bar(), learn.no_logging():
                learn.fit_one_cycle(2, 1e-2, cbs=InterruptAt(exc))
        return call
    return make


def still_trains(env):
    """After an interrupted fit, the same learner validates and trains again."""
    learn = env.interrupted
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(1, 1e-2)
        loss, acc = learn.validate()
    assert 0 <= acc <= 1 and torch.isfinite(torch.tensor(loss))


def explorer_run_keeps_results(make_explorer, good_call, bad_call):
    """A widget after one good run: the bad call must fail cleanly and keep the earlier row(s)."""
    def make(env):
        ex = make_explorer(env)
        good_call(ex)
        env.explorer, env.rows_before = ex, list(ex.rows)
        return lambda: bad_call(ex)
    return make


def results_kept(env):
    ex = env.explorer
    assert ex.rows == env.rows_before, "earlier results were lost"
    assert not getattr(ex, "button", None) or not ex.button.disabled, "the button stayed disabled"


def tiny_train(learn, epochs, lr):
    """A one-epoch strategy for cache cases: cheap, but a real run through compare_strategies."""
    learn.fit_one_cycle(1, lr)


TINY = Strategy("tiny (test)", tiny_train)


def cache_scene(damage):
    """A cache folder where ``damage(cache, fields)`` spoiled the tiny run's entry; the call runs compare_strategies."""
    def make(env):
        env.reports = []
        cache = ResultCache(env.tmp / "cache", report=env.reports.append)
        fields = run_fields(TINY, 0, 1, 1, 1e-2, False, data_identity())
        damage(cache, fields)
        env.cache, env.fields = cache, fields
        return lambda: setattr(env, "frame", compare_strategies([TINY], [0], 1, 1, lr=1e-2, cache=cache))
    return make


def write_garbage(cache, fields):
    f = cache.file_for(fields)
    f.parent.mkdir(parents=True)
    f.write_text('{"format": 1, "key": "trunc')          # a write cut short


def put_stale(cache, fields):
    cache.put({**fields, "epochs": 2}, [{"stale": True}])  # the same run with another budget: another key


def corrupt_reported_and_recomputed(env):
    assert any("corrupt" in r for r in env.reports), env.reports
    assert env.cache.get(env.fields) is not None, "the corrupt entry was not rewritten"
    assert len(env.frame) == 1 and env.frame["accuracy"].between(0, 1).all()


def stale_not_used(env):
    assert "stale" not in env.frame.columns and len(env.frame) == 1, "a result for another budget was reused"
    assert len(env.cache) == 2 and not env.reports


def raise_interrupt(*args):
    raise KeyboardInterrupt


def read_only_export(env):
    folder = env.tmp / "app"
    folder.mkdir()
    (folder / "digits.pkl").write_bytes(b"the export an app is using")
    folder.chmod(0o555)
    return lambda: l10.export_learner(env.learner(), folder)


def export_from_other_version(env):
    (env.tmp / "digits.pkl").write_bytes(b"not unpickled: the card is read first")
    (env.tmp / "digits.pkl.json").write_text(json.dumps({"fastai": "2.7.0", "torch": "2.0.0", "classes": []}))
    return lambda: l10.load_export(env.tmp / "digits.pkl")


def text_too_long():
    """Fallback, announced: a text longer than max_tokens is cut to max_tokens and counted in n_truncated."""
    ids, mask, n_cut = cu.tokenize_texts(["a long review " * 200, "short"], 16)
    assert ids.shape == (2, 16) and int(mask[0].sum()) == 16 and n_cut == 1


# ---------------------------------------------------------------- the table

@dataclass
class Case:
    id: str
    make: Callable                      # env -> zero-argument callable under test
    raises: Optional[type]              # expected exception type; None = must not raise
    match: str = ""                     # fragment (regex) of the message that says what to do
    after: Optional[Callable] = None    # env -> None: extra checks (learner still usable, rows kept...)
    guard: bool = True                  # False: the case's own files may be rewritten (a corrupt cache is)


def scene(build, action):
    """``build(env)`` makes the files first (before the snapshot); the call under test is ``action(built)``."""
    def make(env):
        built = build(env)
        return lambda: action(built)
    return make


def call(fn, *args, **kwargs):
    return lambda env: (lambda: fn(*args, **kwargs))


def env_var(name, value, fn):
    def make(env):
        env.monkeypatch.setenv(name, value)
        return fn
    return make


CASES = [
    # --- tier and seeds
    Case("COURSE_MODE unknown", env_var("COURSE_MODE", "fast", config.get_mode), ValueError, "use one of quick, full"),
    Case("set_mode(None)", call(config.set_mode, None), ValueError, "use one of quick, full"),
    Case("COURSE_SEEDS not numbers", env_var("COURSE_SEEDS", "a,b,c", cu.lesson_seeds), ValueError,
         "comma-separated whole numbers such as 3,4,5"),
    Case("COURSE_SEEDS one seed", env_var("COURSE_SEEDS", "3", cu.lesson_seeds), ValueError, "at least two distinct"),
    Case("COURSE_SEEDS repeated", env_var("COURSE_SEEDS", "3,3", cu.lesson_seeds), ValueError, "at least two distinct"),
    Case("COURSE_SEEDS negative", env_var("COURSE_SEEDS", "-1,2", cu.lesson_seeds), ValueError,
         "comma-separated whole numbers|non-negative"),
    Case("COURSE_SEEDS blank falls back to defaults", env_var("COURSE_SEEDS", "  ", cu.lesson_seeds), None),
    Case("seed_everything(-1)", call(cu.seed_everything, -1), ValueError, "non-negative whole number"),
    # --- the measurement protocol
    Case("paired_diff one seed", call(cu.paired_diff, [0.9], [0.8]), ValueError, "at least two seeds"),
    Case("paired_diff NaN", call(cu.paired_diff, [0.9, float("nan")], [0.8, 0.7]), ValueError, "NaN"),
    Case("paired_diff lengths differ", call(cu.paired_diff, [0.9, 0.8, 0.7], [0.8, 0.7]), ValueError,
         "one result per seed"),
    Case("paired_diff confidence=95", call(cu.paired_diff, [0.9, 0.8], [0.8, 0.7], confidence=95), ValueError,
         "between 0 and 1"),
    Case("paired_table unknown baseline", call(cu.paired_table, {"a": [1, 2]}, "b"), ValueError, "baseline 'b'"),
    Case("choose_lr negative rate", call(cu.choose_lr, lambda lr: 0.5, [-1e-3]), ValueError, "positive numbers"),
    Case("fit_linear_probe one class", call(cu.fit_linear_probe, [[0.0], [1.0]], [1, 1], [[0.5]], [1]), ValueError,
         "two classes"),
    Case("fit_linear_probe lengths differ", call(cu.fit_linear_probe, [[0.0], [1.0]], [0], [[0.5]], [1]), ValueError,
         "one label each"),
    Case("source_accuracy unknown source", call(cu.source_accuracy, None, None, "digits"), ValueError,
         "unknown source task"),
    Case("seed_everything('0')", call(cu.seed_everything, "0"), ValueError, "non-negative whole number"),
    # --- digits (quick-tier target data)
    Case("few_shot_indices k=0", call(cu.few_shot_indices, 0), ValueError, r"1 <= k <= \d+"),
    Case("few_shot_indices k too large", call(cu.few_shot_indices, 10_000), ValueError, "fewest any digit"),
    Case("few_shot_indices k=2.5", call(cu.few_shot_indices, 2.5), ValueError, "whole number"),
    Case("few_shot_indices k='5'", call(cu.few_shot_indices, "5"), ValueError, "whole number"),
    Case("few_shot_indices k=None", call(cu.few_shot_indices, None), ValueError, "whole number"),
    Case("few_shot_indices seed=-1", call(cu.few_shot_indices, 5, seed=-1), ValueError, "non-negative whole number"),
    Case("few_shot_indices seed=1.5", call(cu.few_shot_indices, 5, seed=1.5), ValueError, "non-negative whole number"),
    Case("digits_dls bs=0", call(cu.digits_dls, 2, bs=0), ValueError, "batch size.*>= 1"),
    Case("digits_dls bs='16'", call(cu.digits_dls, 2, bs="16"), ValueError, "batch size.*>= 1"),
    # --- bring-your-own folders
    Case("folder missing", lambda env: (lambda: folders.validate_image_folder(env.tmp / "nope")),
         FileNotFoundError, "does not exist: check the path"),
    Case("folder is a file", scene(lambda env: png(env.tmp / "one.png"), folders.validate_image_folder),
         FileNotFoundError, "is a file, not a folder"),
    Case("folder empty", lambda env: empty_folder(env), ValueError, "no class subfolders"),
    Case("folder with one class", scene(lambda env: image_folder(env.tmp / "one", classes=("cat",)),
                                        folders.validate_image_folder), ValueError, "at least two classes"),
    Case("folder with loose images", lambda env: folder_with(env, lambda r: png(r / "stray.png")),
         ValueError, "move them into a class subfolder"),
    Case("folder nested one level too deep", lambda env: folder_with(env, lambda r: png(r / "cat" / "sub" / "x.png")),
         ValueError, "pass .* instead"),
    Case("folder with an empty class", lambda env: folder_with(env, lambda r: (r / "emu").mkdir()),
         ValueError, "add images or remove the folder"),
    Case("truncated PNG", lambda env: folder_with(env, lambda r: (r / "cat" / "bad.png").write_bytes(
         (r / "cat" / "cat_0.png").read_bytes()[:40])), ValueError, "cannot be opened.*delete or replace"),
    Case("text file named .jpg", lambda env: folder_with(env, lambda r: (r / "dog" / "notes.jpg").write_text("hello")),
         ValueError, "cannot be opened.*delete or replace"),
    Case("hidden files and folders are ignored", lambda env: folder_with(env, lambda r: (
         png(r / ".ipynb_checkpoints" / "x.png"), (r / "cat" / ".DS_Store").write_bytes(b"\0"))), None),
    Case("folder_dls k larger than a class", scene(lambda env: image_folder(env.tmp / "f"),
                                                   lambda root: folders.folder_dls(root, k=50, size=16)), ValueError, "smallest class"),
    Case("folder_dls valid_pct=1.5", scene(lambda env: image_folder(env.tmp / "f"),
                                           lambda root: folders.folder_dls(root, valid_pct=1.5)),
         ValueError, "between 0 and 1"),
    Case("folder_dls seed=-3", scene(lambda env: image_folder(env.tmp / "f"), lambda root: folders.folder_dls(root, seed=-3)),
         ValueError, "non-negative whole number"),
    Case("folder_dls size=0", scene(lambda env: image_folder(env.tmp / "f"), lambda root: folders.folder_dls(root, size=0)),
         ValueError, "image side in pixels"),
    # --- the shipped backbone
    Case("checkpoint with a flipped byte", corrupt_checkpoint, ValueError, "corrupt or changed.*restore the file"),
    Case("model card with a wrong checksum", wrong_card_checksum, ValueError, "corrupt or changed.*rebuild"),
    Case("model card missing", missing_card, FileNotFoundError, "rebuild the backbone with: make pretrain"),
    Case("model card not JSON", corrupt_card, ValueError, "not valid JSON.*rebuild"),
    Case("weights missing", missing_weights, FileNotFoundError, "are missing; rebuild them"),
    # --- source data, forgetting, statistics, embeddings, features
    Case("make_source_data n=0", call(cu.make_source_data, 0, seed=0), ValueError, "positive integer"),
    Case("heldout_source_data n=-1", call(cu.heldout_source_data, n_per_class=-1), ValueError,
         "positive whole number"),
    Case("mean_spread([])", call(cu.mean_spread, []), ValueError, "at least one value"),
    Case("mean_spread(None)", call(cu.mean_spread, None), ValueError, "list of numbers"),
    Case("mean_spread(['a'])", call(cu.mean_spread, ["a"]), ValueError, "list of numbers"),
    Case("fmt_mean_spread digits=-1", call(cu.fmt_mean_spread, [0.5, 0.6], digits=-1), ValueError, "decimal places"),
    Case("embed_2d unknown method", call(l02.embed_2d, torch.zeros(10, 4).numpy(), method="umap"),
         ValueError, "use one of"),
    Case("embed_2d 1-D features", call(l02.embed_2d, torch.zeros(10).numpy()), ValueError, "pool"),
    Case("avg_pool 3-D maps", call(l02.avg_pool, torch.zeros(2, 3, 4)), ValueError, r"\(N, C, H, W\)"),
    Case("tensor_dls bs=0", call(l02.tensor_dls, torch.zeros(4, 3), torch.zeros(4), torch.zeros(2, 3),
                                 torch.zeros(2), bs=0), ValueError, "positive whole number"),
    Case("few_shot_table bad rows", call(l02.few_shot_table, [("probe", 5)]), ValueError, "rows of 4 values"),
    Case("few_shot_table empty", call(l02.few_shot_table, []), ValueError, "at least one result"),
    Case("paired_by_k unknown strategy", call(l02.paired_by_k, [("a", 1, 0, .5), ("a", 1, 1, .6)], "a", "b"),
         ValueError, "unknown strategy"),
    Case("paired_by_k one seed", call(l02.paired_by_k, [("a", 1, 0, .5), ("b", 1, 0, .6)], "a", "b"),
         ValueError, "at least two seeds"),
    # --- learning rates and schedules
    Case("check_lr_range lo > hi", call(l05.check_lr_range, 1e-2, 1e-4), ValueError, "swap them"),
    Case("check_lr_range lo=0", call(l05.check_lr_range, 0, 1e-2), ValueError, "positive, finite"),
    Case("check_lr_range hi='1e-3'", call(l05.check_lr_range, 1e-4, "1e-3"), ValueError, "positive number"),
    Case("geometric_lrs 0 groups", call(l05.geometric_lrs, 1e-4, 1e-2, 0), ValueError, ">= 1"),
    Case("ulmfit_lrs factor < 1", call(cu.ulmfit_lrs, 1e-2, 5, factor=0.5), ValueError, "factor must be >= 1"),
    Case("check_schedule too many stages", call(cu.check_schedule, [1] * 6, 5), ValueError, "at most 5 stages"),
    Case("check_schedule 0 epochs", call(cu.check_schedule, [1, 0], 5), ValueError, "positive whole number"),
    Case("check_schedule not a list", call(cu.check_schedule, 3, 5), ValueError, "list of epochs per stage"),
    Case("check_group_index 1.0", lambda env: (lambda: cu.check_group_index(1.0, 5)), ValueError, "an int"),
    Case("check_group_index past the end", call(cu.check_group_index, 5, 5), ValueError, "numbered 0 to 4"),
    Case("lrs_for slice(hi, lo)", lambda env: (lambda: l05.lrs_for(env.learner(), slice(1e-2, 1e-4))),
         ValueError, "swap them"),
    Case("gradual_unfreeze base_lr=-1", lambda env: (lambda: cu.gradual_unfreeze(env.learner(), [1], base_lr=-1)),
         ValueError, "finite number above 0"),
    Case("gradual_unfreeze 6 stages", lambda env: (lambda: cu.gradual_unfreeze(env.learner(), [1] * 6)),
         ValueError, "at most 5 stages"),
    Case("weight_drift wrong snapshot", lambda env: (lambda: l04.weight_drift(env.learner(), [[torch.ones(1)]])),
         ValueError, "same learner, before training"),
    # --- augmentation knobs (lesson 06)
    Case("aug pad_mode unknown", call(cu.checked_aug_transforms, pad_mode="bogus"), ValueError,
         "pad_mode must be one of"),
    Case("aug max_rotate negative", call(cu.checked_aug_transforms, max_rotate=-10), ValueError,
         "use a positive number"),
    Case("aug p_affine 1.5", call(cu.check_aug_knobs, p_affine=1.5), ValueError, "a probability"),
    Case("aug min_zoom > max_zoom", call(cu.check_aug_knobs, min_zoom=1.5, max_zoom=1.2), ValueError,
         "must not be larger than max_zoom"),
    Case("aug max_zoom below 1", call(cu.check_aug_knobs, max_zoom=0.5), ValueError, "cannot be below 1"),
    Case("aug do_flip 'yes'", call(cu.check_aug_knobs, do_flip="yes"), ValueError, "True or False"),
    Case("aug unknown knob", call(cu.check_aug_knobs, max_rotation=10), ValueError, "the knobs are"),
    Case("aug max_warp nan", call(cu.check_aug_knobs, max_warp=float("nan")), ValueError, "max_warp must be in"),
    Case("per_class_accuracy flip='yes'", lambda env: (lambda: l06.per_class_accuracy(env.learner(), flip="yes")),
         ValueError, "True or False"),
    Case("per_class_accuracy dl=5", lambda env: (lambda: l06.per_class_accuracy(env.learner(), dl=5)),
         ValueError, "DataLoader of labelled images"),
    Case("gallery_digits n=0", call(l06.gallery_digits, 0), ValueError, "from 1 to 50"),
    Case("AugmentationExplorer draws=0", call(l06.AugmentationExplorer, draws=0), ValueError, "draws must be"),
    Case("AugmentationExplorer min_zoom", call(l06.AugmentationExplorer, min_zoom=0.8), ValueError, "set max_zoom"),
    # --- trust and ship (lesson 10): class weights, imbalance ratio, export and load
    Case("class weights of the wrong length", call(l10.check_class_weights, [1.0, 2.0]), ValueError,
         "one number per class"),
    Case("class weights negative", call(l10.check_class_weights, [1.0] * 9 + [-1.0]), ValueError, "non-negative"),
    Case("imbalance ratio 0", call(l10.imbalanced_indices, 20, 0), ValueError, r"in \(0, 1\]"),
    Case("imbalance ratio 1.5", call(l10.imbalanced_indices, 20, 1.5), ValueError, r"in \(0, 1\]"),
    Case("ImbalanceExplorer ratio -0.2", call(l10.ImbalanceExplorer, noop_train, ratio=-0.2), ValueError, r"in \(0, 1\]"),
    Case("export to a read-only folder keeps the old export", lambda env: read_only_export(env), OSError, "read-only"),
    Case("load an export from another fastai version", lambda env: export_from_other_version(env), ValueError,
         "exported with fastai 2.7.0"),
    Case("load an export without its card", scene(lambda env: env.tmp / "digits.pkl" if (env.tmp / "digits.pkl").write_bytes(b"x") else None,
                                                   l10.load_export),
         FileNotFoundError, "card digits.pkl.json is missing"),
    Case("balanced_weights with an empty class", call(l10.balanced_weights, [20, 0, 20]), ValueError,
         "positive number of training items"),
    Case("index_dls wgts of the wrong length", call(l10.index_dls, [0, 1, 2], wgts=[1.0, 1.0]), ValueError,
         "one non-negative weight per training item"),
    Case("plot_recalls of nothing", call(l10.plot_recalls, {}), ValueError, "at least one remedy"),
    # --- text and parameter-efficient fine-tuning (lesson 09): snippets, splits, texts, tokens, LoRA
    Case("load_snippets from a missing file", lambda env: (lambda: l09.load_snippets(path=env.tmp / "nope.txt")),
         FileNotFoundError, "does not exist; run 'make setup'"),
    Case("load_snippets margin=5", call(l09.load_snippets, margin=5), ValueError, "margin must be a number from 0 to 4"),
    Case("load_snippets margin='0.5'", call(l09.load_snippets, margin="0.5"), ValueError, "margin must be a number"),
    Case("fixed_splits n_valid odd for two classes", call(l09.fixed_splits, [0, 1] * 50, n_valid=15, n_test=20),
         ValueError, "n_valid must be a positive multiple of the number of classes"),
    Case("fixed_splits larger than the data", call(l09.fixed_splits, [0, 1] * 50, n_valid=60, n_test=60), ValueError,
         "too few for 30 validation and 30 test .* lower n_valid and n_test"),
    Case("fixed_splits with one class", call(l09.fixed_splits, [1] * 100, n_valid=10, n_test=10), ValueError,
         "at least two classes"),
    Case("few_shot k=0", call(l09.few_shot, l09.np.arange(100), [0, 1] * 50, 0, 0), ValueError,
         "k .labels per class. must be a whole number >= 1"),
    Case("few_shot k above the pool", call(l09.few_shot, l09.np.arange(10), [0, 1] * 5, 6, 0), ValueError,
         "lower k to 5 or less"),
    Case("lora_config r=0", lambda env: (lambda: l09.lora_config(l09.fresh_classifier(), 0)), ValueError,
         "rank r must be a whole number >= 1"),
    Case("lora_config r=-2", lambda env: (lambda: l09.lora_config(l09.fresh_classifier(), -2)), ValueError,
         "rank r must be a whole number >= 1"),
    Case("lora_config unknown target module", lambda env: (lambda: l09.lora_config(l09.fresh_classifier(), 4, ["qury"])),
         ValueError, r"\['qury'\] are not linear layers of this model; pick from \['dense', 'key', 'query', 'value'\]"),
    Case("lora_config no target modules", lambda env: (lambda: l09.lora_config(l09.fresh_classifier(), 4, [])),
         ValueError, "pick from"),
    Case("check_texts of no texts", call(cu.check_texts, []), ValueError, "non-empty list of strings"),
    Case("check_texts of one string", call(cu.check_texts, "a great film"), ValueError, "non-empty list of strings"),
    Case("check_texts with an empty text", call(cu.check_texts, ["great", "  "]), ValueError,
         "1 of 2 texts are empty or not strings .first at index 1.*drop or fix them"),
    Case("check_texts with a number", call(cu.check_texts, ["great", 3.5]), ValueError, "drop or fix them"),
    Case("check_texts with one class", call(cu.check_texts, ["great", "awful"], [1, 1]), ValueError,
         "a classifier needs at least two classes"),
    Case("check_texts with label names", call(cu.check_texts, ["great", "awful"], ["pos", "neg"]), ValueError,
         "map names to numbers first"),
    Case("tokenize_texts of non-text", call(cu.tokenize_texts, [b"bytes", "ok"]), ValueError, "drop or fix them"),
    Case("tokenize_texts max_tokens=1000", call(cu.tokenize_texts, ["ok"], 1000), ValueError, "from 3 to 512"),
    Case("tokenize_texts of a text too long: cut and counted", lambda env: text_too_long, None),
    Case("text_dls with no training examples", lambda env: (lambda: cu.text_dls(*cu.tokenize_texts(["a", "b"], 8)[:2],
                                                                              [0, 1], [], [0, 1])),
         ValueError, "at least one training and one validation index"),
    Case("minilm_classifier n_classes=1", call(cu.minilm_classifier, 1), ValueError, "needs two classes"),
    Case("LabelsPerClassExplorer unit=''", call(LabelsPerClassExplorer, noop_train, ["probe"], k_max=50, unit=""),
         ValueError, "unit must name what is labelled"),
    # --- strategy lab (lesson 07): unknown names, bad budgets, stale and corrupt cache
    Case("get_strategy unknown name", call(get_strategy, "magic"), ValueError, "unknown strategy 'magic'; choose from"),
    Case("compare_strategies unknown name", lambda env: (lambda: compare_strategies(["magic"], [0], 5, 2,
                                                                                   cache=env.tmp / "c")),
         ValueError, "unknown strategy"),
    Case("compare_strategies epochs=0", lambda env: (lambda: compare_strategies(["fine_tune"], [0], 5, 0,
                                                                               cache=env.tmp / "c")),
         ValueError, "epochs must be a whole number from 1 to 100"),
    Case("compare_strategies lr=-1", lambda env: (lambda: compare_strategies(["fine_tune"], [0], 5, 2, lr=-1,
                                                                            cache=env.tmp / "c")),
         ValueError, "lr must be a positive number"),
    Case("compare_strategies seed=-1", lambda env: (lambda: compare_strategies(["fine_tune"], [-1], 5, 2,
                                                                              cache=env.tmp / "c")),
         ValueError, "non-negative whole numbers"),
    Case("compare_strategies folder missing", lambda env: (lambda: compare_strategies(["fine_tune"], [0], 5, 2,
                                                                                     data=env.tmp / "nope", cache=False)),
         FileNotFoundError, "does not exist: check the path"),
    Case("compare_strategies lr dict with a bad rate", lambda env: (lambda: compare_strategies(
         ["fine_tune"], [0], 5, 2, lr={"fine_tune": 0}, cache=env.tmp / "c")), ValueError, "lr must be a positive number"),
    Case("tune_rates empty grid", lambda env: (lambda: tune_rates(["fine_tune"], [0], 5, 2, rates=[], cache=env.tmp / "c")),
         ValueError, "rates must be a non-empty list"),
    Case("plot_paired of an empty frame", lambda env: (lambda: plot_paired(pd.DataFrame(columns=COLUMNS))), ValueError,
         "nothing to plot"),
    Case("ResultCache path is a file", scene(lambda env: png(env.tmp / "cache.png"), ResultCache), ValueError,
         "pass a folder"),
    Case("cache_key of an empty dict", call(cache_key, {}), ValueError, "non-empty dict"),
    Case("corrupt cache file: reported, recomputed", cache_scene(write_garbage), None,
         after=corrupt_reported_and_recomputed, guard=False),
    Case("stale cache (key changed): recomputed, old entry kept", cache_scene(put_stale), None, after=stale_not_used),
    Case("StrategyLab unknown strategy", lambda env: (lambda: StrategyLab(strategies=["magic"], cache=env.tmp / "c")),
         ValueError, "unknown strategy"),
    Case("StrategyLab Run with nothing ticked", lambda env: (lambda: setattr(
         env, "lab", StrategyLab(checked=(), cache=env.tmp / "c")) or env.lab.run()), None,
         after=lambda env: "Tick at least one strategy" in env.lab.status.value or pytest.fail(env.lab.status.value)),
    Case("StrategyLab unknown name in checked", call(StrategyLab, checked=("fine_tune", "magic")), ValueError,
         "are not among the lab's strategies"),
    Case("StrategyLab labels_per_class=0", call(StrategyLab, labels_per_class=0), ValueError,
         "labels_per_class must be a whole number >= 1"),
    Case("StrategyLab epochs=40 (slider goes to 15)", call(StrategyLab, epochs=40), ValueError,
         "between 1 and 15"),
    Case("StrategyLab n_seeds=0", call(StrategyLab, n_seeds=0), ValueError, "n_seeds must be a whole number >= 1"),
    Case("StrategyLab seeds=['a']", call(StrategyLab, seeds=["a"]), ValueError, "non-negative whole number"),
    Case("StrategyLab k_max=0", call(StrategyLab, k_max=0), ValueError, "k_max must be a whole number >= 1"),
    # --- interrupted training
    Case("Ctrl-C mid-fit: learner still trains, files intact", interrupted_fit(KeyboardInterrupt()), KeyboardInterrupt,
         after=still_trains),
    Case("CancelFitException mid-fit: fit stops quietly", interrupted_fit(CancelFitException()), None,
         after=still_trains),
    # --- widgets: constructors
    Case("LabelsPerClassExplorer k=0", call(LabelsPerClassExplorer, noop_train, ["probe"], k_max=50, k=0), ValueError,
         "1 <= k <= 50"),
    Case("LabelsPerClassExplorer k_max='x'", call(LabelsPerClassExplorer, noop_train, ["probe"], k_max="x"), ValueError,
         "k_max must be a whole number"),
    Case("LabelsPerClassExplorer k_max=2.5", call(LabelsPerClassExplorer, noop_train, ["probe"], k_max=2.5), ValueError,
         "k_max must be a whole number"),
    Case("LabelsPerClassExplorer train_fn=None", call(LabelsPerClassExplorer, None, ["probe"], k_max=50), ValueError,
         "must be a function"),
    Case("LabelsPerClassExplorer no strategies", call(LabelsPerClassExplorer, noop_train, [], k_max=50), ValueError,
         "non-empty list of names"),
    Case("LabelsPerClassExplorer strategy named 'all'", call(LabelsPerClassExplorer, noop_train, ["all"], k_max=50),
         ValueError, "reserved"),
    Case("FreezeExplorer not a learner", call(FreezeExplorer, "learn"), ValueError, "needs a fastai Learner"),
    Case("FreezeExplorer n past the end", lambda env: (lambda: FreezeExplorer(env.learner(), n=9)), ValueError,
         "use 0 .* to 4"),
    Case("FreezeExplorer names of the wrong length", lambda env: (lambda: FreezeExplorer(env.learner(), names=["a"])),
         ValueError, "one name per layer group"),
    Case("ScheduleExplorer max_epochs_per_stage=0", call(ScheduleExplorer, noop_train, ["a", "b"], max_epochs_per_stage=0),
         ValueError, "max_epochs_per_stage must be a whole number >= 1"),
    Case("ScheduleExplorer group_names=None", call(ScheduleExplorer, noop_train, None), ValueError, "one name per layer"),
    Case("DiscriminativeLRExplorer lo > hi", call(DiscriminativeLRExplorer, lambda lo, hi: [lo, hi], noop_train,
                                                  lo=1e-2, hi=1e-4), ValueError, "swap them"),
    Case("DiscriminativeLRExplorer min_exp >= max_exp", call(DiscriminativeLRExplorer, lambda lo, hi: [lo, hi],
                                                             noop_train, min_exp=0, max_exp=-6), ValueError,
         "min_exp must be below max_exp"),
    Case("DiscriminativeLRExplorer lo outside the sliders", call(DiscriminativeLRExplorer, lambda lo, hi: [lo, hi],
                                                                 noop_train, lo=1e-9), ValueError, "widen min_exp"),
    # --- widgets: bad actions after a good run keep the results
    Case("LabelsPerClassExplorer.run(k=0) keeps results",
         explorer_run_keeps_results(lambda env: LabelsPerClassExplorer(noop_train, ["probe"], k_max=10, k=2),
                                    lambda ex: ex.run(2), lambda ex: ex.run(0)),
         ValueError, "1 <= k <= 10", after=results_kept),
    Case("LabelsPerClassExplorer Ctrl-C in training keeps results, button back",
         explorer_run_keeps_results(lambda env: LabelsPerClassExplorer(noop_train, ["probe"], k_max=10, k=2),
                                    lambda ex: ex.run(2),
                                    lambda ex: (setattr(ex, "train_fn", raise_interrupt), ex.run(3))),
         KeyboardInterrupt, after=results_kept),
    Case("LabelsPerClassExplorer.run unknown strategy keeps results",
         explorer_run_keeps_results(lambda env: LabelsPerClassExplorer(noop_train, ["probe"], k_max=10, k=2),
                                    lambda ex: ex.run(2, "probe"), lambda ex: ex.run(2, "magic")),
         ValueError, "pick one of", after=results_kept),
    Case("ScheduleExplorer.run 0 epochs keeps results",
         explorer_run_keeps_results(
             lambda env: ScheduleExplorer(lambda s: {"accuracy": [0.5], "source_accuracy": None, "drift": [0.01, 0.02]},
                                          ["a", "b"]),
             lambda ex: ex.run(1, 2), lambda ex: ex.run(0, 2)),
         ValueError, "positive whole number of epochs", after=results_kept),
    Case("ScheduleExplorer Ctrl-C in training keeps results, button back",
         explorer_run_keeps_results(
             lambda env: ScheduleExplorer(lambda s: {"accuracy": [0.5], "source_accuracy": None, "drift": [0.01, 0.02]},
                                          ["a", "b"]),
             lambda ex: ex.run(1, 2), lambda ex: (setattr(ex, "train_fn", raise_interrupt), ex.run(1, 1))),
         KeyboardInterrupt, after=results_kept),
    Case("DiscriminativeLRExplorer.set_range(hi, lo) keeps results",
         explorer_run_keeps_results(lambda env: DiscriminativeLRExplorer(lambda lo, hi: [lo, hi], noop_train),
                                    lambda ex: ex.run(), lambda ex: ex.set_range(1e-2, 1e-4)),
         ValueError, "swap them", after=results_kept),
    Case("FreezeExplorer.set_train_bn('yes')", lambda env: freeze_explorer_action(env, lambda ex: ex.set_train_bn("yes")),
         ValueError, "True or False", after=freeze_state_kept),
    Case("FreezeExplorer.set(-9)", lambda env: freeze_explorer_action(env, lambda ex: ex.set(-9)),
         ValueError, "before the first group", after=freeze_state_kept),
]


# ---------------------------------------------------------------- the one test

@pytest.fixture(scope="module")
def shared_learner():
    built = []

    def get():
        if not built:
            built.append(vision_learner(cu.digits_dls(1, seed=0), backbone.mini_resnet, metrics=accuracy))
        learn = built[0]
        learn.freeze()
        return learn
    return get


def test_table_is_large_and_ids_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, tmp_path, monkeypatch, shared_learner):
    torch.set_num_threads(1)
    env = Env(tmp_path, monkeypatch, shared_learner)
    fn = case.make(env)
    before = hashes(tmp_path, REPO_DATA)
    if case.raises is None:
        fn()
    else:
        with pytest.raises(case.raises, match=case.match or None):
            fn()
    now = hashes(tmp_path, REPO_DATA) if case.guard else hashes(REPO_DATA)
    lost = {f for f, h in (before if case.guard else hashes(REPO_DATA)).items() if now.get(f) != h}
    assert not lost, f"files changed or disappeared: {sorted(lost)}"
    if case.after is not None:
        case.after(env)
