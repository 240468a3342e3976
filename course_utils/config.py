"""Where the course keeps its files, which tier it runs, seeds, and the argument checks every module shares."""
import os
from pathlib import Path

import numpy as np
from fastai.torch_core import set_seed

MODES = ("quick", "full")
REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("COURSE_DATA_DIR", REPO_ROOT / "data"))
SEEDS_ENV = "COURSE_SEEDS"
SMOKE_ENV = "COURSE_SMOKE"   # "1": the smallest settings that still run every cell (the full tier's smoke test)
SMOKE_SEEDS = 2              # a paired interval needs two seeds
DEFAULT_SEEDS = (0, 1, 2, 3, 4)   # five: enough for a paired interval to exclude zero when a difference is real

_mode = None


def check_mode(mode):
    """Return ``mode`` normalised, or raise a ValueError that lists the valid ones."""
    m = str(mode).strip().lower()
    if m not in MODES:
        raise ValueError(f"unknown course mode {mode!r}: use one of {', '.join(MODES)} "
                         f"(set COURSE_MODE=quick|full, or call set_mode('quick'))")
    return m


def get_mode():
    """The current tier: set_mode's value, else $COURSE_MODE, else ``quick``."""
    return _mode or check_mode(os.environ.get("COURSE_MODE", "quick"))


def set_mode(mode):
    """Choose the tier for this kernel; returns it."""
    global _mode
    _mode = check_mode(mode)
    return _mode


def is_smoke():
    """True when ``COURSE_SMOKE=1``: every lesson runs with tiny settings to check it runs, not what it finds."""
    return os.environ.get(SMOKE_ENV, "").strip() == "1"


def tier_settings():
    """Training settings each tier's lessons start from: learning rate, epoch budget, image size
    (with ``COURSE_SMOKE=1``: one epoch on 32-pixel images, whichever tier)."""
    if get_mode() == "full":
        settings = {"lr": 2e-3, "epochs": 2, "size": 224}  # fastai's defaults for resnet34 on Pets
    else:
        settings = {"lr": 1e-2, "epochs": 2, "size": 32}
    return {**settings, "epochs": 1, "size": 32} if is_smoke() else settings


# ---- argument checks: one clear ValueError instead of a deep traceback ----------------------

def is_whole_number(x):
    """True for Python/NumPy integers (bool excluded)."""
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def check_labels_per_class(k, k_max, k_min=1, where=None):
    """``k`` as an int when it is a whole number in ``[k_min, k_max]``, else a ValueError (``where``: why k_max)."""
    if not is_whole_number(k) or not k_min <= k <= k_max:
        where = where or "(the fewest labelled images any class has)"
        said = f" {where}" if is_whole_number(k) and k > k_max else ""
        raise ValueError(f"labels per class must be a whole number with {k_min} <= k <= {k_max}{said}, got {k!r}")
    return int(k)


def check_seed(seed, name="seed"):
    """Return ``seed`` as an int when it is a non-negative whole number, else raise a ValueError."""
    if not is_whole_number(seed) or seed < 0:
        raise ValueError(f"{name} must be a non-negative whole number such as 0, 1 or 2, got {seed!r}")
    return int(seed)


def check_positive_int(value, name, hint=""):
    """Return ``value`` as an int when it is a whole number >= 1, else raise a ValueError (``hint`` says what to use)."""
    if not is_whole_number(value) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}" + (f" ({hint})" if hint else ""))
    return int(value)


# ---- seeds --------------------------------------------------------------------------------

def seed_everything(seed):
    """Seed Python, NumPy and torch with fastai's ``set_seed`` (cuDNN deterministic); returns the seed."""
    seed = check_seed(seed)
    set_seed(seed, reproducible=True)
    return seed


def lesson_seeds(default=DEFAULT_SEEDS):
    """The seeds a lesson compares over: ``default`` (its first two with ``COURSE_SMOKE=1``), or
    ``COURSE_SEEDS="5,6,7,8,9"`` from the environment."""
    raw = os.environ.get(SEEDS_ENV, "").strip()
    if not raw:
        return list(default)[:SMOKE_SEEDS] if is_smoke() else list(default)
    try:
        seeds = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"{SEEDS_ENV} must be comma-separated whole numbers such as 3,4,5; got {raw!r}") from None
    if len(seeds) < 2 or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"{SEEDS_ENV} needs at least two distinct non-negative seeds (a spread needs two); got {raw!r}")
    return seeds
