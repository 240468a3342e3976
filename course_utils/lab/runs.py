"""Run strategies side by side: same data, same budget in optimizer steps, same seeds, each strategy at its own
rate chosen on validation; one tidy DataFrame out."""
import hashlib
import json
import math
import os
import tempfile
import time
import warnings
from functools import lru_cache
from pathlib import Path

import fastai
import pandas as pd
import torch
from fastai.callback.core import Callback, CancelFitException
from fastai.data.core import DataLoaders, TfmdDL
from fastai.torch_core import no_random

from ..config import get_mode, is_whole_number, seed_everything, tier_settings
from ..data import digit_images, digit_safe_tfms, digits_dls, split_indices, tier_arch, tier_dls
from ..folders import folder_dls, validate_image_folder
from ..groups import BnEval, count_trainable
from ..measure import EpochLog, SkipValidation, choose_lr, test_accuracy
from .strategies import get_strategy, make_learner

COLUMNS = ["strategy", "augment", "labels_per_class", "seed", "lr", "epoch", "train_loss", "valid_loss", "accuracy",
           "test_accuracy", "wall_seconds", "trainable_params", "source_accuracy", "source_probe_accuracy"]
RUN_KEYS = ["strategy", "augment", "labels_per_class", "seed", "lr"]
LAB_VERSION = 5   # bump when the way a run is trained or measured changes: every cached result recomputes
RATE_GRID = (1e-3, 3e-3, 1e-2)   # the log grid each strategy's rate is chosen from, on validation


class LabStopped(Exception):
    """Raised inside a run when the lab's stop event is set; the run is discarded, finished runs are kept."""


class StopOnEvent(Callback):
    """Cancel the fit at the next batch once ``event`` is set (the lab's Stop button)."""

    def __init__(self, event):
        self.event = event

    def before_batch(self):
        if self.event.is_set():
            raise CancelFitException()


# ---- the on-disk cache: one JSON file per run, named by the sha256 of everything that changes the result;
# written atomically (temp file + os.replace); a file that cannot be read back is reported and recomputed.
FORMAT = 1


class CacheWarning(UserWarning):
    """A cache file could not be used (it will be recomputed)."""


CACHE_ENV = "COURSE_LAB_CACHE"


def default_cache_dir():
    """``<repo>/.cache/strategy_lab`` (git-ignored), or the folder named by ``COURSE_LAB_CACHE``."""
    if os.environ.get(CACHE_ENV, "").strip():
        return Path(os.environ[CACHE_ENV].strip())
    from ..config import REPO_ROOT
    return REPO_ROOT / ".cache" / "strategy_lab"


def canonical_json(obj):
    """JSON with sorted keys and no spaces: the same dict always gives the same text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True, default=str)


def cache_key(fields):
    """The sha256 (hex) of ``fields``' canonical JSON."""
    if not isinstance(fields, dict) or not fields:
        raise ValueError(f"a cache key is built from a non-empty dict of fields, got {fields!r}")
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


def _warn(message):
    warnings.warn(message, CacheWarning, stacklevel=3)


