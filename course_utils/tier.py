"""One entry point per thing a lesson needs, whichever tier is on.

quick (default): handwritten digits and the shipped MiniResNet, offline, on a CPU.
full: Oxford-IIIT Pets (downloaded by fastai) and ImageNet resnet34, for a GPU.
"""
from .config import get_mode


def tier_arch():
    """The architecture to pass to ``vision_learner``."""
    if get_mode() == "full":
        from .full_tier import full_arch
        return full_arch()
    from .backbone import mini_resnet
    return mini_resnet


def tier_dls(k, seed=0, **kwargs):
    """DataLoaders with ``k`` labelled training images per class and the tier's fixed validation split."""
    if get_mode() == "full":
        from .full_tier import pets_dls
        return pets_dls(k=k, seed=seed, **kwargs)
    from .digits import digits_dls
    return digits_dls(k, seed=seed, **kwargs)


def tier_settings():
    """Training settings each tier's lessons start from: learning rate, epoch budget, image size."""
    if get_mode() == "full":
        return {"lr": 2e-3, "epochs": 2, "size": 224}  # fastai's defaults for resnet34 on Pets
    return {"lr": 1e-2, "epochs": 2, "size": 32}
