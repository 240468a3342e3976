"""The quick tier's pretrained network: its architecture, the shipped weights, and what it still knows."""
import copy
import hashlib
import json
import os
import platform
import sys
from functools import lru_cache

import fastai
import torch
import torchvision
from fastai.vision.all import L, model_meta, params
from torch import nn

from . import config
from .config import get_mode
from .data import CHARS, LETTERS, make_source_data, to_tensor

STAGE_WIDTHS = (16, 32, 64, 128)
BODY_CHILDREN = 5  # stem + four stages


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut (projected when the shape changes)."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


def stage(c_in, c_out, stride, blocks):
    return nn.Sequential(BasicBlock(c_in, c_out, stride), *[BasicBlock(c_out, c_out) for _ in range(blocks - 1)])


class MiniResNet(nn.Sequential):
    """Stem, four stages (layer groups for fastai) and a classifier for the source task."""

    def __init__(self, n_classes, widths=STAGE_WIDTHS, blocks=(1, 1, 1, 1), n_in=3):
        w = widths
        super().__init__(
            nn.Sequential(nn.Conv2d(n_in, w[0], 3, 1, 1, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True)),
            stage(w[0], w[0], 2, blocks[0]),
            stage(w[0], w[1], 2, blocks[1]),
            stage(w[1], w[2], 2, blocks[2]),
            stage(w[2], w[3], 2, blocks[3]),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(w[3], n_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


# ---- the shipped weights ----------------------------------------------------------------

# source task -> (file stem under data/, the characters it classifies). The default has no digit glyphs, so
# fine-tuning on digits is transfer to new classes; the second shows what an overlapping source buys.
BACKBONES = {"letters": ("mini_resnet_letters", LETTERS), "letters+digits": ("mini_resnet_chars", CHARS)}
DEFAULT_SOURCE = "letters"
WEIGHTS_FILE, CARD_FILE = (f"{BACKBONES[DEFAULT_SOURCE][0]}.{ext}" for ext in ("pth", "json"))
REBUILD_COMMAND = "make pretrain   (or: python scripts/pretrain.py --source <letters|letters+digits>)"


def check_source(source):
    if source not in BACKBONES:
        raise ValueError(f"unknown source task {source!r}: use one of {list(BACKBONES)}")
    return source


def weights_path(source=DEFAULT_SOURCE):
    return config.DATA_DIR / f"{BACKBONES[check_source(source)][0]}.pth"


def card_path(source=DEFAULT_SOURCE):
    return config.DATA_DIR / f"{BACKBONES[check_source(source)][0]}.json"


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_card(path=None, source=DEFAULT_SOURCE):
    """The model card (recipe, seed, epochs, time, accuracy, sha256) as a dict."""
    path = path or card_path(source)
    if not path.exists():
        raise FileNotFoundError(f"model card {path} is missing; rebuild the backbone with: {REBUILD_COMMAND}")
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f"model card {path} is not valid JSON ({e}); rebuild it with: {REBUILD_COMMAND}") from None


def load_checkpoint(path=None, card=None, source=DEFAULT_SOURCE):
    """The pretrained state dict, after checking the file's sha256 against the model card."""
    path = path or weights_path(source)
    if not path.exists():
        raise FileNotFoundError(f"pretrained weights {path} are missing; rebuild them with: {REBUILD_COMMAND}")
    expected = (card or read_card(source=source)).get("sha256")
    actual = sha256_of(path)
    if actual != expected:
        raise ValueError(f"pretrained weights {path} are corrupt or changed (sha256 {actual[:12]}..., "
                         f"model card says {str(expected)[:12]}...); restore the file with "
                         f"'git checkout -- data/' or rebuild it with: {REBUILD_COMMAND}")
    return torch.load(path, map_location="cpu", weights_only=True)


def _pretrained_on(source, pretrained):
    model = MiniResNet(len(BACKBONES[source][1]))
    if pretrained:
        model.load_state_dict(load_checkpoint(source=source))
    return model


def mini_resnet(pretrained=True):
    """The quick tier's architecture, pretrained on printed letters (no digits) when ``pretrained``."""
    return _pretrained_on("letters", pretrained)


def mini_resnet_with_digits(pretrained=True):
    """The same architecture pretrained on printed letters and digits: a source task that overlaps the target."""
    return _pretrained_on("letters+digits", pretrained)


SOURCE_OF = {mini_resnet: "letters", mini_resnet_with_digits: "letters+digits"}


def mini_resnet_split(model):
    """fastai splitter: five layer groups, ``[stem + stage1, stage2, stage3, stage4, head]``."""
    body = model[0]
    return L(body[:2], body[2], body[3], body[4], model[1:]).map(params)


def source_classifier(body=None, source=DEFAULT_SOURCE):
    """A model that answers the source task (which printed character?) with ``body``."""
    pretrained = _pretrained_on(check_source(source), True)
    if body is None:
        return pretrained.eval()
    head = list(pretrained.children())[BODY_CHILDREN:]
    return nn.Sequential(*copy.deepcopy(body).children(), *head).eval()


def pretrained_model(arch):
    """The whole pretrained network (source classifier included), loaded the way ``vision_learner`` does."""
    meta = model_meta.get(arch)
    if meta is None:
        raise ValueError(f"{getattr(arch, '__name__', arch)!r} is not registered in fastai's model_meta; "
                         f"use cu.tier_arch() (importing course_utils registers mini_resnet)")
    return arch(weights=meta["weights"]) if "weights" in meta else arch(pretrained=True)


def _register():
    for arch, source in SOURCE_OF.items():
        try:
            stats = tuple(tuple(s) for s in read_card(source=source)["normalize_stats"])
        except (FileNotFoundError, ValueError, KeyError):
            stats = None  # loading will say what is wrong when the weights are asked for
        model_meta[arch] = {"cut": BODY_CHILDREN, "split": mini_resnet_split, "stats": stats}


_register()


# ---- forgetting: the source task after fine-tuning ---------------------------------------------

HELDOUT_SEED = 20_000
HELDOUT_PER_CLASS = 10


@lru_cache(maxsize=8)
def _heldout(n_per_class, seed, source):
    card = read_card(source=source)
    used = {card.get("seed"), card.get("heldout_seed")}
    if seed in used:
        raise ValueError(f"seed {seed} was used to build the backbone's own training or held-out data "
                         f"(seeds {sorted(s for s in used if s is not None)}); pick another, e.g. {HELDOUT_SEED}")
    x, y = make_source_data(n_per_class, seed=seed, chars=BACKBONES[source][1])
    return to_tensor(x, card["normalize_stats"]), torch.from_numpy(y).long()


def heldout_source_data(n_per_class=HELDOUT_PER_CLASS, seed=HELDOUT_SEED, source=DEFAULT_SOURCE):
    """``(x, y)``: printed characters the backbone never saw, normalised with the model card's stats."""
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, int) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive whole number, got {n_per_class!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative whole number, got {seed!r}")
    return _heldout(n_per_class, seed, check_source(source))


def classifier_accuracy(model, x, y, batch_size=128):
    """Accuracy of ``model`` (put in eval mode) on tensors ``x``, ``y``. Batches of 128: on a CPU EfficientNet-Lite0
    evaluates the 500 test digits twice as fast as in one batch of 500, with bit-identical outputs."""
    if len(x) != len(y) or len(y) == 0:
        raise ValueError(f"x and y must be non-empty and the same length, got {len(x)} and {len(y)}")
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        hits = sum((model(x[i:i + batch_size].to(device)).argmax(1).cpu() == y[i:i + batch_size]).sum().item()
                   for i in range(0, len(y), batch_size))
    return hits / len(y)


def source_accuracy(body=None, data=None, source=DEFAULT_SOURCE):
    """Forgetting, compatibility view: source-task accuracy of ``body`` (e.g. ``learn.model[0]``) under the
    pretrained source head, reattached unchanged (moved by BatchNorm statistics as well as by weights)."""
    x, y = heldout_source_data(source=source) if data is None else data
    return classifier_accuracy(source_classifier(body, source), x, y)


def _pooled(body, x, batch_size=512):
    model = nn.Sequential(*copy.deepcopy(body).children(), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval().cpu()
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]).numpy()