class ResultCache:
    """``get(fields)`` / ``put(fields, value)`` of JSON values in folder ``path``; every unusable file goes to
    ``report(message)`` (default: a ``CacheWarning``) and to ``problems``."""

    def __init__(self, path=None, report=None):
        self.path = Path(default_cache_dir() if path is None else path).expanduser()
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"cache path {self.path} is a file; pass a folder (it is created if missing)")
        self.report = report or _warn
        self.problems = []

    def file_for(self, fields):
        key = cache_key(fields)
        return self.path / f"{key[:2]}" / f"{key}.json"

    def _problem(self, message):
        self.problems.append(message)
        self.report(message)

    def get(self, fields):
        """The stored value for ``fields``, or None (missing, or unreadable: reported, then None)."""
        f = self.file_for(fields)
        try:
            text = f.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as e:
            self._problem(f"cache file {f} cannot be read ({e}); recomputing")
            return None
        try:
            record = json.loads(text)
            if record.get("format") != FORMAT or record.get("key") != f.stem or "value" not in record:
                raise ValueError("not a result written by this version of the cache")
        except (ValueError, AttributeError) as e:
            self._problem(f"cache file {f.name} is corrupt ({type(e).__name__}: {str(e)[:80]}); recomputing it")
            return None
        return record["value"]

    def put(self, fields, value):
        """Store ``value`` for ``fields`` atomically; returns the file written."""
        f = self.file_for(fields)
        f.parent.mkdir(parents=True, exist_ok=True)
        record = {"format": FORMAT, "key": f.stem, "fields": fields, "value": value}
        text = json.dumps(record, indent=1, sort_keys=True, allow_nan=True, default=str)
        fd, tmp = tempfile.mkstemp(dir=f.parent, prefix=f".{f.stem[:12]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, f)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return f

    def __bool__(self):
        return True   # a cache is a cache even while it holds nothing (len() is 0)

    def __len__(self):
        return sum(1 for _ in self.path.glob("*/*.json")) if self.path.exists() else 0

    def clear(self):
        """Delete every cached result in this folder (only the cache's own ``*.json`` files)."""
        for f in self.path.glob("*/*.json") if self.path.exists() else []:
            f.unlink(missing_ok=True)


# ---- what a result depends on ---------------------------------------------------------------

def _sha(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
    return h.hexdigest()[:16]


@lru_cache(maxsize=1)
def _digits_fingerprint():
    x, y = digit_images()
    return _sha(x.tobytes(), y.tobytes(), *(part.tobytes() for part in split_indices()[1:]))


def folder_fingerprint(path):
    """A digest of a folder's image files: relative path, size and content (size and mtime above 200 MB)."""
    from fastai.data.transforms import get_image_files
    root = Path(path).expanduser()
    files = sorted(get_image_files(root))
    total = sum(f.stat().st_size for f in files)
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root)}|{st.st_size}".encode())
        h.update(f.read_bytes() if total <= 200e6 else str(st.st_mtime_ns).encode())
    return h.hexdigest()[:16]


def data_identity(data=None):
    """``{"data": ..., "fingerprint": ...}`` for the tier's data (``None``) or a folder path."""
    if data is None:
        if get_mode() == "full":
            return {"data": "pets", "fingerprint": "untar_data(URLs.PETS)"}
        return {"data": "digits", "fingerprint": _digits_fingerprint()}
    info = validate_image_folder(data)              # one clear error for a missing, empty or broken folder
    return {"data": "folder", "fingerprint": folder_fingerprint(data), "classes": info["classes"]}


def backbone_identity(arch=None):
    """The backbone: its name and weights' checksum (from its card), or the torchvision weights' name (full tier)."""
    from ..efficientnet import efficientnet_card, efficientnet_lite0
    if arch is efficientnet_lite0:
        return f"efficientnet_lite0:{efficientnet_card()['sha256']}"
    if get_mode() == "full" and arch is None:
        return f"{tier_arch().__name__}:IMAGENET1K"
    from ..backbone import SOURCE_OF, read_card
    source = SOURCE_OF.get(arch or tier_arch())
    if source is None:
        raise ValueError(f"the lab knows the MiniResNets and cu.efficientnet_lite0, not {getattr(arch, '__name__', arch)!r}")
    return read_card(source=source)["sha256"] if source == "letters" else f"{arch.__name__}:{read_card(source=source)['sha256']}"


def run_fields(strategy, seed, k, epochs, lr, augment, identity, arch=None):
    """Everything that changes one run's result: the cache key's fields."""
    s = get_strategy(strategy)
    return {"strategy": s.name, "strategy_code": s.code_sha(), "pretrained": s.pretrained, "probe_head": s.probe_head,
            "seed": int(seed), "labels_per_class": None if k is None else int(k), "epochs": int(epochs),
            "lr": None if lr is None else float(lr), "augment": bool(augment), **identity, "mode": get_mode(),
            "lab": LAB_VERSION,
            "backbone": backbone_identity(arch), "bn_eval": bn_eval(arch) and s.pretrained,
            "torch": torch.__version__, "fastai": fastai.__version__,
            "threads": torch.get_num_threads(), "device": "cuda" if torch.cuda.is_available() else "cpu"}


