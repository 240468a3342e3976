import numpy as np
import pytest

from course_utils.data import (CLASSES, N_TEST, digit_images, digits_dls, few_shot_indices,
                                 max_labels_per_class, split_indices)


def test_images_are_32px_rgb_with_all_labels():
    x, y = digit_images()
    assert x.shape == (1797, 32, 32, 3) and x.dtype == np.uint8
    assert sorted(set(y.tolist())) == list(range(10))


def test_test_split_is_fixed_stratified_and_disjoint_from_pool():
    pool, test = split_indices()
    _, y = digit_images()
    assert len(test) == N_TEST and not set(pool) & set(test)
    assert np.bincount(y[test]).min() >= 48
    assert np.array_equal(test, split_indices.__wrapped__()[1])


def test_few_shot_has_k_per_class_from_the_pool_and_depends_on_seed():
    _, y = digit_images()
    pool, _ = split_indices()
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


def test_dls_train_on_k_per_class_and_validate_on_test_split():
    dls = digits_dls(3, seed=0)
    assert len(dls.train_ds) == 30 and len(dls.valid_ds) == N_TEST
    assert list(dls.vocab) == CLASSES
    xb, yb = dls.one_batch()
    assert xb.shape[1:] == (3, 32, 32) and abs(float(xb.mean())) < 1.5


def test_tiny_k_still_gives_a_batch():
    dls = digits_dls(1, seed=0, bs=64)
    assert len(dls.train) == 1
