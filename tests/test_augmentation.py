"""Augmentation helpers: knob validation, the digit-safe set, stage timing, the gallery, the widget, the checks."""
import random

import course_utils as cu  # first: it silences import-time warnings
import numpy as np
import pytest
import torch
from fastai.vision.all import Flip, Resize, accuracy, aug_transforms, vision_learner

from course_utils.checks import l06_data_augmentation as checks
from course_utils.lessons import l06_data_augmentation as l06
from course_utils.lessons.l06_data_augmentation import (AugmentationExplorer, augment, describe_tfms, gallery,
                                                         gallery_digits, per_class_accuracy, plot_gallery, time_stages)

AUG_DEFAULTS, check_aug_knobs, checked_aug_transforms = cu.AUG_DEFAULTS, cu.check_aug_knobs, cu.checked_aug_transforms
digit_safe_tfms, digits_dls = cu.digit_safe_tfms, cu.digits_dls


@pytest.mark.parametrize("knobs, words", [
    (dict(max_rotate=-10), ["max_rotate", "positive", "-10"]),
    (dict(max_zoom=0.8), ["max_zoom", "cannot be below 1"]),
    (dict(min_zoom=0), ["min_zoom"]),
    (dict(min_zoom=1.3, max_zoom=1.2), ["min_zoom", "max_zoom"]),
    (dict(p_affine=1.5), ["p_affine", "probability"]),
    (dict(p_lighting=-0.1), ["p_lighting", "[0, 1]"]),
    (dict(max_lighting=1.0), ["max_lighting", "[0, 1)"]),
    (dict(max_warp=float("nan")), ["max_warp"]),
    (dict(max_rotate="10"), ["max_rotate", "number"]),
    (dict(do_flip="yes"), ["do_flip", "True or False"]),
    (dict(rotate=10), ["unknown", "max_rotate"]),
])
def test_bad_knobs_get_one_clear_error(knobs, words):
    with pytest.raises(ValueError) as e:
        check_aug_knobs(**knobs)
    assert all(w in str(e.value) for w in words), str(e.value)
    with pytest.raises(ValueError):
        checked_aug_transforms(**knobs)


def test_good_knobs_pass_through():
    assert check_aug_knobs(**AUG_DEFAULTS) == {k: (v if isinstance(v, bool) else float(v)) for k, v in AUG_DEFAULTS.items()}
    assert check_aug_knobs(max_rotate=0, p_affine=1, min_zoom=0.8) == {"max_rotate": 0.0, "p_affine": 1.0, "min_zoom": 0.8}


def test_digit_safe_has_no_flip_and_keeps_the_signature():
    lines = describe_tfms(digit_safe_tfms())
    assert not any("flip" in line for line in lines) and any("rotate" in line for line in lines)
    assert any("flip" in line for line in describe_tfms(aug_transforms()))
    affine = [t for t in digit_safe_tfms(size=32) if hasattr(t, "aff_fs")][0]
    assert affine.pad_mode == "zeros" and affine.size in (32, (32, 32))
    assert describe_tfms(aug_transforms(flip_vert=True))[0].startswith("dihedral")
    assert describe_tfms(aug_transforms(do_flip=False, max_rotate=0, max_zoom=1, max_warp=0, max_lighting=0)) == []


def test_time_stages_counts_every_image():
    dls = digits_dls(2, seed=0, bs=8, item_tfms=[Resize(40)], batch_tfms=aug_transforms(size=32))
    t = time_stages(dls.train)
    assert t["images"] == 20 and t["item"] > 0 and t["batch"] > 0
    assert time_stages(dls.train, max_batches=1)["images"] == 8
    with pytest.raises(ValueError, match="max_batches"):
        time_stages(dls.train, max_batches=0)


