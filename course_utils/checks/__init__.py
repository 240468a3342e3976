"""Auto-checks for the exercises, one module per topic (``basics``, ...).

Each check prints ✓ or ✗ with the reason and returns True/False. A check never raises on a
wrong answer (a learner's attempt should not stop the notebook); an answer left as ``...``
gets a reminder of what to fill in.
"""


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
