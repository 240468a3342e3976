#!/usr/bin/env python3
"""Time the strategy lab's two speed bars on this machine and print them as JSON.

  first run  compare_strategies(["fine_tune"], seeds=[0], labels_per_class=10, epochs=5) on an
             empty cache in a fresh process: one strategy x one seed on the quick tier, plus the
             one-time work of a new kernel (rendering the source task's held-out images, ...)
  one run    the same with seed 1: what each further strategy x seed costs (data, training with
             per-epoch validation, forgetting)                           target <= 15 s
  cached     both runs again, answered from the cache                    target <= 1 s

One torch thread, as lesson 07 uses. The cache is a temporary folder, so the learner's own
cache is never read or touched.
`scripts/benchmark.py` runs this and puts both figures in the README's table.
"""
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    import torch
    import course_utils  # noqa: F401  (first: silences import-time warnings)
    from course_utils.lab import ResultCache, compare_strategies

    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory(prefix="lab-timing-") as tmp:
        cache = ResultCache(Path(tmp))
        setting = dict(strategies=["fine_tune"], labels_per_class=10, epochs=5, cache=cache)
        times = {}
        for name, seeds in [("first_run_s", [0]), ("one_run_s", [1])]:
            start = time.perf_counter()
            compare_strategies(seeds=seeds, **setting)
            times[name] = round(time.perf_counter() - start, 2)
        computed = compare_strategies(seeds=[0, 1], **setting)   # both from the cache already
        start = time.perf_counter()
        again = compare_strategies(seeds=[0, 1], **setting)
        times["cached_s"] = round(time.perf_counter() - start, 3)
    if not computed.equals(again):
        sys.exit("error: the cached result differs from the computed one")
    print(json.dumps(times))


if __name__ == "__main__":
    main()
