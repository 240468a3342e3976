"""Reproducibility: validate a seed, then seed Python, NumPy and torch with fastai's ``set_seed``."""
import numpy as np
from fastai.torch_core import set_seed


def seed_everything(seed):
    """Seed every generator a lesson touches (and make cuDNN deterministic); returns the seed."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative whole number, got {seed!r}")
    set_seed(int(seed), reproducible=True)
    return int(seed)
