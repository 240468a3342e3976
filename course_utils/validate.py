"""Argument checks shared by the data modules: one clear ValueError instead of a deep traceback."""
import numpy as np


def is_whole_number(x):
    """True for Python/NumPy integers (bool excluded)."""
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def check_labels_per_class(k, k_max, where=""):
    """Return ``k`` as an int when it is a whole number with 1 <= k <= k_max, else raise a ValueError.

    ``where`` says where ``k_max`` comes from, e.g. "(the smallest class has 7 images)".
    """
    if not is_whole_number(k) or not 1 <= k <= k_max:
        raise ValueError(f"labels per class must be a whole number with 1 <= k <= {k_max} {where}, got {k!r}".replace("  ", " "))
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