# ---- one run ----------------------------------------------------------------------------------

def bn_eval(arch=None):
    """True for the backbones the lab trains with BatchNorm in inference mode (``cu.BnEval``): EfficientNet-Lite0,
    whose few-shot fine-tuning collapses with fastai's default of BatchNorm in training mode (lesson 08 measures it).
    Pretrained strategies only: a network trained from scratch has no statistics worth keeping."""
    from ..efficientnet import efficientnet_lite0
    return arch is efficientnet_lite0


def arch_input(arch=None):
    """``{"size": pixels, "normalize_stats": stats}`` the digits are given to ``arch`` with."""
    from ..efficientnet import efficientnet_lite0
    if arch is efficientnet_lite0:
        from ..efficientnet import STATS
        return {"size": EFFICIENTNET_SIZE, "normalize_stats": STATS}
    return {"size": tier_settings()["size"], "normalize_stats": None}


EFFICIENTNET_SIZE = 32   # the smallest input EfficientNet-Lite0 takes, and the miniature's own: identical images


@lru_cache(maxsize=2)
def _digits_eval_tensors(fingerprint, size=32, stats=None):
    """``{"valid": (x, y), "test": (x, y)}``: the fixed splits decoded and normalised once per kernel."""
    stats = None if stats is None else [list(s) for s in stats]
    with no_random(0):   # building and iterating a DataLoader draws random numbers: a run must not
        dls = digits_dls(1, seed=0, size=size, normalize_stats=stats)   # depend on whether it is the kernel's first
        out = {}
        for name, dl in (("valid", dls.valid), ("test", dls.test_dl(dls.test_items, with_labels=True))):
            xs, ys = zip(*[(x.cpu(), y.cpu()) for x, y in dl])
            out[name] = torch.cat(xs), torch.cat(ys)
    return out


def _fast_digits_valid(dls, size=32, stats=None):
    """The validation split as ready tensors (decoded once per kernel, not once per epoch); the test split rides
    along in ``fast_test`` and is read only once a run is finished."""
    stats = None if stats is None else tuple(tuple(s) for s in stats)
    splits = _digits_eval_tensors(_digits_fingerprint(), size, stats)
    valid = TfmdDL(list(zip(*splits["valid"])), bs=256, device=dls.device, num_workers=0)   # no worker processes
    fast = DataLoaders(dls.train, valid, device=dls.device)
    fast.fast_test = splits["test"]
    return fast


def final_test_accuracy(learn):
    """The finished run's accuracy on the test split: reported, never used to choose anything."""
    fast = getattr(learn.dls, "fast_test", None)
    if fast is None:
        return test_accuracy(learn)
    from ..backbone import classifier_accuracy
    return classifier_accuracy(learn.model, *fast)


def _aug_tfms(data):
    if data is None and get_mode() == "quick":
        return digit_safe_tfms()
    from fastai.vision.augment import aug_transforms
    return aug_transforms()


def run_dls(k, seed, augment=False, data=None, arch=None):
    """The DataLoaders one run trains on: the tier's data or a folder, with or without augmentation, at the size and
    normalisation ``arch`` takes."""
    batch_tfms = _aug_tfms(data) if augment else None
    given = arch_input(arch)
    if data is None and get_mode() == "quick":
        dls = digits_dls(k, seed=seed, batch_tfms=batch_tfms, **given)
        return _fast_digits_valid(dls, given["size"], given["normalize_stats"])
    if data is None:
        return tier_dls(k, seed=seed, batch_tfms=batch_tfms)
    return folder_dls(data, k=k, seed=seed, size=given["size"] if arch else tier_settings()["size"],
                      batch_tfms=batch_tfms)