def test_augment_is_seeded_and_keeps_shape():
    im = gallery_digits(4)
    assert im.shape == (4, 32, 32, 3) and im.dtype == np.uint8
    a, b = augment(im, aug_transforms(p_affine=1.0), seed=1), augment(im, aug_transforms(p_affine=1.0), seed=1)
    assert a.shape == im.shape and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, im)
    assert np.array_equal(augment(im, [Flip(p=1.0)]), im[:, :, ::-1])
    with pytest.raises(ValueError, match="N x H x W x 3"):
        augment(im[..., 0], [])
    with pytest.raises(ValueError, match="1 to 50"):
        gallery_digits(0)


def test_gallery_rows():
    import matplotlib.pyplot as plt
    im = gallery_digits(3)
    fig = gallery(im, {"flip": [Flip(p=1.0)], "safe": digit_safe_tfms()})
    assert len(fig.axes) == 9 and fig.axes[0].get_ylabel() == "original"
    plt.close(fig)
    with pytest.raises(ValueError, match="same number"):
        plot_gallery({"a": im, "b": im[:2]})
    with pytest.raises(ValueError, match="at least one"):
        plot_gallery({})


def test_widget_sliders_redraw_and_reject_bad_values():
    e = AugmentationExplorer(images=gallery_digits(3), draws=1)
    assert "aug-gallery" in e.image._dom_classes
    before = e.image.value
    e.sliders["max_rotate"].value = 45.0
    assert e.state["max_rotate"] == 45.0 and e.image.value != before
    e.boxes["do_flip"].value = False
    assert "flip" not in e.summary().split("\n", 1)[1]
    e.set(max_rotate=0.0, max_zoom=1.0, max_warp=0.0, max_lighting=0.0)
    assert e.state["mean_pixel_change"] == 0.0 and "no augmentation" in e.summary()
    assert e.sliders["max_rotate"].value == 0.0
    e.pad.value = "zeros"
    assert e.state["pad_mode"] == "zeros"
    with pytest.raises(ValueError, match="p_affine"):
        e.set(p_affine=2)
    assert "p_affine" in e.status.value
    with pytest.raises(ValueError, match="pad_mode"):
        e.set(pad_mode="mirror")
    with pytest.raises(ValueError, match="max_zoom"):
        AugmentationExplorer(max_zoom=0.5)
    with pytest.raises(ValueError, match="draws"):
        AugmentationExplorer(draws=0)


def test_check_digit_safe(capsys):
    assert checks.check_digit_safe(digit_safe_tfms())
    assert not checks.check_digit_safe(aug_transforms())
    assert not checks.check_digit_safe(aug_transforms(flip_vert=True))
    assert not checks.check_digit_safe(aug_transforms(do_flip=False, max_rotate=60))
    assert not checks.check_digit_safe(aug_transforms(do_flip=False, max_zoom=2.0))
    assert not checks.check_digit_safe([])
    assert not checks.check_digit_safe("rotate")
    assert not checks.check_digit_safe(...)
    assert checks.check_digit_safe(aug_transforms(do_flip=False))        # passes, with a note on padding
    out = capsys.readouterr().out
    assert "mirrored" in out and "rotated" in out and "nothing is augmented" in out and "reflection padding" in out


def test_check_presizing(capsys):
    assert checks.check_presizing(digits_dls(2, item_tfms=Resize(48), batch_tfms=aug_transforms(size=32)))
    assert not checks.check_presizing(digits_dls(2, item_tfms=Resize(48), batch_tfms=aug_transforms()))
    assert not checks.check_presizing(digits_dls(2, batch_tfms=aug_transforms(size=32)))
    assert not checks.check_presizing(digits_dls(2, item_tfms=Resize(32), batch_tfms=aug_transforms(size=32)))
    assert not checks.check_presizing(digits_dls(2, item_tfms=Resize(48)))
    assert not checks.check_presizing(None)
    out = capsys.readouterr().out
    assert "size=32" in out and "no Resize" in out and "not larger" in out and "no augmentation" in out
    assert "rotated corners are still padded" in out and "cropped" not in out   # min_scale=1: no random crop


