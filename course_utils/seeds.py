"""Reproducibility: validate a seed, then seed Python, NumPy and torch with fastai's ``set_seed``."""
from fastai.torch_core import set_seed

from .validate import is_whole_number


def seed_everything(seed):
    """Seed every generator a lesson touches (and make cuDNN deterministic); returns the seed."""
    if not is_whole_number(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative whole number, got {seed!r}")
    set_seed(int(seed), reproducible=True)
    return int(seed)
