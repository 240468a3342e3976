"""Checks for lesson 07's exercises: a lab run on a new setting, paired readings of its frame, your own strategy."""
from fastai.torch_core import norm_types
import pandas as pd

from ..lab.runs import COLUMNS, final_epoch
from ..lab.strategies import STRATEGIES
from ..measure import attach_epoch_log, paired_diff
from . import NOT_ANSWERED  # noqa: F401  (re-exported for the lesson)
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
    want = [0 if n in STRATEGIES and not STRATEGIES[n].tuned else epochs for n, _ in runs.index]   # the probe: fitted
    if (runs != want).any():
        return _verdict(False, "", f"epochs per run: {sorted(set(runs))}; the budget is {epochs} for every trained "
                                   "run (was a run stopped? run the cell again: finished runs come from the cache)")
    return _verdict(True, f"{len(got)} strategies x {n_seeds} seeds at {labels_per_class} labels/class, "
                          f"{epochs} epochs each: the same budget for everyone", "")


def per_seed(df, strategy, column="test_accuracy"):
    """``column`` of ``strategy``'s finished runs, in seed order (what ``cu.paired_diff`` pairs)."""
    last = final_epoch(df)
    return last[last["strategy"] == strategy].sort_values("seed")[column].tolist()


VERDICT_HINT = "the verdict of cu.paired_diff: '<a> better', '<b> better' or 'no detectable difference'"


def check_paired_verdict(answer, df, a, b, column="test_accuracy"):
    """Exercise: what does the paired 95% interval of ``a`` − ``b`` (``column``, seed by seed) say?"""
    if _unanswered(answer, VERDICT_HINT):
        return NOT_ANSWERED
    d = paired_diff(per_seed(df, a, column), per_seed(df, b, column), (a, b))
    return _verdict(answer == d.verdict, str(d), f"{answer!r} is not what the interval says: {d}")


def check_forgets_more(answer, df, baseline, among, column="source_accuracy"):
    """Exercise: which of ``among`` keep detectably LESS of the source task than ``baseline`` (paired interval of
    ``column`` entirely below zero)? ``answer``: a list (or set) of names, empty when none."""
    if _unanswered(answer, f"a list of names from {list(among)} (empty if none)"):
        return NOT_ANSWERED
    if isinstance(answer, str) or not all(a in among for a in answer):
        return _verdict(False, "", f"answer with a list of names from {list(among)}, got {answer!r}")
    diffs = {n: paired_diff(per_seed(df, n, column), per_seed(df, baseline, column), (n, baseline)) for n in among}
    want = {n for n, d in diffs.items() if d.direction < 0}
    shown = "\n  ".join(str(d) for d in diffs.values())
    return _verdict(set(answer) == want, f"{sorted(want)} (every interval:\n  {shown})",
                    f"{sorted(set(answer))} is not what the intervals say:\n  {shown}")


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
