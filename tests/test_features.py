"""Lesson 02's plumbing: body features, few-shot tables, plots, the explorer widget and the checks."""
import html

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from fastai.vision.all import accuracy, create_body, model_meta, vision_learner  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import course_utils as cu  # noqa: E402
from course_utils import LabelsPerClassExplorer as FewShotExplorer  # noqa: E402
from course_utils import digits_dls, max_labels_per_class, mini_resnet, seed_everything  # noqa: E402
from course_utils.checks import l02_feature_extraction as checks  # noqa: E402
from course_utils.lessons import l02_feature_extraction as ep  # noqa: E402
from course_utils.lessons import l02_feature_extraction as F  # noqa: E402


@pytest.fixture(scope="module")
def dls():
    return digits_dls(2, seed=0)


@pytest.fixture(scope="module")
def body():
    return create_body(mini_resnet(pretrained=True), cut=model_meta[mini_resnet]["cut"])


@pytest.fixture(scope="module")
def test_feats(body, dls):
    return F.body_features(body, dls)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ---- labels per class -------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 5, 20, np.int64(3)])
def test_check_labels_per_class_accepts(k):
    assert cu.check_labels_per_class(k, 20) == int(k)


@pytest.mark.parametrize("bad, msg", [(0, "1 <= k <= 20, got 0"), (21, "fewest labelled images"),
                                      (-3, "1 <= k <= 20, got -3"), (2.5, "whole number"), ("3", "got '3'"),
                                      (True, "got True"), (None, "got None")])
def test_check_labels_per_class_refuses(bad, msg):
    with pytest.raises(ValueError, match=msg):
        cu.check_labels_per_class(bad, 20)


def test_tier_max_labels_per_class_is_the_digits_pool():
    assert cu.tier_max_labels_per_class() == max_labels_per_class() >= 50


def test_tier_max_labels_per_class_full_tier_counts_the_training_split(tmp_path, monkeypatch):
    from course_utils import config
    from course_utils import folders as full_tier
    for breed, n in {"Bengal": 20, "pug": 20, "beagle": 6}.items():
        for i in range(n):
            (tmp_path / f"{breed}_{i}.jpg").write_bytes(b"")    # only the names matter here
    monkeypatch.setattr(full_tier, "pets_path", lambda *a, **kw: tmp_path)
    monkeypatch.setattr(config, "_mode", "full")
    k_max = cu.tier_max_labels_per_class()
    assert 1 <= k_max <= 6                                     # the smallest breed, minus its validation share


# ---- feature extraction -----------------------------------------------------------------------

def test_body_features_shape_order_and_eval_mode(body, dls, test_feats):
    feats, labels = test_feats                      # by default the validation split (every choice is made on it)
    assert feats.shape == (cu.N_VALID, 128) and feats.dtype == np.float32
    assert labels.tolist() == [int(dls.vocab[int(y)]) for _, y in dls.valid_ds]   # dataset order
    maps, _ = F.body_features(body, dls, pool=False)
    assert maps.shape == (cu.N_VALID, 128, 2, 2)
    np.testing.assert_allclose(F.avg_pool(maps), feats, rtol=1e-5, atol=1e-6)
    # eval mode: running the body directly in eval mode gives the same numbers
    xb, _ = dls.one_batch()
    body.eval()
    with torch.no_grad():
        direct = body(dls.valid.one_batch()[0][:5]).mean((2, 3)).numpy()
    np.testing.assert_allclose(direct, feats[:5], rtol=1e-4, atol=1e-5)


def test_body_features_of_training_items(body, dls):
    feats, labels = F.body_features(body, dls, items=dls.train_ds.items)
    assert feats.shape == (20, 128) and sorted(np.bincount(labels).tolist()) == [2] * 10


def test_body_features_of_the_test_split(body, dls):
    feats, labels = F.body_features(body, dls, items=dls.test_items)
    assert feats.shape == (cu.N_TEST, 128) and np.bincount(labels).min() >= 45   # the fixed, stratified test split


def test_body_features_refuses_no_items(body, dls):
    with pytest.raises(ValueError, match="at least one item"):
        F.body_features(body, dls, items=[])


def test_avg_pool_shapes():
    assert F.avg_pool(torch.ones(3, 4, 2, 2)).shape == (3, 4)
    assert F.avg_pool(np.ones((3, 4))).shape == (3, 4)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        F.avg_pool(np.ones(3))


