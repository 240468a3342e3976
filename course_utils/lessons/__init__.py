"""One helper module per lesson, named after its notebook (``l03_freezing_and_layer_groups`` for
``03_freezing_and_layer_groups.ipynb``): what only that lesson uses, its plots, widget and readers."""
