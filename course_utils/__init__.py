"""Plumbing for the course "Fine-tuning pretrained models with fastai": ``import course_utils as cu``.

The techniques (freezing, ``fine_tune``, discriminative learning rates...) are written in the
notebooks as fastai calls, so a bare name in a lesson is fastai's and a ``cu.`` name is the
course's. One rule finds anything: the core
(here, re-exported as ``cu.<name>``) is what two or more lessons use; ``lessons.lNN_<notebook>`` is
what only lesson NN uses, ``checks.lNN_<notebook>`` its exercise checks, ``lab`` the strategy lab.
"""
import warnings

# torch 2.14 deprecates torch.jit.script, which fastai 2.8.12 still calls once at import time;
# the warning says nothing a learner can act on, and nbval would compare it as stderr.
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
# fastai.vision.all imports fastai.tabular, which sets a pandas option that pandas 3 deprecates.
warnings.filterwarnings("ignore", message=r".*mode\.chained_assignment.* option is deprecated")

from .config import (DATA_DIR, DEFAULT_SEEDS, MODES, REPO_ROOT, SEEDS_ENV, check_labels_per_class,  # noqa: E402
                     check_mode, check_positive_int, check_seed, get_mode, is_whole_number, lesson_seeds,
                     is_smoke, seed_everything, set_mode, tier_settings)
from .data import (AUG_DEFAULTS, CHARS, CLASSES, DIGIT_SAFE, DIGIT_SAFE_PAD, IMAGE_SIZE, LETTERS, N_TEST, N_VALID,  # noqa: E402
                   PAD_MODES,
                   RECIPE, check_aug_knobs, checked_aug_transforms, digit_images, digit_safe_tfms, digit_tensors, digits_dls,
                   few_shot_indices, make_source_data, max_labels_per_class, split_indices, tier_arch, tier_dls,
                   tier_max_labels_per_class, to_tensor)
from .folders import folder_dls, pets_dls, validate_image_folder  # noqa: E402
from .backbone import (BACKBONES, MiniResNet, classifier_accuracy, environment_report,  # noqa: E402
                       heldout_source_data, load_checkpoint, mini_resnet, mini_resnet_split, mini_resnet_with_digits,
                       pretrained_model, read_card, source_accuracy, source_classifier, source_probe_accuracy)
from .efficientnet import (check_image_size, efficientnet_card, efficientnet_lite0, imagenet_top,  # noqa: E402
                           min_image_size, photos)
from .minilm import (MAX_TOKENS, TextClassifier, check_texts, minilm_card, minilm_classifier,  # noqa: E402
                     minilm_split, minilm_tokenizer, sentence_embeddings, text_dls, tokenize_texts)
from .groups import (ULMFIT_FACTOR, BnEval, check_group_index, check_rate, check_schedule, check_splitter_output,  # noqa: E402
                     count_trainable, frozen_groups, gradual_unfreeze, group_counts, group_names, group_trains,
                     n_groups, stage_plan, ulmfit_lrs, ulmfit_slice)
from .measure import (EpochLog, PairedDiff, SkipValidation, attach_epoch_log, choose_lr, fit_linear_probe,  # noqa: E402
                      fmt_mean_spread, mean_spread, paired_diff, paired_table, test_accuracy)
from .plots import finish_axes, figure_png, plot_gain_vs_forgetting, plot_learning_curves, show_figure  # noqa: E402
from .widgets import LabelsPerClassExplorer, RunWidget  # noqa: E402

__version__ = "0.2.0"