def test_no_validation_skips_every_validation_pass(dls):
    from fastai.callback.core import Callback

    class CountValidBatches(Callback):
        n = 0

        def after_batch(self):
            if not self.training:
                CountValidBatches.n += 1

    seed_everything(0)
    learn = vision_learner(dls, mini_resnet, metrics=accuracy, cbs=CountValidBatches())
    with learn.no_bar(), learn.no_logging():
        learn.fine_tune(1, base_lr=1e-2, cbs=cu.SkipValidation())
    assert CountValidBatches.n == 0                 # no validation batch ran during fine_tune
    with learn.no_bar():
        loss, acc = learn.validate()                # the final validation still works
    assert CountValidBatches.n == 2 and 0 <= acc <= 1   # 300 validation images at val_bs=256


# ---- few-shot table and paired differences ----------------------------------------------------

ROWS = [(s, k, seed, acc) for s, accs in {"probe": {1: [.5, .6, .7], 10: [.80, .82, .84], 50: [.90, .90, .90]},
                                          "ft": {1: [.3, .4, .5], 10: [.85, .86, .87], 50: [.95, .96, .97]}}.items()
        for k, vals in accs.items() for seed, acc in enumerate(vals)]


def test_few_shot_table_mean_sd_and_order():
    t = F.few_shot_table(ROWS)
    assert list(t.index.get_level_values("strategy").unique()) == ["probe", "ft"]
    assert t.loc[("probe", 1), "mean"] == pytest.approx(0.6)
    assert t.loc[("probe", 1), "sd"] == pytest.approx(0.1)
    assert t.loc[("probe", 50), "sd"] == pytest.approx(0.0) and t.loc[("ft", 10), "n"] == 3
    assert t.loc[("probe", 1), "ci"] == pytest.approx(4.303 * 0.1 / np.sqrt(3), abs=1e-3)   # t(2) = 4.303
    assert F.few_shot_table(pd.DataFrame(ROWS, columns=F.RESULT_COLUMNS)).equals(t)


def test_few_shot_table_one_seed_has_zero_sd():
    t = F.few_shot_table([("a", 1, 0, 0.5)])
    assert t.loc[("a", 1), "sd"] == 0.0 and t.loc[("a", 1), "n"] == 1 and t.loc[("a", 1), "ci"] == 0.0


def test_few_shot_table_refuses_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        F.few_shot_table([])
    with pytest.raises(ValueError, match="missing"):
        F.few_shot_table(pd.DataFrame({"strategy": ["a"], "accuracy": [1.0]}))


def test_paired_by_k_pairs_by_seed():
    by_k = F.paired_by_k(ROWS, "ft", "probe")
    assert sorted(by_k) == [1, 10, 50]
    assert [by_k[1].mean, by_k[1].lo, by_k[1].hi] == pytest.approx([-0.2] * 3)   # the same gap on every seed
    assert by_k[1].verdict == "probe better" and by_k[50].verdict == "ft better"
    assert by_k[10].mean == pytest.approx(0.04) and by_k[10].n == 3
    shuffled = pd.DataFrame(ROWS[::-1], columns=F.RESULT_COLUMNS)        # row order does not matter, seeds pair
    assert F.paired_by_k(shuffled, "ft", "probe")[10].mean == pytest.approx(0.04)
    with pytest.raises(ValueError, match="unknown strategy"):
        F.paired_by_k(ROWS, "probe", "nope")
    with pytest.raises(ValueError, match="at least two seeds"):
        F.paired_by_k([("a", 1, 0, .5), ("b", 1, 0, .6)], "a", "b")


def test_head_accuracy_keeps_mode():
    head = torch.nn.Linear(2, 2)
    with torch.no_grad():
        head.weight.copy_(torch.eye(2))
        head.bias.zero_()
    head.train()
    x, y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 2.0]]), np.array([0, 1, 1, 1])
    assert F.head_accuracy(head, x, y) == pytest.approx(0.75) and head.training


# ---- plots ------------------------------------------------------------------------------------

def test_embed_2d_pca_and_tsne(test_feats):
    feats, _ = test_feats
    for m in ("pca", "tsne", "PCA"):
        xy = ep.embed_2d(feats[:60], m, seed=0)
        assert xy.shape == (60, 2) and np.isfinite(xy).all()
    np.testing.assert_allclose(ep.embed_2d(feats[:60], "pca"), ep.embed_2d(feats[:60], "pca"))
    assert ep.embed_2d(feats[:5], "tsne").shape == (5, 2)   # perplexity clipped for tiny N


@pytest.mark.parametrize("bad", [np.ones((10, 2, 2, 2)), np.ones(10), np.ones((2, 5)), np.ones((10, 1))])
def test_embed_2d_refuses_bad_shapes(bad):
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        ep.embed_2d(bad)


def test_embed_2d_refuses_unknown_method(test_feats):
    with pytest.raises(ValueError, match="unknown method"):
        ep.embed_2d(test_feats[0], "umap")


