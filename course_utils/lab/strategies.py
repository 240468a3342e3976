"""The fine-tuning strategies of lessons 01-06 and 09, each a short function over a fastai ``Learner``."""
import hashlib
import importlib.metadata
import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from fastai.callback.training import BnFreeze
from fastai.vision.all import Pipeline, RandTransform, accuracy, num_features_model, vision_learner
from torch import nn

from ..groups import gradual_unfreeze, n_groups, ulmfit_slice
from ..measure import fit_linear_probe


def first_stage_epochs(epochs):
    """Epochs of a two-stage strategy's first stage: one third of the budget, at least 1."""
    return max(1, epochs // 3)


def gradual_schedule(epochs, n_groups):
    """Epochs per stage for gradual unfreezing within ``epochs``: one per stage, the rest in the last."""
    if epochs < n_groups:
        return [1] * epochs
    return [1] * (n_groups - 1) + [epochs - n_groups + 1]


def linear_head(learn):
    """Replace fastai's head with a probe: average pooling and one linear layer; body frozen, BatchNorm too."""
    n_features = next(m for m in reversed(list(learn.model[1].modules())) if isinstance(m, nn.Linear)).out_features
    body_out = num_features_model(learn.model[0])
    learn.model[1] = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(body_out, n_features))
    learn.model[1].to(next(learn.model[0].parameters()).device)
    learn.opt, learn.train_bn = None, False   # new parameters: a fresh optimizer; frozen BatchNorm stays frozen
    learn.freeze()
    learn.add_cb(BnFreeze())                 # frozen BatchNorm layers also keep their running statistics
    return learn


def probe_features(learn, dl):
    """``(features, labels)``: the body's pooled features (what the linear head reads) of every item of ``dl``."""
    pooled = nn.Sequential(learn.model[0], *list(learn.model[1].children())[:-1]).eval()
    with torch.no_grad():
        xs, ys = zip(*[(pooled(x).cpu(), y.cpu()) for x, y in dl])
    return torch.cat(xs).numpy(), torch.cat(ys).numpy()


def fit_probe_head(learn):
    """Lesson 02's probe (``cu.fit_linear_probe``, C chosen on validation features) fitted on the frozen body's
    features of the training draw (every image, no augmentation), copied into the linear head; returns it."""
    train = learn.dls.train
    plain = train.new(shuffle=False, drop_last=False,
                      after_batch=Pipeline([t for t in train.after_batch.fs if not isinstance(t, RandTransform)]))
    probe = fit_linear_probe(*probe_features(learn, plain), *probe_features(learn, learn.dls.valid))
    scaler, logreg = probe[0], probe[-1]
    w = logreg.coef_ / scaler.scale_                       # the standardisation folded into the weights
    b = logreg.intercept_ - w @ scaler.mean_
    if len(w) == 1:                                        # two classes: sklearn keeps one row of logits
        w, b = np.concatenate([-w / 2, w / 2]), np.concatenate([-b / 2, b / 2])
    linear = learn.model[1][-1]
    with torch.no_grad():
        linear.weight[logreg.classes_] = torch.as_tensor(w, dtype=linear.weight.dtype)
        linear.bias[logreg.classes_] = torch.as_tensor(b, dtype=linear.bias.dtype)
    learn.probe = probe
    return probe


# ---- the strategies: each reads like the lesson that taught it; ``lr`` is the top (head) rate, tuned per strategy

def from_scratch(learn, epochs, lr):
    """Lesson 01: random weights, every layer trains (the learner is built with pretrained=False)."""
    learn.fit_one_cycle(epochs, lr)


def linear_probe(learn, epochs, lr):
    """Lesson 02: the fitted probe on frozen features (no SGD: ``epochs`` and ``lr`` are not used)."""
    fit_probe_head(learn)


def head_only(learn, epochs, lr):
    """Lessons 02-03: fastai's head on the frozen body (vision_learner froze it; BatchNorm trains)."""
    learn.fit_one_cycle(epochs, lr)


def fine_tune(learn, epochs, lr):
    """Lesson 01: fastai's recipe, the head alone at lr for a while, then everything with slice(lr/200, lr/2)."""
    frozen = first_stage_epochs(epochs)
    learn.fine_tune(epochs - frozen, base_lr=lr, freeze_epochs=frozen)


def full_one_lr(learn, epochs, lr):
    """Lesson 05's baseline: unfreeze everything and train every layer group at one rate."""
    learn.unfreeze()
    learn.fit_one_cycle(epochs, lr)


def discriminative(learn, epochs, lr):
    """Lesson 05: unfreeze everything; the head at lr, each group below 2.6x slower (ULMFiT)."""
    learn.unfreeze()
    learn.fit_one_cycle(epochs, ulmfit_slice(lr, n_groups(learn)))


def gradual(learn, epochs, lr):
    """Lesson 04: freeze_to(-1), freeze_to(-2), ... one group per stage, rates as fine_tune's."""
    gradual_unfreeze(learn, gradual_schedule(epochs, n_groups(learn)), base_lr=lr)


def gradual_one_lr(learn, epochs, lr):
    """Gradual unfreezing with one rate for every trainable group (ULMFiT's 'Freez' without 'discr')."""
    for n, stage_epochs in enumerate(gradual_schedule(epochs, n_groups(learn)), 1):
        learn.freeze_to(-n)
        learn.fit_one_cycle(stage_epochs, lr)


