"""The shipped backbone: load it (checksum-verified, weights only) and register it with fastai.

After ``import course_utils.backbone``, ``vision_learner(dls, mini_resnet)`` works exactly as
with ``resnet34``: fastai cuts the body at the pooling layer, adds its head, splits the model
into five layer groups (stem+stage 1, stage 2, stage 3, stage 4, head) and freezes the body.
"""
import copy
import hashlib
import json

import torch
from fastai.vision.all import L, model_meta, params
from torch import nn

from .backbone_arch import BODY_CHILDREN, MiniResNet
from . import config
from .source_data import CHARS

WEIGHTS_FILE = "mini_resnet_chars.pth"
CARD_FILE = "mini_resnet_chars.json"
REBUILD_COMMAND = "make pretrain   (or: python -m course_utils.pretrain)"


def weights_path():
    return config.DATA_DIR / WEIGHTS_FILE


def card_path():
    return config.DATA_DIR / CARD_FILE


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_card(path=None):
    """The model card (recipe, seed, epochs, time, accuracy, sha256) as a dict."""
    path = path or card_path()
    if not path.exists():
        raise FileNotFoundError(f"model card {path} is missing; rebuild the backbone with: {REBUILD_COMMAND}")
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f"model card {path} is not valid JSON ({e}); rebuild it with: {REBUILD_COMMAND}") from None


def load_checkpoint(path=None, card=None):
    """The pretrained state dict, after checking the file's sha256 against the model card."""
    path = path or weights_path()
    if not path.exists():
        raise FileNotFoundError(f"pretrained weights {path} are missing; rebuild them with: {REBUILD_COMMAND}")
    expected = (card or read_card()).get("sha256")
    actual = sha256_of(path)
    if actual != expected:
        raise ValueError(f"pretrained weights {path} are corrupt or changed (sha256 {actual[:12]}..., "
                         f"model card says {str(expected)[:12]}...); restore the file with "
                         f"'git checkout -- data/' or rebuild it with: {REBUILD_COMMAND}")
    return torch.load(path, map_location="cpu", weights_only=True)


def mini_resnet(pretrained=True):
    """The quick tier's architecture, with the shipped source-task weights when ``pretrained``.

    Called by fastai as ``arch(pretrained=...)``, like a torchvision model.
    """
    model = MiniResNet(len(CHARS))
    if pretrained:
        model.load_state_dict(load_checkpoint())
    return model


def mini_resnet_split(model):
    """fastai splitter: five layer groups, ``[stem + stage1, stage2, stage3, stage4, head]``."""
    body = model[0]
    return L(body[:2], body[2], body[3], body[4], model[1:]).map(params)


def source_classifier(body=None):
    """A model that answers the source task (which printed character?) with ``body``.

    With no ``body`` it is the shipped pretrained network. Pass ``learn.model[0]`` after
    fine-tuning to measure how much of the source task the body still knows (forgetting).
    """
    pretrained = mini_resnet(pretrained=True)
    if body is None:
        return pretrained.eval()
    head = list(pretrained.children())[BODY_CHILDREN:]
    return nn.Sequential(*copy.deepcopy(body).children(), *head).eval()


def _register():
    try:
        stats = tuple(tuple(s) for s in read_card()["normalize_stats"])
    except (FileNotFoundError, ValueError, KeyError):
        stats = None  # loading will say what is wrong when the weights are asked for
    model_meta[mini_resnet] = {"cut": BODY_CHILDREN, "split": mini_resnet_split, "stats": stats}


_register()