def test_plot_embedding_grid(test_feats):
    feats, labels = test_feats
    fig = ep.plot_embedding_grid({"before": feats[:80], "after": feats[:80] * 2}, labels[:80],
                                 methods=("pca",), class_names=[str(d) for d in range(10)])
    assert len(fig.axes) == 2 and fig.axes[0].get_title() == "before: PCA"
    with pytest.raises(ValueError, match="labels"):
        ep.plot_embedding_grid({"x": feats[:80]}, labels[:79])
    with pytest.raises(ValueError, match="at least one"):
        ep.plot_embedding_grid({}, labels)
    with pytest.raises(ValueError, match="unknown method"):
        ep.plot_embedding_grid({"x": feats[:80]}, labels[:80], methods=("umap",))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        ep.plot_embedding(feats[:10], labels[:10])


def test_plot_few_shot_curve():
    fig = ep.plot_few_shot_curve(F.few_shot_table(ROWS), title="t")
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and len(ax.containers) == 2 and ax.get_xscale() == "log"   # one error bar per strategy
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "10", "50"]
    assert "n=3 seeds" in ax.get_legend().get_texts()[0].get_text() and "95% CI" in ax.get_ylabel()
    fig = ep.plot_few_shot_curve(F.few_shot_table(ROWS), {"ft − probe": F.paired_by_k(ROWS, "ft", "probe")})
    right = fig.axes[1]
    assert len(fig.axes) == 2 and len(right.containers) == 1 and right.get_xscale() == "log"
    with pytest.raises(ValueError, match="non-empty"):
        ep.plot_few_shot_curve(F.few_shot_table(ROWS).iloc[:0])


# ---- widget -----------------------------------------------------------------------------------

def _fake_train(calls):
    def train(k, strategy):
        calls.append((k, strategy))
        return {"probe": 0.5, "ft": 0.25}[strategy] + k / 100
    return train


def test_explorer_runs_keeps_results_and_plots():
    calls = []
    ex = FewShotExplorer(_fake_train(calls), ["probe", "ft"], k_max=50, k=5)
    ex.button.click()                         # slider 5, first strategy
    ex.run(10, "all")
    ex.picker.value = "ft"
    ex.slider.value = 2
    ex.button.click()
    assert calls == [(5, "probe"), (10, "probe"), (10, "ft"), (2, "ft")]
    assert ex.results["accuracy"].tolist() == [0.55, 0.6, 0.35, 0.27]
    assert ex.summary().loc[10, "ft"] == pytest.approx(0.35)
    assert not ex.button.disabled and "Done" in ex.status.value
    assert len(ex.plot().get_lines()) == 2


@pytest.mark.parametrize("bad, msg", [(0, "1 <= k <= 50"), (51, "1 <= k <= 50"), (2.5, "whole number"),
                                      ("3", "whole number"), (True, "whole number")])
def test_explorer_refuses_bad_k_before_training(bad, msg):
    calls = []
    ex = FewShotExplorer(_fake_train(calls), ["probe", "ft"], k_max=50)
    ex.run(3, "probe")
    with pytest.raises(ValueError, match=msg):
        ex.run(bad, "probe")
    assert calls == [(3, "probe")] and len(ex.results) == 1 and html.escape(msg) in ex.status.value


def test_explorer_default_k_fits_a_small_k_max():
    assert FewShotExplorer(lambda k, s: 0.5, ["probe"], k_max=50).slider.value == 10
    assert FewShotExplorer(lambda k, s: 0.5, ["probe"], k_max=5).slider.value == 5


def test_explorer_refuses_unknown_strategy():
    calls = []
    ex = FewShotExplorer(_fake_train(calls), ["probe", "ft"], k_max=50)
    with pytest.raises(ValueError, match="unknown strategy"):
        ex.run(3, "scratch")
    assert calls == [] and "unknown strategy" in ex.status.value


def test_explorer_survives_a_failing_run():
    def boom(k, strategy):
        raise RuntimeError("training failed")
    ex = FewShotExplorer(boom, ["probe"], k_max=5)
    with pytest.raises(RuntimeError):
        ex.run(2, "probe")
    assert not ex.button.disabled and "Run failed" in ex.status.value and ex.results.empty


@pytest.mark.parametrize("kwargs, msg", [(dict(train_fn="x"), "train_fn"), (dict(strategies=[]), "strategies"),
                                         (dict(strategies=["all"]), "reserved"), (dict(k=0), "1 <= k <= 50"),
                                         (dict(k=51), "1 <= k <= 50")])
def test_explorer_refuses_bad_construction(kwargs, msg):
    args = dict(train_fn=lambda k, s: 0.5, strategies=["probe"], k_max=50) | kwargs
    with pytest.raises(ValueError, match=msg):
        FewShotExplorer(**args)


