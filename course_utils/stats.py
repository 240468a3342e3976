"""Results over seeds: mean ± spread, the way every lesson reports them."""
import numpy as np


def mean_spread(values):
    """``(mean, sd)`` over seeds; sd is the sample standard deviation (0 for one seed)."""
    try:
        v = np.asarray(list(values), dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"mean_spread needs a list of numbers (one result per seed), got {values!r}") from None
    if v.ndim != 1:
        raise ValueError(f"mean_spread needs a flat list of numbers (one result per seed), got shape {v.shape}")
    if v.size == 0:
        raise ValueError("mean_spread needs at least one value (one result per seed)")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def fmt_mean_spread(values, digits=3):
    """``"0.932 ± 0.014"``: mean ± standard deviation over seeds, rounded."""
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or digits < 0:
        raise ValueError(f"digits must be a whole number >= 0 (decimal places), got {digits!r}")
    m, s = mean_spread(values)
    return f"{m:.{digits}f} ± {s:.{digits}f}"
