"""The full tier: Oxford-IIIT Pets (37 breeds) and an ImageNet-pretrained resnet34, as in fastbook ch. 5.

Nothing here touches the network on import; ``pets_path`` downloads (about 800 MB) on first use
through fastai's own ``untar_data``.
"""
import re
from pathlib import Path

from fastai.data.external import URLs, untar_data
from fastai.vision.all import resnet34

from .folders import image_dls, make_splitter

BREED_PATTERN = re.compile(r"^(.+)_\d+\.jpg$")
PETS_SPLIT_SEED = 42


def pets_path(url=URLs.PETS, base=None):
    """Path of the Pets ``images`` folder, downloaded and extracted by fastai's ``untar_data`` if needed.

    ``base`` is where fastai keeps its config, archive and data (default: ``$FASTAI_HOME`` or ``~/.fastai``).
    """
    images = Path(untar_data(url, base=base)) / "images"
    if not images.is_dir():
        raise FileNotFoundError(f"{url} extracted without an 'images' folder (expected {images}): "
                                "check the URL points at the Oxford-IIIT Pets archive")
    return images


def breed_of(path):
    """The breed in a Pets file name, e.g. ``great_pyrenees_173.jpg`` -> ``great_pyrenees``."""
    match = BREED_PATTERN.match(Path(path).name)
    if match is None:
        raise ValueError(f"{Path(path).name!r} is not a Pets file name like 'Bengal_12.jpg' "
                         f"(pattern {BREED_PATTERN.pattern}): remove it from the images folder")
    return match.group(1)


def pets_dls(k=None, seed=0, url=URLs.PETS, base=None, size=224, bs=32, item_tfms=None, batch_tfms=None):
    """``DataLoaders`` for Pets labelled by breed, with a fixed 20% validation split (seed 42).

    With ``k``, keep ``k`` training images per breed, chosen reproducibly by ``seed``.
    """
    splitter = make_splitter(0.2, PETS_SPLIT_SEED, breed_of, k=k, k_seed=seed)
    return image_dls(pets_path(url, base), breed_of, splitter, size, bs, item_tfms, batch_tfms)


def full_arch():
    """The full tier's architecture: torchvision's resnet34 (ImageNet weights are fetched by ``vision_learner``)."""
    return resnet34
