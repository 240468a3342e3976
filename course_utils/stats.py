"""Results over seeds: mean ± spread, the way every lesson reports them."""
import numpy as np


def mean_spread(values):
    """``(mean, sd)`` over seeds; sd is the sample standard deviation (0 for one seed)."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        raise ValueError("mean_spread needs at least one value (one result per seed)")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def fmt_mean_spread(values, digits=3):
    """``"0.932 ± 0.014"``: mean ± standard deviation over seeds, rounded."""
    m, s = mean_spread(values)
    return f"{m:.{digits}f} ± {s:.{digits}f}"
