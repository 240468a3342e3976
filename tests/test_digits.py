import numpy as np
import pytest
import torch

from course_utils.data import (CLASSES, N_TEST, N_VALID, digit_images, digits_dls, few_shot_indices,
                                 max_labels_per_class, split_indices)


def test_images_are_32px_rgb_with_all_labels():
    x, y = digit_images()
    assert x.shape == (1797, 32, 32, 3) and x.dtype == np.uint8
    assert sorted(set(y.tolist())) == list(range(10))


def test_three_splits_are_fixed_stratified_and_disjoint():
    pool, valid, test = split_indices()
    _, y = digit_images()
    assert len(test) == N_TEST and len(valid) == N_VALID and len(pool) + N_VALID + N_TEST == len(y)
    assert not set(pool) & set(test) and not set(pool) & set(valid) and not set(valid) & set(test)
    assert np.bincount(y[test]).min() >= 48 and np.bincount(y[valid]).min() >= 28
    for fresh, cached in zip(split_indices.__wrapped__(), (pool, valid, test)):
        assert np.array_equal(fresh, cached)


def test_few_shot_has_k_per_class_from_the_pool_and_depends_on_seed():
    _, y = digit_images()
    pool = split_indices()[0]
    a, b, c = few_shot_indices(5, seed=0), few_shot_indices(5, seed=0), few_shot_indices(5, seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.bincount(y[a]).tolist() == [5] * 10
    assert set(a) <= set(pool)


@pytest.mark.parametrize("k", [0, -1, 10_000, 2.5, "10", True, None])
def test_bad_k_is_one_clear_value_error(k):
    with pytest.raises(ValueError, match="labels per class must be"):
        few_shot_indices(k)


def test_largest_k_works():
    k = max_labels_per_class()
    assert len(few_shot_indices(k)) == 10 * k


def test_dls_train_on_k_per_class_validate_on_the_validation_split_and_carry_the_test_split():
    dls = digits_dls(3, seed=0)
    _, valid, test = split_indices()
    assert len(dls.train_ds) == 30 and len(dls.valid_ds) == N_VALID
    assert sorted(dls.valid_ds.items) == sorted(valid) and np.array_equal(dls.test_items, test)
    assert list(dls.vocab) == CLASSES
    xb, yb = dls.one_batch()
    assert xb.shape[1:] == (3, 32, 32) and abs(float(xb.mean())) < 1.5


def test_tiny_k_still_gives_a_batch():
    dls = digits_dls(1, seed=0, bs=64)
    assert len(dls.train) == 1


def test_in_memory_digits_give_the_batches_the_pil_path_gives():
    """Without item transforms the digits come from one decoded uint8 tensor (fast); with them (here an empty
    list) through PIL. Same seed, same batches, bit for bit: the lessons' numbers do not depend on the path."""
    from fastai.vision.all import TensorImage, set_seed
    set_seed(0)
    fast = digits_dls(5, seed=3)
    set_seed(0)               # a DataLoader seeds its shuffling from the global state when it is built
    slow = digits_dls(5, seed=3, item_tfms=[])
    for get in (lambda d: d.train, lambda d: d.valid, lambda d: d.test_dl(d.test_items[:40], with_labels=True)):
        set_seed(0)
        a = [(x.clone(), y.clone()) for x, y in get(fast)]
        set_seed(0)
        b = [(x.clone(), y.clone()) for x, y in get(slow)]
        assert len(a) == len(b) > 0
        assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b))
        assert type(a[0][0]) is type(b[0][0]) is TensorImage
