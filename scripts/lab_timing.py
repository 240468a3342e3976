#!/usr/bin/env python3
"""Time the strategy lab's two speed bars on this machine and print them as JSON.

  first run  compare_strategies(["fine_tune"], seeds=[0], labels_per_class=10, epochs=5) on an
             empty cache in a fresh process: one strategy x one seed on the quick tier, plus the
             one-time work of a new kernel (rendering the source task's held-out images, ...)
  one run    the same with seed 1: what each further strategy x seed costs (data, training with
             one validation pass, test accuracy, forgetting)              target <= 1.2 s
  cached     both runs again, answered from the cache                    target <= 1 s
  efficientnet_run_s   one fine_tune run of EfficientNet-Lite0 (lesson 08) on the same digits at 32 px  target <= 6 s
  fastai vs plain PyTorch   the same training measured side by side in this process, interleaved, median of
             5: the lab's DataLoaders + vision_learner + fit_one_cycle(5 epochs) on the unfrozen network +
             one validation pass, against a hand-written loop over the same tensors (same network, batch size,
             steps, AdamW with one-cycle rates and momentum, one validation pass)   target ratio <= 1.3

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


K, EPOCHS, LR, REPEATS = 10, 5, 1e-2, 5


def fastai_run(seed):
    """Seconds for the lab's data path + a fastai Learner trained with fit_one_cycle, validated once."""
    from fastai.vision.all import accuracy, vision_learner
    import course_utils as cu
    from course_utils.lab.runs import run_dls
    cu.seed_everything(seed)
    start = time.perf_counter()
    dls = run_dls(K, seed)
    learn = vision_learner(dls, cu.mini_resnet, metrics=accuracy, cbs=[cu.SkipValidation()])
    learn.unfreeze()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(EPOCHS, LR)
        acc = float(learn.validate()[1])
    return time.perf_counter() - start, acc


def plain_run(seed):
    """Seconds for the same work in plain PyTorch: tensors indexed by hand, torch's AdamW and OneCycleLR."""
    import torch
    from fastai.vision.all import vision_learner
    import course_utils as cu
    cu.seed_everything(seed)
    dls = cu.digits_dls(K, seed=seed)
    learn = vision_learner(dls, cu.mini_resnet)   # the same network, built outside the timed part
    learn.unfreeze()                              # every parameter trains, as in the fastai run
    model = learn.model
    start = time.perf_counter()
    x = cu.digit_tensors()
    _, y = cu.digit_images()
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in cu.read_card()["normalize_stats"])
    train, valid = cu.few_shot_indices(K, seed), cu.split_indices()[1]
    xt, yt = (x[train].float() / 255 - mean) / std, torch.from_numpy(y[train])
    xv, yv = (x[valid].float() / 255 - mean) / std, torch.from_numpy(y[valid])
    bs = dls.train.bs
    steps = len(train) // bs
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.95, 0.99), eps=1e-5, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, LR, total_steps=EPOCHS * steps, pct_start=0.25,
                                                div_factor=25, final_div_factor=1e5, base_momentum=0.85,
                                                max_momentum=0.95)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(EPOCHS):
        model.train()
        order = torch.randperm(len(train))
        for b in range(steps):
            i = order[b * bs:(b + 1) * bs]
            loss_fn(model(xt[i]), yt[i]).backward()
            opt.step()
            opt.zero_grad()
            sched.step()
    model.eval()
    with torch.no_grad():
        acc = float((torch.cat([model(xv[i:i + 256]) for i in range(0, len(xv), 256)]).argmax(1) == yv).float().mean())
    return time.perf_counter() - start, acc


def loop_overhead():
    """``{"fastai_s", "plain_s", "ratio"}``: medians of REPEATS interleaved runs of each, after one warm-up."""
    import statistics
    fastai_run(0), plain_run(0)   # warm-up: first calls build caches (decoded digits, loaded weights)
    f, p = [], []
    for r in range(REPEATS):
        f.append(fastai_run(r)[0])
        p.append(plain_run(r)[0])
    fs, ps = statistics.median(f), statistics.median(p)
    return {"fastai_s": round(fs, 3), "plain_s": round(ps, 3), "ratio": round(fs / ps, 2)}


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
    times.update(loop_overhead())
    with tempfile.TemporaryDirectory(prefix="lab-timing-") as tmp:   # a real ImageNet network: one run
        import course_utils as cu
        compare_strategies(["fine_tune"], seeds=[0], labels_per_class=10, epochs=5, cache=Path(tmp) / "warm",
                           arch=cu.efficientnet_lite0)        # the first builds the network's cached inputs
        start = time.perf_counter()
        compare_strategies(["fine_tune"], seeds=[1], labels_per_class=10, epochs=5, cache=Path(tmp),
                           arch=cu.efficientnet_lite0)
        times["efficientnet_run_s"] = round(time.perf_counter() - start, 2)
    print(json.dumps(times))


if __name__ == "__main__":
    main()
