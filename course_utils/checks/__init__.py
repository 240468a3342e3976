"""Auto-checks for the exercises, one module per topic (``basics``, ...).

Each check prints ✓ or ✗ with the reason and returns True/False. A check never raises on a
wrong answer (a learner's attempt should not stop the notebook); an answer left as ``...``
gets a reminder of what to fill in.
"""


def verdict(ok, right, wrong):
    """Print ``✓ right`` or ``✗ wrong``; return ``ok`` as a bool."""
    print(("✓ " + right) if ok else ("✗ " + wrong))
    return bool(ok)


def unanswered(answer, what):
    """True (after a reminder) when ``answer`` is still the ``...`` placeholder or None."""
    if answer is ... or answer is None:
        print(f"… not answered yet: replace the ... with {what}")
        return True
    return False
