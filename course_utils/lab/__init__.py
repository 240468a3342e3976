"""The strategy lab (lesson 07): every strategy of lessons 01-06, and lesson 09's LoRA and BitFit, side by side: same
data, budget and seeds."""
from .runs import CACHE_ENV, CacheWarning, ResultCache, cache_key, default_cache_dir  # noqa: F401
from .plots import (BASELINE, lab_figure, mean_ci, plot_accuracy_vs_time, plot_lab_curves,  # noqa: F401
                    plot_lab_forgetting, plot_paired, source_before)
from .runs import (COLUMNS, LAB_VERSION, RATE_GRID, RUN_KEYS, LabStopped, StopOnEvent, check_budget,  # noqa: F401
                   compare_strategies, data_identity, final_epoch, folder_fingerprint, plan_runs, run_dls,
                   run_fields, train_run, tune_rates, valid_score)
from .strategies import (PEFT_STRATEGIES, STRATEGIES, Strategy, fit_probe_head, get_strategy, linear_head,  # noqa: F401
                         make_learner)
from .widget import DEFAULT_CHECKED, MAX_EPOCHS, StrategyLab, results_html  # noqa: F401
