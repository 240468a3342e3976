"""The strategy lab (lesson 07): every strategy of lessons 01-06 side by side, same data, budget and seeds."""
from .runs import CACHE_ENV, CacheWarning, ResultCache, cache_key, default_cache_dir  # noqa: F401
from .plots import (lab_figure, plot_accuracy_vs_time, plot_final_accuracy, plot_lab_curves,  # noqa: F401
                    plot_lab_forgetting)
from .runs import (COLUMNS, LAB_VERSION, RUN_KEYS, LabStopped, StopOnEvent, check_budget,  # noqa: F401
                   compare_strategies, data_identity, final_epoch, folder_fingerprint, plan_runs, run_dls,
                   run_fields, summary_table, train_run)
from .strategies import STRATEGIES, Strategy, get_strategy, linear_head, make_learner  # noqa: F401
from .widget import DEFAULT_CHECKED, MAX_EPOCHS, StrategyLab, results_html  # noqa: F401
