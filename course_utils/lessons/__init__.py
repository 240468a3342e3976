"""One helper module per lesson, named after its notebook (``l03_freezing_and_layer_groups`` for
``03_freezing_and_layer_groups.ipynb``): what only that lesson uses, its plots, widget and readers.

Only that lesson, its exercise checks (``course_utils.checks.lNN_...``) and the tests import a
lesson's module (``tests/test_layout.py`` enforces it); whatever a second lesson or the strategy
lab needs lives in the core (``import course_utils as cu``) or in ``course_utils.lab``.
"""
