"""Lesson 08's helpers: the LFW faces target, frozen features once per backbone, the probe bench and the checks."""
import numpy as np
import pytest

import course_utils as cu
from course_utils.checks import l08_real_imagenet_network as checks
from course_utils.lessons import l08_real_imagenet_network as l08


def test_faces_are_200_rgb_crops_half_faces():
    x, y = l08.face_images()
    assert x.shape == (200, 32, 32, 3) and x.dtype == np.uint8
    assert (x[..., 0] == x[..., 2]).all(), "gray in RGB"
    assert np.bincount(y).tolist() == [100, 100]
    assert l08.face_images(40)[0].shape == (200, 40, 40, 3)
    with pytest.raises(ValueError):
        l08.face_images(0)


def test_face_splits_are_fixed_disjoint_and_stratified():
    pool, valid, test = l08.face_splits()
    y = l08.face_images()[1]
    assert len(valid) == l08.N_FACES_VALID and len(test) == l08.N_FACES_TEST and len(pool) == 100
    assert not (set(pool) & set(valid) or set(pool) & set(test) or set(valid) & set(test))
    assert np.bincount(y[valid]).tolist() == [20, 20] and np.bincount(y[test]).tolist() == [30, 30]
    assert l08.max_faces_per_class() == 50


def test_few_shot_draws_come_from_the_pool_by_seed():
    y, pool = l08.face_images()[1], set(l08.face_splits()[0])
    a, b, c = l08.face_few_shot(5, 0), l08.face_few_shot(5, 0), l08.face_few_shot(5, 1)
    assert (a == b).all() and not (a == c).all()
    assert set(a) <= pool and np.bincount(y[a]).tolist() == [5, 5]
    with pytest.raises(ValueError):
        l08.face_few_shot(51)


def test_faces_dls_train_on_the_draw_and_carry_the_test_split():
    dls = l08.faces_dls(10, seed=0)
    assert len(dls.train_ds) == 20 and len(dls.valid_ds) == l08.N_FACES_VALID
    assert list(dls.test_items) == list(l08.face_splits()[2])
    x, yb = dls.one_batch()
    assert x.shape[1:] == (3, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1   # vision_learner normalises
    assert dls.vocab == l08.FACE_CLASSES


def test_pooled_features_and_the_probe():
    x, y = l08.face_images()
    f = l08.pooled_features(cu.mini_resnet, x)
    assert f.shape == (200, 128) and f.dtype == np.float32
    pool, valid, test = l08.face_splits()
    acc = l08.probe_accuracy(f, y, l08.face_few_shot(10, 0), valid, test)
    assert 0.5 < acc <= 1.0
    with pytest.raises(ValueError):
        l08.pooled_features(cu.mini_resnet, x[..., 0])


def test_probe_bench_computes_features_once_and_names_unknown_backbones():
    x, y = l08.face_images()
    bench = l08.ProbeBench({"mini": cu.mini_resnet}, x, y, l08.face_splits(), l08.face_few_shot)
    accs = bench.accuracy("mini", 5, [0, 1])
    assert len(accs) == 2 and accs == bench.accuracy("mini", 5, [0, 1])
    with pytest.raises(ValueError, match="unknown backbone"):
        bench.accuracy("resnet", 5, [0])


def test_checks(capsys):
    from fastai.vision.all import accuracy, vision_learner
    assert checks.last_feature_map(cu.efficientnet_lite0, 32) == (1280, 1, 1)
    assert checks.check_feature_map((1280, 1, 1), cu.efficientnet_lite0, 32)
    assert not checks.check_feature_map((1280, 2, 2), cu.efficientnet_lite0, 32)
    assert not checks.check_feature_map(..., cu.efficientnet_lite0, 32)
    learn = vision_learner(cu.digits_dls(2, seed=0), cu.mini_resnet, metrics=accuracy)
    assert not checks.check_last_groups_train(learn, 2)
    learn.freeze_to(-2)
    assert checks.check_last_groups_train(learn, 2)
    assert checks.check_backbone_verdict("a better", [0.9, 0.8, 0.85], [0.5, 0.45, 0.5], ("a", "b"))
    assert not checks.check_backbone_verdict("a better", [0.5, 0.6, 0.5], [0.55, 0.5, 0.6], ("a", "b"))
    assert "✓" in capsys.readouterr().out
