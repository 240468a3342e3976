import json

import pytest
import torch
from fastai.vision.all import accuracy, vision_learner

from course_utils import backbone
from course_utils.backbone import (REBUILD_COMMAND, load_checkpoint, mini_resnet, read_card,
                                   source_classifier)
from course_utils.data import digits_dls
from course_utils.data import make_source_data
from course_utils.data import to_tensor
from course_utils.config import seed_everything


@pytest.mark.parametrize("source", list(backbone.BACKBONES))
def test_shipped_weights_match_card_and_are_small(source):
    card = read_card(source=source)
    assert backbone.weights_path(source).stat().st_size <= 5 * 1024 * 1024
    assert backbone.sha256_of(backbone.weights_path(source)) == card["sha256"]
    for key in ("data_recipe", "seed", "epochs", "wall_time_s", "source_accuracy_heldout", "command", "source"):
        assert key in card
    assert card["source"] == source and card["data_recipe"]["classes"] == backbone.BACKBONES[source][1]
    assert set(load_checkpoint(source=source)) == set(mini_resnet(pretrained=False).state_dict())


def test_default_source_task_has_no_digits_and_the_second_backbone_has_them():
    assert not set("0123456789") & set(read_card()["data_recipe"]["classes"])
    assert set("0123456789") <= set(read_card(source="letters+digits")["data_recipe"]["classes"])
    assert mini_resnet()[7].out_features == 26 and backbone.mini_resnet_with_digits()[7].out_features == 36
    with pytest.raises(ValueError, match="unknown source task"):
        read_card(source="digits")


def test_missing_weights_name_file_and_rebuild_command(data_dir):
    (data_dir / backbone.WEIGHTS_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="mini_resnet_letters.pth.*make pretrain"):
        mini_resnet(pretrained=True)


def test_corrupt_weights_are_refused_by_checksum(data_dir):
    path = data_dir / backbone.WEIGHTS_FILE
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupt or changed.*make pretrain"):
        mini_resnet(pretrained=True)


def test_missing_or_broken_card(data_dir):
    card = data_dir / backbone.CARD_FILE
    card.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_checkpoint()
    card.unlink()
    with pytest.raises(FileNotFoundError, match="model card"):
        load_checkpoint()


def test_loading_is_weights_only(data_dir, monkeypatch):
    seen = {}
    real = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: seen.update(k) or real(*a, **k))
    load_checkpoint()
    assert seen.get("weights_only") is True
    assert REBUILD_COMMAND.startswith("make pretrain")


@pytest.fixture(scope="module")
def learn():
    return vision_learner(digits_dls(2, seed=0), mini_resnet, metrics=accuracy)


def trainable_groups(learn):
    """Per layer group: do its weights (not BatchNorm's, which train_bn keeps trainable) train?"""
    from course_utils import group_trains
    return group_trains(learn)


def test_fastai_builds_five_groups_and_freezes_the_body(learn):
    assert len(learn.opt.param_groups) == 5
    assert trainable_groups(learn) == [False, False, False, False, True]
    # the body keeps the pretrained weights
    sd = load_checkpoint()
    assert torch.equal(learn.model[0][0][0].weight, sd["0.0.weight"])


def test_freeze_to_and_unfreeze_behave_as_fastai_documents(learn):
    learn.freeze_to(-2)
    assert trainable_groups(learn) == [False, False, False, True, True]
    learn.freeze_to(1)
    assert trainable_groups(learn) == [False, True, True, True, True]
    learn.unfreeze()
    assert trainable_groups(learn) == [True] * 5
    learn.freeze()
    assert trainable_groups(learn) == [False, False, False, False, True]


def test_slice_gives_geometric_per_group_learning_rates(learn):
    learn.unfreeze()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(1, slice(1e-4, 1e-2))
    lrs = [h["lr"] for h in learn.opt.hypers]
    assert lrs == sorted(lrs) and lrs[-1] / lrs[0] > 50
    learn.freeze()


def test_lr_find_returns_suggestions():
    seed_everything(0)
    learn = vision_learner(digits_dls(10, seed=0), mini_resnet, metrics=accuracy)
    with learn.no_bar(), learn.no_logging():
        res = learn.lr_find(num_it=40, show_plot=False)
    assert 1e-5 < res.valley < 1


def test_normalization_stats_registered():
    from fastai.vision.all import model_meta
    for arch in (mini_resnet, backbone.mini_resnet_with_digits):
        meta = model_meta[arch]
        assert meta["cut"] == 5 and len(meta["stats"][0]) == 3


def test_source_classifier_reads_printed_characters():
    for source, (_, chars) in backbone.BACKBONES.items():
        x, y = make_source_data(3, seed=123, chars=chars)
        stats = read_card(source=source)["normalize_stats"]
        model = source_classifier(source=source)
        with torch.no_grad():
            acc = (model(to_tensor(x, stats)).argmax(1) == torch.from_numpy(y)).float().mean().item()
        assert acc > 0.8, source


def test_source_classifier_with_a_learner_body_does_not_touch_the_learner(learn):
    before = [p.clone() for p in learn.model[0].parameters()]
    clf = source_classifier(learn.model[0])
    assert clf(torch.zeros(2, 3, 32, 32)).shape == (2, 26)
    assert all(torch.equal(a, b) for a, b in zip(before, learn.model[0].parameters()))
    assert next(clf.parameters()) is not next(learn.model[0].parameters())