def train_run(strategy, seed, k, epochs, lr, augment=False, data=None, stop=None, arch=None):
    """Train one run and return its rows (one dict per epoch). Raises ``LabStopped`` if ``stop`` was set."""
    strategy = get_strategy(strategy)
    start = time.perf_counter()
    seed_everything(seed)
    dls = run_dls(k, seed, augment, data, arch)
    log = EpochLog(start)
    cbs = [log, SkipValidation()] + ([StopOnEvent(stop)] if stop is not None else [])   # validated once, at the end
    cbs += [BnEval()] if bn_eval(arch) and strategy.pretrained else []   # from scratch has no statistics to keep
    learn = make_learner(strategy, dls, arch or tier_arch(), cbs=cbs)
    with learn.no_bar(), learn.no_logging():
        strategy.train(learn, epochs, lr)
        if stop is not None and stop.is_set():
            raise LabStopped(f"stopped during {strategy.name}, seed {seed}")
        if not log.rows:       # a fitted probe: no SGD epoch, one row (epoch 0) for the fitted model
            log.rows.append({"epoch": 0, "trainable_params": count_trainable(learn)})
        log.rows[-1]["valid_loss"], log.rows[-1]["accuracy"] = map(float, learn.validate())
    test = final_test_accuracy(learn)
    source = probe = math.nan
    from ..efficientnet import efficientnet_lite0, imagenet_agreement
    if arch is efficientnet_lite0:   # forgetting of ImageNet: the original head's top-1 on photographs, kept or not
        source = imagenet_agreement(learn.model[0])
    elif get_mode() == "quick":
        from ..backbone import SOURCE_OF, source_accuracy, source_probe_accuracy
        src = SOURCE_OF.get(arch or tier_arch(), "letters")
        source, probe = source_accuracy(learn.model[0], source=src), source_probe_accuracy(learn.model[0], source=src)
    rows = [{"strategy": strategy.name, "augment": bool(augment), "labels_per_class": k, "seed": int(seed),
             "lr": math.nan if lr is None else float(lr), "epoch": h["epoch"],
             "train_loss": h.get("train_loss", math.nan), "valid_loss": h.get("valid_loss", math.nan),
             "accuracy": h.get("accuracy", math.nan), "test_accuracy": test,
             "wall_seconds": h.get("wall_seconds", math.nan), "trainable_params": h["trainable_params"],
             "source_accuracy": source, "source_probe_accuracy": probe} for h in log.rows]
    rows[-1]["wall_seconds"] = time.perf_counter() - start   # the whole run, forgetting measured included
    return rows


# ---- many runs --------------------------------------------------------------------------------

def _as_list(x, what):
    if isinstance(x, (str, bytes)) or not hasattr(x, "__iter__"):
        x = [x]
    x = list(x)
    if not x:
        raise ValueError(f"{what}: give at least one")
    return x


def check_budget(epochs, lr):
    if not is_whole_number(epochs) or not 1 <= epochs <= 100:
        raise ValueError(f"epochs must be a whole number from 1 to 100, got {epochs!r}")
    for r in lr.values() if isinstance(lr, dict) else [lr]:
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r < 10 or not math.isfinite(r):
            raise ValueError(f"lr must be a positive number below 10 (e.g. 1e-2), or a dict of them by strategy "
                             f"name, got {r!r}")


def rate_of(strategy, lr):
    """The rate ``strategy`` trains at: ``lr`` itself, or ``lr[name]`` (the tier's rate if missing); None when the
    strategy has no rate to tune (the fitted probe)."""
    if not strategy.tuned:
        return None
    return float(lr.get(strategy.name, tier_settings()["lr"]) if isinstance(lr, dict) else lr)


def plan_runs(strategies, seeds, labels_per_class, augment):
    """Every (Strategy, seed, k, augment) to run, in the order they run."""
    strategies = [get_strategy(s) for s in _as_list(strategies, "strategies")]
    seeds = _as_list(seeds, "seeds")
    for s in seeds:
        if not is_whole_number(s) or s < 0:
            raise ValueError(f"seeds must be non-negative whole numbers, got {s!r}")
    ks = _as_list(labels_per_class, "labels_per_class")
    augs = [bool(a) for a in _as_list(augment, "augment")]
    return [(name, int(seed), k, aug) for aug in augs for k in ks for name in strategies for seed in seeds]