def source_probe_accuracy(body=None, source=DEFAULT_SOURCE):
    """Forgetting, representation view: a linear probe refitted on ``body``'s features of held-out source
    images (10 per class to fit, 5 to choose C, 10 to score) -- what the body still knows of the source task."""
    from .measure import fit_linear_probe
    body = nn.Sequential(*list(_pretrained_on(check_source(source), True).children())[:BODY_CHILDREN]) \
        if body is None else body
    (fx, fy), (vx, vy), (tx, ty) = (heldout_source_data(n, HELDOUT_SEED + i, source) for i, n in ((1, 10), (2, 5), (3, 10)))
    probe = fit_linear_probe(_pooled(body, fx), fy.numpy(), _pooled(body, vx), vy.numpy())
    return float(probe.score(_pooled(body, tx), ty.numpy()))


# ---- lesson 00's environment check ------------------------------------------------------------

def device_name():
    """``"cuda: <GPU name>"`` when a GPU is usable, else ``"cpu (<n> cores)"``."""
    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu ({os.cpu_count()} cores)"


def backbone_status():
    """``"ok (sha256 ...)"`` when the shipped weights match their model card, else what to do."""
    try:
        cards = {s: read_card(source=s) for s in BACKBONES}
        for s, card in cards.items():
            load_checkpoint(card=card, source=s)
        return "ok: " + ", ".join(f"{weights_path(s).name} (sha256 {c['sha256'][:12]}...)" for s, c in cards.items())
    except (FileNotFoundError, ValueError) as e:
        return f"PROBLEM: {e}"


def environment_report():
    """The facts lesson 00 prints, as an ordered dict of name -> text."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__.split("+")[0],
        "torchvision": torchvision.__version__.split("+")[0],
        "fastai": fastai.__version__,
        "device": device_name(),
        "tier": get_mode(),
        "backbone": backbone_status(),
        "platform": f"{platform.system()} {platform.machine()}, {sys.implementation.name}",
    }