def lp_ft(learn, epochs, lr):
    """Kumar et al. 2022: start from the fitted probe (lesson 02), then fine-tune everything, discriminative rates."""
    fit_probe_head(learn)
    learn.remove_cbs(BnFreeze)
    learn.unfreeze()
    learn.fit_one_cycle(epochs, ulmfit_slice(lr, n_groups(learn)))


LORA_RANK = 4


def lora(learn, epochs, lr):
    """Hu et al. 2021 through ``peft``: a rank-4 update beside every 3x3 convolution of the body (it starts at zero,
    so training starts from the pretrained network); the pretrained weights, BatchNorm's scales and shifts included,
    stay frozen; the adapters and fastai's new head train. As in ``head only``, BatchNorm's running statistics
    follow the digits (fastai keeps BatchNorm in training mode)."""
    from peft import LoraConfig, inject_adapter_in_model
    body = learn.model[0]
    targets = [n for n, m in body.named_modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    inject_adapter_in_model(LoraConfig(r=LORA_RANK, lora_alpha=LORA_RANK, target_modules=targets), body)
    for p in learn.model[1].parameters():
        p.requires_grad_(True)
    learn.opt = None            # new parameters: fit builds the optimizer again (no freeze_to: it would undo the above)
    learn.fit_one_cycle(epochs, lr)


def bitfit(learn, epochs, lr):
    """Ben Zaken et al. 2021: of the pretrained body only the bias terms train (here BatchNorm's shifts: the
    convolutions have no bias), so it is ``head only`` with BatchNorm's scales frozen; fastai's new head trains
    whole. BatchNorm's running statistics follow the digits, as in ``head only``."""
    for name, p in learn.model[0].named_parameters():
        p.requires_grad_(name.endswith("bias"))
    for p in learn.model[1].parameters():
        p.requires_grad_(True)
    learn.opt = None            # fit builds the optimizer again; no freeze_to, which would undo the above
    learn.fit_one_cycle(epochs, lr)


@dataclass(frozen=True)
class Strategy:
    """A named strategy: ``train(learn, epochs, lr)`` plus how its learner is built."""
    name: str
    train: Callable
    pretrained: bool = True
    probe_head: bool = False      # a single linear layer instead of fastai's head (``linear_head``)
    lesson: str = ""
    tuned: bool = True            # False: no learning rate to tune (the fitted probe; its C is chosen on validation)
    packages: tuple = ()          # packages the strategy trains through (e.g. peft): their versions join the digest

    def code_sha(self):
        """A digest of the strategy's source code, the module constants it reads (``LORA_RANK``) and the versions
        of its ``packages``, so that editing any of them invalidates cached results."""
        try:
            src = inspect.getsource(self.train)
        except (OSError, TypeError):
            src = getattr(self.train, "__qualname__", repr(self.train))
        extra = inspect.getsource(linear_head) + inspect.getsource(fit_probe_head) if self.probe_head else ""
        try:
            names = inspect.getclosurevars(self.train).globals
        except TypeError:          # not a plain function (a partial, a callable object)
            names = {}
        constants = {k: v for k, v in sorted(names.items()) if isinstance(v, (bool, int, float, str, tuple))}
        if constants or self.packages:   # only then: the other strategies' digests (and cached runs) stay as they were
            extra += repr(constants) + repr([(p, importlib.metadata.version(p)) for p in self.packages])
        return hashlib.sha256((src + extra).encode()).hexdigest()[:16]


STRATEGIES = {s.name: s for s in [
    Strategy("from scratch", from_scratch, pretrained=False, lesson="01"),
    Strategy("linear probe", linear_probe, probe_head=True, lesson="02", tuned=False),
    Strategy("head only", head_only, lesson="02-03"),
    Strategy("fine_tune", fine_tune, lesson="01"),
    Strategy("full, one lr", full_one_lr, lesson="05"),
    Strategy("discriminative", discriminative, lesson="05"),
    Strategy("gradual", gradual, lesson="04"),
    Strategy("gradual, one lr", gradual_one_lr, lesson="04"),
    Strategy("LP-FT", lp_ft, probe_head=True, lesson="02+05"),
    Strategy("LoRA", lora, lesson="09", packages=("peft",)),
    Strategy("BitFit", bitfit, lesson="09"),
]}

# The parameter-efficient ones (lesson 09 teaches them on a transformer; here they run on the vision backbone)
PEFT_STRATEGIES = {n: STRATEGIES[n] for n in ("LoRA", "BitFit")}


def get_strategy(name_or_strategy):
    """A ``Strategy`` from its name (or a ``Strategy`` itself); an unknown name gets one clear ValueError."""
    if isinstance(name_or_strategy, Strategy):
        return name_or_strategy
    if name_or_strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {name_or_strategy!r}; choose from {list(STRATEGIES)} "
                         f"or pass a Strategy(name, train_fn)")
    return STRATEGIES[name_or_strategy]


def make_learner(strategy, dls, arch, cbs=None):
    """The learner ``strategy`` expects: ``vision_learner`` with accuracy, pretrained or not, probe head or not."""
    strategy = get_strategy(strategy)
    learn = vision_learner(dls, arch, pretrained=strategy.pretrained, metrics=accuracy, cbs=cbs)
    if strategy.probe_head:
        linear_head(learn)
    return learn