def compare_strategies(strategies, seeds, labels_per_class, epochs, lr=None, augment=False, data=None,
                       cache=None, stop=None, on_run=None, arch=None):
    """Run (or read from the cache) every strategy x seed x labels per class x augmentation; a tidy DataFrame.
    ``lr``: one rate for every strategy, or ``{strategy name: rate}`` (e.g. from ``tune_rates``); ``arch``: the
    backbone (default: the tier's; ``cu.efficientnet_lite0`` takes the digits at 32 px, its smallest input)."""
    lr = tier_settings()["lr"] if lr is None else lr
    check_budget(epochs, lr)
    runs = plan_runs(strategies, seeds, labels_per_class, augment)
    identity = data_identity(data)
    store = None if cache is False else cache if isinstance(cache, ResultCache) else ResultCache(cache)
    rows, stopped = [], False
    for i, (strategy, seed, k, aug) in enumerate(runs):
        if stop is not None and stop.is_set():
            stopped = True
            break
        rate = rate_of(strategy, lr)
        fields = run_fields(strategy, seed, k, epochs, rate, aug, identity, arch)
        got = store.get(fields) if store is not None else None
        cached = got is not None
        if not cached:
            try:
                got = train_run(strategy, seed, k, epochs, rate, aug, data, stop, arch)
            except LabStopped:
                stopped = True
                break
            if store is not None:
                store.put(fields, got)
        rows.extend(got)
        if on_run is not None:
            on_run(i + 1, len(runs), got, cached)
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.attrs["stopped"] = stopped
    return df


def final_epoch(df):
    """One row per run: its last epoch (final accuracies, total wall seconds, forgetting)."""
    if df.empty:
        return df
    return df.sort_values("epoch").groupby(RUN_KEYS, sort=False, dropna=False).tail(1).sort_index()


def valid_score(df):
    """Mean final VALIDATION accuracy of a frame's runs: the one number rates are chosen on. It reads the
    ``accuracy`` column only; a frame without ``test_accuracy`` gives the same score."""
    return float(final_epoch(df[[*RUN_KEYS, "epoch", "accuracy"]])["accuracy"].mean())


LADDER = [float(f"{m}e{e}") for e in range(-6, 1) for m in (1, 3)]   # 1e-6, 3e-6, ... 1, 3: where a grid grows


def tune_rates(strategies, seeds, labels_per_class, epochs, rates=RATE_GRID, grow=2, **kwargs):
    """``({strategy name: rate}, grid frame)``: each strategy's rate chosen on validation with ``cu.choose_lr``
    over ``rates`` (runs on ``seeds``, cached like any other). A best rate at an edge of the grid grows the grid
    one rung of ``LADDER`` that way (at most ``grow`` times), so that no choice sits on an edge. The fitted probe
    has no rate."""
    choose_lr(lambda lr: 0.0, rates)           # one clear error for a bad grid, before anything trains
    chosen, grid = {}, []
    for s in (get_strategy(s) for s in _as_list(strategies, "strategies")):
        if not s.tuned:
            continue
        scores = {}

        def score(lr):
            if lr not in scores:
                df = compare_strategies([s], seeds, labels_per_class, epochs, lr=lr, **kwargs)
                grid.append(df)
                scores[lr] = valid_score(df.drop(columns="test_accuracy"))   # the test split is not even passed on
            return scores[lr]
        tried = sorted(float(r) for r in rates)
        for extra in range(grow + 1):
            best = choose_lr(score, tried)[0]
            lower, higher = [r for r in LADDER if r < tried[0] * 0.99], [r for r in LADDER if r > tried[-1] * 1.01]
            if extra == grow or best not in (tried[0], tried[-1]) or not (lower if best == tried[0] else higher):
                break
            tried = [lower[-1], *tried] if best == tried[0] else [*tried, higher[0]]
        chosen[s.name] = best
    return chosen, pd.concat(grid, ignore_index=True) if grid else pd.DataFrame(columns=COLUMNS)
