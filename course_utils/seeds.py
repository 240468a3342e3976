"""Reproducibility: validate a seed, then seed Python, NumPy and torch with fastai's ``set_seed``."""
import os

from fastai.torch_core import set_seed

from .validate import is_whole_number


def seed_everything(seed):
    """Seed every generator a lesson touches (and make cuDNN deterministic); returns the seed."""
    if not is_whole_number(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative whole number, got {seed!r}")
    set_seed(int(seed), reproducible=True)
    return int(seed)


SEEDS_ENV = "COURSE_SEEDS"
DEFAULT_SEEDS = (0, 1, 2)


def lesson_seeds(default=DEFAULT_SEEDS):
    """The seeds a lesson averages over: ``default``, or ``COURSE_SEEDS="3,4,5"`` from the environment.

    The environment variable lets a test re-run a lesson's claims on other seeds without editing it.
    """
    raw = os.environ.get(SEEDS_ENV, "").strip()
    if not raw:
        return list(default)
    try:
        seeds = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"{SEEDS_ENV} must be comma-separated whole numbers such as 3,4,5; got {raw!r}") from None
    if len(seeds) < 2 or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"{SEEDS_ENV} needs at least two distinct non-negative seeds (a spread needs two); got {raw!r}")
    return seeds
