"""Pretrain the quick tier's backbone on printed characters and write it, with its model card, to data/.

    python scripts/pretrain.py            # the default backbone: printed letters, no digits (~2 min on 2 CPU cores)
    python scripts/pretrain.py --source letters+digits    # the second backbone, whose source overlaps the target
    python scripts/pretrain.py --epochs 1 --per-class 20 --out /tmp/bb   # a quick smoke run

Seeded: the same command on the same pinned versions gives the same data and, on a CPU, the
same weights up to floating-point scheduling.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import course_utils as cu
from course_utils import backbone

DEFAULTS = dict(per_class=400, heldout_per_class=50, epochs=10, batch_size=128, lr=4e-3, seed=0)


def pretrain(per_class, heldout_per_class, epochs, batch_size, lr, seed, source=backbone.DEFAULT_SOURCE, log=print):
    """Train a MiniResNet on rendered characters of ``source``; returns (model, report dict)."""
    start = time.time()
    cu.seed_everything(seed)
    chars = backbone.BACKBONES[backbone.check_source(source)][1]
    log(f"Rendering {per_class} training + {heldout_per_class} held-out images for each of {len(chars)} characters...")
    x_train, y_train = cu.make_source_data(per_class, seed=seed, chars=chars)
    x_test, y_test = cu.make_source_data(heldout_per_class, seed=seed + 10_000, chars=chars)
    m, s = float(x_train.mean() / 255), float(x_train.std() / 255)
    stats = ([m] * 3, [s] * 3)
    xt, xv = cu.to_tensor(x_train, stats), cu.to_tensor(x_test, stats)
    yt, yv = torch.from_numpy(y_train).long(), torch.from_numpy(y_test).long()
    log(f"  done in {time.time() - start:.0f}s: {len(yt)} training, {len(yv)} held-out images")

    model = cu.MiniResNet(len(chars))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
    steps = epochs * ((len(yt) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        t0, model_loss = time.time(), 0.0
        model.train()
        order = torch.randperm(len(yt), generator=gen)
        for i in range(0, len(yt), batch_size):
            idx = order[i:i + batch_size]
            xb = xt[idx]
            # small random shifts: the recipe already varies everything else
            dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=gen))
            xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
            loss = F.cross_entropy(model(xb), yt[idx], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            model_loss += loss.item() * len(idx)
        acc = cu.classifier_accuracy(model, xv, yv)
        log(f"  epoch {epoch + 1}/{epochs}  train loss {model_loss / len(yt):.3f}  "
            f"held-out accuracy {acc:.3f}  ({time.time() - t0:.0f}s)")
    report = {
        "architecture": f"MiniResNet(widths={list(backbone.STAGE_WIDTHS)}, blocks=[1, 1, 1, 1]), {sum(p.numel() for p in model.parameters())} parameters",
        "layer_groups": ["stem + stage1", "stage2", "stage3", "stage4", "head (added by fastai)"],
        "source_task": f"which of {len(chars)} printed characters ({chars})",
        "source": source,
        "data_recipe": {"classes": chars, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in cu.RECIPE.items()}},
        "image_size": cu.IMAGE_SIZE,
        "train_images": int(len(yt)),
        "heldout_images": int(len(yv)),
        "heldout_seed": seed + 10_000,
        "seed": seed,
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer": f"AdamW(wd=0.01), one-cycle max lr {lr}, label smoothing 0.1",
        "normalize_stats": [stats[0], stats[1]],
        "source_accuracy_heldout": round(acc, 4),
        "wall_time_s": round(time.time() - start, 1),
        "torch": torch.__version__,
        "command": f"python scripts/pretrain.py --source {source} --epochs {epochs} --per-class {per_class} --seed {seed}",
    }
    return model, report


def save(model, report, out_dir):
    """Write the weights and the model card (with the weights' sha256) atomically into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = backbone.BACKBONES[report["source"]][0]
    weights, card = out_dir / f"{stem}.pth", out_dir / f"{stem}.json"
    tmp = weights.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(weights)
    report = dict(report, weights_file=weights.name, sha256=backbone.sha256_of(weights),
                  size_bytes=weights.stat().st_size)
    tmp = card.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(card)
    return weights, card


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default=backbone.DEFAULT_SOURCE, choices=list(backbone.BACKBONES),
                   help="the source task: printed letters (the default backbone) or letters and digits")
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    p.add_argument("--per-class", type=int, default=DEFAULTS["per_class"])
    p.add_argument("--heldout-per-class", type=int, default=DEFAULTS["heldout_per_class"])
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--out", default=str(cu.DATA_DIR), help="folder for the weights and model card (default: data/)")
    a = p.parse_args(argv)
    for name in ("epochs", "per_class", "heldout_per_class", "batch_size"):
        if getattr(a, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model, report = pretrain(a.per_class, a.heldout_per_class, a.epochs, a.batch_size, a.lr, a.seed, a.source)
    weights, card = save(model, report, a.out)
    print(f"\nSource-task held-out accuracy {report['source_accuracy_heldout']:.3f} after {a.epochs} epochs "
          f"in {report['wall_time_s']:.0f}s.\nWrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) and {card}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
