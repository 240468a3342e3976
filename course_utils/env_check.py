"""Lesson 00's environment check: versions, hardware, tier, and whether the shipped backbone is intact."""
import os
import platform
import sys

import fastai
import torch
import torchvision

from .backbone import load_checkpoint, read_card, weights_path
from .config import get_mode


def device_name():
    """``"cuda: <GPU name>"`` when a GPU is usable, else ``"cpu (<n> cores)"``."""
    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu ({os.cpu_count()} cores)"


def backbone_status():
    """``"ok (sha256 ...)"`` when the shipped weights match their model card, else what to do."""
    try:
        card = read_card()
        load_checkpoint(card=card)
        return f"ok: {weights_path().name}, sha256 {card['sha256'][:12]}..."
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