# ---- checks -----------------------------------------------------------------------------------

def test_body_output_shape_keeps_mode_and_rng(body):
    body.train()
    state = torch.get_rng_state()
    assert checks.body_output_shape(body, 32) == (128, 2, 2)
    assert body.training and torch.equal(state, torch.get_rng_state())


def test_check_feature_count(body, capsys):
    assert checks.check_feature_count(128, body, 32)
    assert checks.check_feature_count(256, body, 32, pooling="concat")
    assert not checks.check_feature_count(512, body, 32)
    assert not checks.check_feature_count(256, body, 32)
    assert not checks.check_feature_count(128, body, 32, pooling="concat")
    assert not checks.check_feature_count(10, body, 32, n_classes=10)
    assert not checks.check_feature_count(7, body, 32)
    assert not checks.check_feature_count("many", body, 32)
    assert not checks.check_feature_count(..., body, 32)
    out = capsys.readouterr().out
    for hint in ("before pooling", "concat pooling", "two per channel", "number of classes", "whole number",
                 "not answered yet"):
        assert hint in out
    with pytest.raises(ValueError, match="pooling"):
        checks.check_feature_count(1, body, 32, pooling="max")


def test_check_extracted_features(body, dls, test_feats, capsys):
    feats, _ = test_feats
    maps, _ = F.body_features(body, dls, pool=False)
    assert checks.check_extracted_features(feats, feats)
    assert checks.check_extracted_features(torch.tensor(feats), feats)
    assert not checks.check_extracted_features(maps, feats)
    assert not checks.check_extracted_features(feats[:10], feats)
    assert not checks.check_extracted_features(np.concatenate([feats, feats], 1), feats)
    assert not checks.check_extracted_features(np.full((cu.N_VALID, 10), 0.1), feats, n_classes=10)
    assert not checks.check_extracted_features(torch.softmax(torch.tensor(feats), 1), feats)
    assert not checks.check_extracted_features(feats + 0.5, feats)
    assert not checks.check_extracted_features(..., feats)
    out = capsys.readouterr().out
    for hint in ("raw feature maps", f"{cu.N_VALID} images", "concat pooling", "class scores", "act=noop",
                 "values differ", "the fine-tuned body (learn_ft.model[0])", "order of dls.test_items",
                 "not answered yet"):
        assert hint in out
    assert "pretrained body" not in out         # the exercise asks for the fine-tuned body, the hint must agree
    assert not checks.check_extracted_features(feats + 0.5, feats, body="the pretrained body", items="X")
    assert "run the pretrained body in eval mode" in capsys.readouterr().out


def test_check_linear_probe(test_feats, capsys):
    feats, labels = test_feats
    train, test = np.arange(0, len(feats), 2), np.arange(1, len(feats), 2)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(feats[train], labels[train])
    ref = probe.score(feats[test], labels[test])
    assert checks.check_linear_probe(probe, feats[test], labels[test], reference_accuracy=ref)
    fitted = cu.fit_linear_probe(feats[train[:100]], labels[train[:100]], feats[train[100:]], labels[train[100:]])
    assert checks.check_linear_probe(fitted, feats[test], labels[test], reference_accuracy=ref)
    assert not checks.check_linear_probe(LogisticRegression(), feats[test], labels[test])
    assert not checks.check_linear_probe(KNeighborsClassifier().fit(feats[train], labels[train]),
                                         feats[test], labels[test])
    assert not checks.check_linear_probe(LogisticRegression(max_iter=1000).fit(feats[train, :10], labels[train]),
                                         feats[test], labels[test])
    cheat = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(feats[test], labels[test])
    assert not checks.check_linear_probe(cheat, feats[test], labels[test], reference_accuracy=ref - 0.2)
    shuffled = LogisticRegression(max_iter=1000).fit(feats[train], np.random.default_rng(0).permutation(labels[train]))
    assert not checks.check_linear_probe(shuffled, feats[test], labels[test])
    assert not checks.check_linear_probe("probe", feats[test], labels[test])
    assert not checks.check_linear_probe(..., feats[test], labels[test])
    out = capsys.readouterr().out
    for hint in ("not fitted", "not a linear classifier", "fitted on 10 features", "test features?",
                 "only", "scikit-learn classifier", "not answered yet"):
        assert hint in out


def test_checks_return_verdicts_that_display_nothing(body, test_feats):
    from course_utils.checks import Verdict
    feats, labels = test_feats
    for v in (checks.check_feature_count(..., body, 32), checks.check_feature_count(128, body, 32),
              checks.check_extracted_features(feats, feats), checks.check_linear_probe(..., feats, labels)):
        assert isinstance(v, Verdict)