def test_check_item_or_batch(capsys):
    names = ["Resize", "Rotate", "Normalize"]
    assert checks.check_item_or_batch({"Resize": "item", "Rotate": "batch", "Normalize": "Batch"}, names)
    assert not checks.check_item_or_batch({"Resize": "batch", "Rotate": "batch", "Normalize": "batch"}, names)
    assert not checks.check_item_or_batch({"Resize": "item"}, names)
    assert not checks.check_item_or_batch({"Resize": "cpu", "Rotate": "batch", "Normalize": "batch"}, names)
    assert not checks.check_item_or_batch(["item"], names)
    out = capsys.readouterr().out
    assert "not right for ['Resize']" in out and "say where" in out and '"item" or "batch"' in out


def test_per_class_accuracy_plain_and_flipped():
    learn = vision_learner(digits_dls(1, seed=0), cu.mini_resnet, metrics=accuracy)
    plain, flipped = per_class_accuracy(learn), per_class_accuracy(learn, flip=True)
    assert plain.shape == flipped.shape == (10,) and ((plain >= 0) & (plain <= 1)).all()
    counts = np.bincount([int(y) for _, y in learn.dls.valid_ds], minlength=10)
    overall = learn.validate()[1]
    assert abs(float((plain * counts).sum() / counts.sum()) - overall) < 1e-6
    with pytest.raises(ValueError, match="flip"):
        per_class_accuracy(learn, flip="yes")
    test = learn.dls.test_dl(learn.dls.test_items, with_labels=True)   # the test split, as the lesson reports it
    on_test = per_class_accuracy(learn, dl=test)
    test_counts = np.bincount(cu.digit_images()[1][learn.dls.test_items], minlength=10)
    assert abs(float((on_test * test_counts).sum() / test_counts.sum()) - cu.test_accuracy(learn)) < 1e-6


def test_augment_leaves_the_global_generators_alone():
    im = gallery_digits(3)
    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    expected = random.random(), np.random.rand(), torch.rand(1)
    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    a = augment(im, aug_transforms(p_affine=1.0, p_lighting=1.0), seed=3)
    assert (random.random(), np.random.rand()) == expected[:2] and torch.equal(torch.rand(1), expected[2])
    assert np.array_equal(a, augment(im, aug_transforms(p_affine=1.0, p_lighting=1.0), seed=3))
    assert not np.array_equal(a, augment(im, aug_transforms(p_affine=1.0, p_lighting=1.0), seed=4))


def test_widget_uses_the_one_pad_modes_list():
    assert cu.PAD_MODES == ("zeros", "border", "reflection")
    e = AugmentationExplorer(images=gallery_digits(2), draws=1)
    assert tuple(e.pad.options) == cu.PAD_MODES and e.pad.value == "reflection"
    with pytest.raises(ValueError, match=r"\('zeros', 'border', 'reflection'\)"):
        AugmentationExplorer(pad_mode="mirror")
    assert e.set(pad_mode="border")["pad_mode"] == "border" and "pad_mode='border'" in e.call()
    assert l06.SLIDERS.keys() | l06.FLAGS.keys() == AUG_DEFAULTS.keys() - {"min_zoom"}


@pytest.mark.parametrize("frozen", [False, True])
def test_skip_validation_trains_bit_for_bit_as_with_validation(frozen):
    """The lesson trains augmented runs with cu.SkipValidation: same weights as validating after every epoch."""
    def weights(cbs):
        cu.seed_everything(0)
        learn = vision_learner(cu.tier_dls(1, seed=0, batch_tfms=digit_safe_tfms()), cu.mini_resnet, metrics=accuracy)
        with learn.no_bar(), learn.no_logging():
            if frozen:
                learn.freeze()
                learn.fit_one_cycle(2, 1e-3, cbs=cbs)
            else:
                learn.fine_tune(1, base_lr=1e-3, cbs=cbs)
        return [p.detach().clone() for p in learn.model.parameters()], learn.validate()[1]
    (skipped, acc_s), (validated, acc_v) = weights([cu.SkipValidation()]), weights([])
    assert all(torch.equal(a, b) for a, b in zip(skipped, validated)) and acc_s == acc_v
