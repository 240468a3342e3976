"""Where the course keeps its files, and which tier it runs: ``quick`` (default, offline) or ``full``.

Switch with the environment variable ``COURSE_MODE=full`` before starting Jupyter, or with
``set_mode("full")`` at the top of a notebook (lesson 00 shows how).
"""
import os
from pathlib import Path

MODES = ("quick", "full")
REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("COURSE_DATA_DIR", REPO_ROOT / "data"))

_mode = None


def check_mode(mode):
    """Return ``mode`` normalised, or raise a ValueError that lists the valid ones."""
    m = str(mode).strip().lower()
    if m not in MODES:
        raise ValueError(f"unknown course mode {mode!r}: use one of {', '.join(MODES)} "
                         f"(set COURSE_MODE=quick|full, or call set_mode('quick'))")
    return m


def get_mode():
    """The current tier: set_mode's value, else $COURSE_MODE, else ``quick``."""
    return _mode or check_mode(os.environ.get("COURSE_MODE", "quick"))


def set_mode(mode):
    """Choose the tier for this kernel; returns it."""
    global _mode
    _mode = check_mode(mode)
    return _mode
