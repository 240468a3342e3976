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
