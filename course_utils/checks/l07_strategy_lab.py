"""Checks for lesson 07's exercises: a lab run on a new setting, readings of its frame, your own strategy."""
import numpy as np
import pandas as pd
from fastai.torch_core import norm_types

from ..lab.runs import COLUMNS, final_epoch
from ..measure import attach_epoch_log
from . import NOT_ANSWERED, check_choice, check_mean_spread  # noqa: F401  (re-exported for the lesson)
from . import unanswered as _unanswered
from . import verdict as _verdict


def _is_frame(df):
    return isinstance(df, pd.DataFrame) and all(c in df.columns for c in COLUMNS)


def check_lab_run(df, strategies, labels_per_class, epochs, n_seeds):
    """Exercise: ``df`` is a ``compare_strategies`` frame with exactly this setting, every run complete."""
    if _unanswered(df, "the DataFrame that compare_strategies returned"):
        return NOT_ANSWERED
    if not _is_frame(df):
        return _verdict(False, "", f"expected the DataFrame compare_strategies returns (columns {COLUMNS}), "
                                   f"got {type(df).__name__}")
    got = list(dict.fromkeys(df["strategy"]))
    if sorted(got) != sorted(strategies):
        return _verdict(False, "", f"the frame has strategies {got}; the exercise asks for {list(strategies)}")
    ks = sorted(df["labels_per_class"].unique())
    if ks != [labels_per_class]:
        return _verdict(False, "", f"labels per class in the frame: {ks}; the exercise asks for {labels_per_class}")
    seeds = df.groupby("strategy")["seed"].nunique()
    if (seeds != n_seeds).any():
        return _verdict(False, "", f"seeds per strategy: {seeds.to_dict()}; the exercise asks for {n_seeds} each")
    runs = df.groupby(["strategy", "seed"])["epoch"].max()
    if (runs != epochs).any():
        return _verdict(False, "", f"epochs per run: {sorted(set(runs))}; the budget is {epochs} for every run "
                                   "(was a run stopped? run the cell again: finished runs come from the cache)")
    return _verdict(True, f"{len(got)} strategies x {n_seeds} seeds at {labels_per_class} labels/class, "
                          f"{epochs} epochs each: the same budget for everyone", "")


def best_strategy(df):
    """The strategy with the highest mean final accuracy over seeds."""
    return final_epoch(df).groupby("strategy")["accuracy"].mean().idxmax()


def check_best_strategy(answer, df):
    """Exercise: which strategy has the highest mean final accuracy in ``df``?"""
    if _unanswered(answer, "a strategy name (a string)"):
        return NOT_ANSWERED
    means = final_epoch(df).groupby("strategy", sort=False)["accuracy"].mean()
    if answer not in means.index:
        return _verdict(False, "", f"{answer!r} is not in this frame; its strategies are {list(means.index)}")
    best = means.idxmax()
    table = ", ".join(f"{n} {m:.3f}" for n, m in means.sort_values(ascending=False).items())
    if answer == best:
        return _verdict(True, f"{best} has the highest mean ({table})", "")
    if np.isclose(means[answer], means[best]):
        return _verdict(True, f"{answer} ties for the highest mean ({table})", "")
    return _verdict(False, "", f"{answer} averages {means[answer]:.3f}, below {best} ({table})")


def check_least_forgetting(answer, df, among):
    """Exercise: among the strategies ``among``, which kept the most source-task accuracy (mean over seeds)?"""
    if _unanswered(answer, f"one of {list(among)}"):
        return NOT_ANSWERED
    if answer not in among:
        return _verdict(False, "", f"{answer!r} is not one of the candidates {list(among)}")
    src = final_epoch(df).groupby("strategy")["source_accuracy"].mean()
    missing = [s for s in among if s not in src.index or pd.isna(src[s])]
    if missing:
        return _verdict(False, "", f"no source accuracy for {missing} in this frame (quick tier only)")
    src = src[list(among)]
    table = ", ".join(f"{n} {v:.3f}" for n, v in src.sort_values(ascending=False).items())
    ok = np.isclose(src[answer], src.max())
    return _verdict(ok, f"{answer} kept the most of the source task ({table})",
                    f"{answer} kept {src[answer]:.3f}; {src.idxmax()} kept more ({table})")


def check_own_strategy(train_fn, learn, epochs, n_last):
    """Exercise: ``train_fn(learn, epochs, lr)`` trains exactly the last ``n_last`` layer groups for ``epochs`` epochs."""
    if _unanswered(train_fn, "a function train(learn, epochs, lr)"):
        return NOT_ANSWERED
    if not callable(train_fn):
        return _verdict(False, "", f"expected a function train(learn, epochs, lr), got {type(train_fn).__name__}")
    groups = [list(g) for g in learn.splitter(learn.model)]
    before = [[p.detach().cpu().clone() for p in g] for g in groups]
    bn = {id(p) for m in learn.model.modules() if isinstance(m, norm_types) for p in m.parameters()}
    history = attach_epoch_log(learn)
    start = len(history.rows)
    try:
        with learn.no_bar(), learn.no_logging():
            train_fn(learn, epochs, 1e-2)
    except Exception as e:
        return _verdict(False, "", f"your function raised {type(e).__name__}: {e}")
    ran = len(history.rows) - start
    if ran != epochs:
        return _verdict(False, "", f"it trained {ran} epoch(s); the budget is exactly {epochs}")
    now = [[p for p in g if id(p) not in bn] for g in groups]
    old = [[b for p, b in zip(g, s) if id(p) not in bn] for g, s in zip(groups, before)]
    moved = [bool(n) and any((p.detach().cpu() != b).any().item() for p, b in zip(n, o)) for n, o in zip(now, old)]
    want = [False] * (len(moved) - n_last) + [True] * n_last
    if moved != want:
        return _verdict(False, "", f"layer groups whose weights changed: {moved}; want only the last {n_last}: "
                                   f"{want} (freeze_to(-{n_last}) before fitting)")
    return _verdict(True, f"{epochs} epoch(s), and only the last {n_last} layer groups changed", "")
