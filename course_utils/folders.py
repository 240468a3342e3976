"""Image folders: your own (``root/<class_name>/<image files>``) and the full tier's Oxford-IIIT Pets."""
import random
import re
from collections import defaultdict
from pathlib import Path

from fastai.data.block import CategoryBlock, DataBlock
from fastai.data.external import URLs, untar_data
from fastai.data.transforms import RandomSplitter, get_image_files, parent_label
from fastai.vision.all import resnet34
from fastai.vision.augment import Resize
from fastai.vision.data import ImageBlock
from fastai.vision.utils import verify_image

from .config import check_labels_per_class, check_positive_int, check_seed

LAYOUT = "root/<class_name>/<image files>"
MAX_NAMED = 5


def _names(paths, root):
    """Up to MAX_NAMED paths relative to ``root``, as one readable string."""
    shown = ", ".join(str(Path(p).relative_to(root)) for p in paths[:MAX_NAMED])
    return shown + (", ..." if len(paths) > MAX_NAMED else "")


def _class_dirs(root):
    """The non-hidden subfolders of ``root``, sorted by name."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _check_is_folder(root):
    if not root.exists():
        raise FileNotFoundError(f"image folder {root} does not exist: check the path (it must be laid out as {LAYOUT})")
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is a file, not a folder: pass the folder laid out as {LAYOUT}")


def _check_layout(root, class_dirs):
    """No class folders, images outside class folders, or images nested one level too deep."""
    loose = list(get_image_files(root, recurse=False))
    if not class_dirs:
        found = f" (it holds {len(loose)} images directly)" if loose else ""
        raise ValueError(f"{root} has no class subfolders{found}: put each class's images in its own "
                         f"subfolder, laid out as {LAYOUT}")
    if loose:
        raise ValueError(f"{len(loose)} images sit directly in {root}, outside any class folder "
                         f"({_names(loose, root)}): move them into a class subfolder or out of {root}")
    for d in class_dirs:
        nested = sorted(set(get_image_files(d)) - set(get_image_files(d, recurse=False)))
        if nested:
            raise ValueError(f"class folder '{d.name}' has images in subfolders ({_names(nested, root)}): the layout "
                             f"must be {LAYOUT}; if its subfolders are the classes, pass {d} instead")


def _check_counts(root, counts):
    if sum(counts.values()) == 0:
        raise ValueError(f"{root} holds no image files (looked for extensions such as .jpg, .png): "
                         f"add images laid out as {LAYOUT}")
    empty = [c for c, n in counts.items() if n == 0]
    if empty:
        raise ValueError(f"class folder(s) {', '.join(repr(c) for c in empty)} in {root} have no images: "
                         "add images or remove the folder(s)")
    if len(counts) < 2:
        raise ValueError(f"{root} has only one class ({next(iter(counts))!r}); classification needs at least "
                         f"two classes: add another class subfolder")


def _check_images_open(root, files):
    bad = [f for f in files if not verify_image(f)]
    if bad:
        raise ValueError(f"{len(bad)} image file(s) in {root} cannot be opened by PIL ({_names(bad, root)}): "
                         "delete or replace them (or re-save them as .jpg/.png)")


def validate_image_folder(path):
    """``{"classes", "counts", "n_images"}`` of a usable folder (hidden entries ignored), else one clear error."""
    root = Path(path).expanduser()
    _check_is_folder(root)
    class_dirs = _class_dirs(root)
    _check_layout(root, class_dirs)
    files = {d.name: list(get_image_files(d, recurse=False)) for d in class_dirs}
    counts = {c: len(fs) for c, fs in files.items()}
    _check_counts(root, counts)
    _check_images_open(root, sorted(f for fs in files.values() for f in fs))
    return {"classes": sorted(counts), "counts": counts, "n_images": sum(counts.values())}


def keep_k_per_class(train_idx, labels, k, seed):
    """``k`` indices of each label from ``train_idx`` (parallel to ``labels``), drawn reproducibly from ``seed``."""
    by_label = defaultdict(list)
    for i, y in zip(train_idx, labels):
        by_label[y].append(i)
    smallest_label = min(sorted(by_label), key=lambda y: len(by_label[y]))
    n = len(by_label[smallest_label])
    k = check_labels_per_class(k, n, where=f"(the smallest class in the training split, {smallest_label!r}, has {n} images)")
    rng = random.Random(seed)
    return sorted(i for y in sorted(by_label) for i in rng.sample(sorted(by_label[y]), k))


def _check_every_class_trains(labels, train_labels):
    missing = sorted(set(labels) - set(train_labels))
    if missing:
        raise ValueError(f"class(es) {', '.join(map(repr, missing))} got no training images from the random "
                         "split: add images to them or lower valid_pct")


def make_splitter(valid_pct, split_seed, label_func, k=None, k_seed=0):
    """A fastai splitter: ``RandomSplitter(valid_pct, split_seed)``, then ``k`` training items per label."""
    random_split = RandomSplitter(valid_pct, seed=split_seed)

    def split(items):
        order = sorted(range(len(items)), key=lambda i: str(items[i]))
        train, valid = ([order[j] for j in part] for part in random_split(order))
        labels = [label_func(items[i]) for i in range(len(items))]
        train_labels = [labels[i] for i in train]
        _check_every_class_trains(labels, train_labels)
        if k is not None:
            train = keep_k_per_class(train, train_labels, k, k_seed)
        return train, valid
    return split


def hold_out_test(files, test_pct, split_seed):
    """``(rest, test)``: a fixed, seeded ``test_pct`` share of ``files`` kept for reported results only."""
    ordered = sorted(files, key=str)
    rest, test = RandomSplitter(test_pct, seed=split_seed)(ordered)
    return [ordered[i] for i in rest], [ordered[i] for i in test]


def image_dls(source, get_y, splitter, size, bs, item_tfms=None, batch_tfms=None, test_pct=0.2, split_seed=0):
    """``DataLoaders`` for the images under ``source`` labelled by ``get_y``: training and validation from
    ``splitter``, a fixed test split in ``dls.test_items`` (``cu.test_accuracy``); ``bs`` clipped to the training set."""
    rest, test = hold_out_test(get_image_files(source), test_pct, split_seed)
    n_train = len(splitter(rest)[0])
    block = DataBlock((ImageBlock, CategoryBlock), get_y=get_y, splitter=splitter,
                      item_tfms=item_tfms or Resize(size), batch_tfms=batch_tfms)
    dls = block.dataloaders(rest, bs=max(1, min(bs, n_train)), num_workers=0)
    dls.test_items = test
    return dls


def folder_dls(path, k=None, seed=0, valid_pct=0.2, size=64, bs=16, item_tfms=None, batch_tfms=None):
    """Validated ``DataLoaders`` for a ``root/<class_name>/<image files>`` folder: a fixed test split
    (``valid_pct`` of the images, split seed 0), then ``valid_pct`` of the rest for validation (seeded)."""
    check_seed(seed)
    if isinstance(valid_pct, bool) or not isinstance(valid_pct, (int, float)) or not 0 < valid_pct < 1:
        raise ValueError(f"valid_pct is the share of images held out for validation, a number between 0 and 1 "
                         f"such as 0.2; got {valid_pct!r}")
    check_positive_int(bs, "bs (the batch size)")
    if not isinstance(size, (tuple, list)):
        check_positive_int(size, "size (the image side in pixels)", "e.g. 64, or a (height, width) pair")
    validate_image_folder(path)
    splitter = make_splitter(valid_pct, seed, parent_label, k=k, k_seed=seed)
    return image_dls(Path(path).expanduser(), parent_label, splitter, size, bs, item_tfms, batch_tfms,
                     test_pct=valid_pct)


# ---- the full tier: Oxford-IIIT Pets -------------------------------------------------------

BREED_PATTERN = re.compile(r"^(.+)_\d+\.jpg$")
PETS_SPLIT_SEED = 42


def pets_path(url=URLs.PETS, base=None):
    """Path of the Pets ``images`` folder, downloaded and extracted by fastai's ``untar_data`` if needed."""
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
    """``DataLoaders`` for Pets labelled by breed: fixed 20% test and 20% validation splits (seed 42)."""
    splitter = make_splitter(0.2, PETS_SPLIT_SEED, breed_of, k=k, k_seed=seed)
    return image_dls(pets_path(url, base), breed_of, splitter, size, bs, item_tfms, batch_tfms,
                     split_seed=PETS_SPLIT_SEED)


def full_arch():
    """The full tier's architecture: torchvision's resnet34 (ImageNet weights are fetched by ``vision_learner``)."""
    return resnet34


def pets_max_labels_per_class():
    """The largest ``k`` every breed can supply from the downloaded files, with ``pets_dls``' fixed split."""
    files, _ = hold_out_test(get_image_files(pets_path()), 0.2, PETS_SPLIT_SEED)
    train, _ = make_splitter(0.2, PETS_SPLIT_SEED, breed_of)(files)
    counts = defaultdict(int)
    for i in train:
        counts[breed_of(files[i])] += 1
    return min(counts.values())
