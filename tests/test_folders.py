"""Bring-your-own-data folders: validation messages, DataLoaders and k-per-class subsets."""
from collections import Counter

import pytest
from PIL import Image

from course_utils.folders import folder_dls, validate_image_folder

CLASSES = ("cat", "dog", "fox")
N_PER_CLASS = 6


def save_png(path, shade=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), (shade % 256, 40, 200)).save(path)


def make_folder(root, classes=CLASSES, n=N_PER_CLASS):
    for c_i, name in enumerate(classes):
        for i in range(n):
            save_png(root / name / f"{name}_{i}.png", shade=40 * c_i + 7 * i)
    return root


@pytest.fixture
def good_folder(tmp_path):
    return make_folder(tmp_path / "pets")


def train_labels(dls):
    return Counter(p.parent.name for p in dls.train_ds.items)


def train_names(dls):
    return sorted(p.name for p in dls.train_ds.items)


def valid_names(dls):
    return sorted(p.name for p in dls.valid_ds.items)


def test_good_folder_validates(good_folder):
    info = validate_image_folder(good_folder)
    assert info == {"classes": list(CLASSES), "counts": {c: N_PER_CLASS for c in CLASSES},
                    "n_images": len(CLASSES) * N_PER_CLASS}


def test_hidden_and_non_image_files_are_ignored(good_folder):
    save_png(good_folder / ".ipynb_checkpoints" / "x.png")
    save_png(good_folder / "cat" / ".hidden.png")
    (good_folder / "cat" / "notes.txt").write_text("not an image")
    (good_folder / ".DS_Store").write_bytes(b"\0\1")
    info = validate_image_folder(good_folder)
    assert info["classes"] == list(CLASSES) and info["counts"]["cat"] == N_PER_CLASS


def test_folder_dls_vocab_and_batch(good_folder):
    dls = folder_dls(good_folder, size=32, bs=4)
    assert list(dls.vocab) == list(CLASSES)
    xb, yb = dls.one_batch()
    assert xb.shape == (4, 3, 32, 32) and yb.shape == (4,)
    n = len(CLASSES) * N_PER_CLASS
    assert dls.train.n + dls.valid.n + len(dls.test_items) == n and len(dls.test_items) == int(0.2 * n)
    assert dls.valid.n == int(0.2 * (n - len(dls.test_items)))
    assert not set(dls.test_items) & (set(dls.train.items) | set(dls.valid.items))


def test_folder_test_split_is_fixed_across_seeds_and_scores(good_folder):
    import course_utils as cu
    from fastai.vision.all import accuracy, vision_learner
    a, b = folder_dls(good_folder, seed=0, size=32), folder_dls(good_folder, seed=3, size=32)
    assert a.test_items == b.test_items
    learn = vision_learner(a, cu.mini_resnet, metrics=accuracy)
    assert 0 <= cu.test_accuracy(learn) <= 1


def test_k_keeps_k_per_class_and_leaves_validation_alone(good_folder):
    full, few = folder_dls(good_folder, seed=1, size=32), folder_dls(good_folder, k=2, seed=1, size=32)
    assert train_labels(few) == {c: 2 for c in CLASSES}
    assert set(train_names(few)) <= set(train_names(full))
    assert valid_names(few) == valid_names(full)
    assert list(few.vocab) == list(CLASSES)


def test_k_subset_is_reproducible_by_seed(good_folder):
    def pick(seed):
        return tuple(train_names(folder_dls(good_folder, k=2, seed=seed, size=32)))
    assert pick(0) == pick(0)
    assert len({pick(0), pick(1), pick(2)}) == 3


def test_batch_size_is_clipped_so_an_epoch_has_a_batch(good_folder):
    dls = folder_dls(good_folder, k=1, size=32, bs=64)
    assert dls.train.bs == len(CLASSES) and len(dls.train) == 1


@pytest.mark.parametrize("k", [0, -1, 99, 2.0, "2", True])
def test_bad_k_says_the_allowed_range(good_folder, k):
    with pytest.raises(ValueError, match=r"labels per class must be a whole number with 1 <= k <= \d+"):
        folder_dls(good_folder, k=k, size=32)


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        validate_image_folder(tmp_path / "nope")


def test_file_instead_of_folder(tmp_path):
    save_png(tmp_path / "one.png")
    with pytest.raises(FileNotFoundError, match="is a file, not a folder"):
        folder_dls(tmp_path / "one.png")


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="no class subfolders"):
        validate_image_folder(tmp_path)


def test_images_without_class_folders(tmp_path):
    save_png(tmp_path / "a.png")
    with pytest.raises(ValueError, match=r"no class subfolders \(it holds 1 images directly\)"):
        validate_image_folder(tmp_path)


def test_class_folders_without_any_images(tmp_path):
    for c in CLASSES:
        (tmp_path / c).mkdir()
    with pytest.raises(ValueError, match="holds no image files"):
        validate_image_folder(tmp_path)


def test_only_one_class(tmp_path):
    make_folder(tmp_path, classes=("cat",))
    with pytest.raises(ValueError, match="needs at least two classes"):
        validate_image_folder(tmp_path)


def test_class_folder_without_images_is_named(good_folder):
    (good_folder / "emu").mkdir()
    (good_folder / "emu" / "readme.txt").write_text("todo")
    with pytest.raises(ValueError, match="'emu' .* have no images"):
        folder_dls(good_folder)


def test_corrupt_images_are_named_and_counted(good_folder):
    (good_folder / "dog" / "broken.png").write_bytes(b"this is not a png")
    (good_folder / "fox" / "empty.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"2 image file\(s\) .* cannot be opened .*dog/broken\.png, fox/empty\.jpg"):
        validate_image_folder(good_folder)


def test_images_loose_in_root_are_reported(good_folder):
    save_png(good_folder / "stray.png")
    with pytest.raises(ValueError, match="1 images sit directly in .*stray.png"):
        validate_image_folder(good_folder)


def test_train_valid_layout_is_explained(tmp_path):
    make_folder(tmp_path / "train")
    make_folder(tmp_path / "valid")
    with pytest.raises(ValueError, match="class folder 'train' has images in subfolders .*pass .*train instead"):
        validate_image_folder(tmp_path)
