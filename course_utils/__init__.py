"""Plumbing for the course "Fine-tuning pretrained models with fastai".

The techniques (freezing, fine_tune, discriminative learning rates...) are written in the
notebooks as fastai calls; this package only supplies data, the shipped backbone, plots,
widgets and exercise checks.
"""
import warnings

# torch 2.14 deprecates torch.jit.script, which fastai 2.8.12 still calls once at import time;
# the warning says nothing a learner can act on, and nbval would compare it as stderr.
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
# fastai.vision.all imports fastai.tabular, which sets a pandas option that pandas 3 deprecates.
warnings.filterwarnings("ignore", message=r".*mode\.chained_assignment.* option is deprecated")

__version__ = "0.1.0"
