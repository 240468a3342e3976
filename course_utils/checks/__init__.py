"""Auto-checks for the exercises: one module per lesson, named after its notebook (``l03_freezing_and_layer_groups``)."""
import numpy as np


class Verdict:
    """A check's result: truthy when right. It shows nothing as a cell's last value (the
    check already printed why), so a notebook cell may end with the check call."""

    def __init__(self, ok):
        self.ok = bool(ok)

    def __bool__(self):
        return self.ok

    def __repr__(self):
        return f"Verdict({self.ok})"

    def _ipython_display_(self):
        pass


def verdict(ok, right, wrong):
    """Print ``✓ right`` or ``✗ wrong``; return a ``Verdict``."""
    print(("✓ " + right) if ok else ("✗ " + wrong))
    return Verdict(ok)


def unanswered(answer, what):
    """True (after a reminder) when ``answer`` is still the ``...`` placeholder or None."""
    if answer is ... or answer is None:
        print(f"… not answered yet: replace the ... with {what}")
        return True
    return False


NOT_ANSWERED = Verdict(False)


def check_mean_spread(answer, values, tol=5e-4):
    """Exercise: ``answer = (mean, sd)`` of ``values`` over seeds (sample sd, ddof=1)."""
    if unanswered(answer, "a pair (mean, sd)"):
        return NOT_ANSWERED
    try:
        m, s = (float(v) for v in answer)
    except (TypeError, ValueError):
        return verdict(False, "", f"answer must be a pair (mean, sd), got {answer!r}")
    v = np.asarray(values, dtype=float)
    want_m, want_s = v.mean(), v.std(ddof=1)
    if abs(m - want_m) > tol:
        return verdict(False, "", f"the mean is off: {m:.4f} vs {want_m:.4f}")
    if abs(s - v.std(ddof=0)) <= tol < abs(s - want_s):
        return verdict(False, "", "that sd divides by n; with a few seeds use the sample sd (ddof=1)")
    return verdict(abs(s - want_s) <= tol, f"{want_m:.3f} ± {want_s:.3f}",
                    f"the spread is off: {s:.4f} vs {want_s:.4f} (sample standard deviation, ddof=1)")


def check_choice(answer, correct, options, why):
    """Exercise: a multiple-choice question; ``why`` explains the right answer either way."""
    if unanswered(answer, f"one of {options}"):
        return NOT_ANSWERED
    if answer not in options:
        return verdict(False, "", f"{answer!r} is not one of the options {options}")
    return verdict(answer == correct, f"{answer!r}: {why}", f"not {answer!r}: {why}")
