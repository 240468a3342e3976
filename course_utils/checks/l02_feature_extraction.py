"""Checks for lesson 02's exercises: features per image, extracting features, a linear probe."""
import numpy as np
import torch

from . import NOT_ANSWERED, check_choice, check_mean_spread  # noqa: F401  (re-exported for the lesson)
from . import unanswered as _unanswered
from . import verdict as _verdict


def body_output_shape(body, image_size):
    """``(C, H, W)`` of ``body``'s output for one ``image_size`` x ``image_size`` RGB image."""
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    was_training = body.training
    param = next(body.parameters())
    try:
        body.eval()
        with torch.no_grad():
            out = body(torch.zeros(1, 3, *size, dtype=param.dtype, device=param.device))
    finally:
        body.train(was_training)
    return tuple(int(d) for d in out.shape[1:])


def _as_array(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def check_feature_count(answer, body, image_size, pooling="avg", n_classes=None):
    """Exercise: how many numbers describe one image after the body and ``pooling``?"""
    if pooling not in ("avg", "concat"):
        raise ValueError(f"pooling must be 'avg' or 'concat', got {pooling!r}")
    if _unanswered(answer, "a whole number"):
        return NOT_ANSWERED
    c, h, w = body_output_shape(body, image_size)
    right = c if pooling == "avg" else 2 * c
    what = "global average pooling" if pooling == "avg" else "fastai's concat pooling (max and average)"
    try:
        n = int(answer)
    except (TypeError, ValueError):
        return _verdict(False, "", f"answer must be a whole number, got {answer!r}")
    if n == right:
        return _verdict(True, f"{right} features per image: the body outputs {c} channels of {h}x{w}, "
                              f"and {what} keeps {'one' if pooling == 'avg' else 'two'} number"
                              f"{'' if pooling == 'avg' else 's'} per channel", "")
    hints = {c * h * w: f"{n} = {c}x{h}x{w} is the whole feature map before pooling; pooling keeps one "
                        f"number per channel{' (two with concat pooling)' if pooling == 'concat' else ''}",
             2 * c: "that is fastai's concat pooling (max and average side by side); average pooling alone "
                    "keeps one number per channel",
             c: "that is one number per channel (average pooling); fastai's head concatenates max and "
                "average pooling, so it gets two per channel"}
    if n_classes is not None:
        hints.setdefault(int(n_classes), f"{n} is the number of classes: the head's output, not the features it reads")
    hint = hints.get(n, f"{n} is not it: look at the body's output shape (channels x height x width) "
                        f"and what {what} does to it")
    return _verdict(False, "", hint)


def check_extracted_features(answer, reference, n_classes=None, body="the fine-tuned body (learn_ft.model[0])",
                             items="dls.test_items"):
    """Exercise: the pooled features of ``items``, one row per image, from ``body`` (named in the hints)."""
    if _unanswered(answer, "an (N, C) array or tensor of pooled body features"):
        return NOT_ANSWERED
    try:
        a = _as_array(answer).astype(np.float64)
    except (TypeError, ValueError):
        return _verdict(False, "", f"answer must be an array or tensor of numbers, got {type(answer).__name__}")
    ref = np.asarray(reference, dtype=np.float64)
    n, c = ref.shape
    if a.ndim == 4:
        return _verdict(False, "", f"shape {a.shape} is the raw feature maps (N, C, H, W): average over the "
                                   f"last two axes (global average pooling) to get ({n}, {c})")
    if a.ndim != 2:
        return _verdict(False, "", f"expected a 2-D array (images x features), got shape {a.shape}")
    if a.shape[0] != n:
        return _verdict(False, "", f"{a.shape[0]} rows, but there are {n} images: one row per image, "
                                   f"in the order of {items}")
    if a.shape[1] == 2 * c:
        return _verdict(False, "", f"{a.shape[1]} features per image is concat pooling (max and average); "
                                   f"use average pooling only: {c}")
    if n_classes is not None and a.shape[1] == n_classes:
        return _verdict(False, "", f"{a.shape[1]} columns look like class scores: that is the whole model "
                                   f"(body and head); run the body only (learn.model[0])")
    if a.shape[1] != c:
        return _verdict(False, "", f"expected {c} features per image, got {a.shape[1]}")
    if np.all(a >= 0) and np.allclose(a.sum(1), 1, atol=1e-3):
        return _verdict(False, "", "every row sums to 1: get_preds applied a softmax; pass act=noop so the "
                                   "features come back untouched")
    if np.allclose(a, ref, rtol=1e-3, atol=1e-4):
        return _verdict(True, f"({n}, {c}) features that match the lesson's own extraction", "")
    diff = float(np.abs(a - ref).max())
    return _verdict(False, "", f"the shape is right but the values differ (largest difference {diff:.3g}): "
                               f"run {body} in eval mode, as get_preds does, on {items} in order")


def _final_estimator(model):
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def check_linear_probe(answer, test_features, test_labels, reference_accuracy=None, min_accuracy=0.5):
    """Exercise: a fitted scikit-learn linear classifier on the pooled training features (C chosen on validation)."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if _unanswered(answer, "a fitted scikit-learn classifier, e.g. cu.fit_linear_probe(X, y, valid_x, valid_y)"):
        return NOT_ANSWERED
    if not hasattr(answer, "predict") or not hasattr(answer, "fit"):
        return _verdict(False, "", f"expected a scikit-learn classifier, got {type(answer).__name__}")
    try:
        check_is_fitted(answer)
    except NotFittedError:
        return _verdict(False, "", "the classifier is not fitted yet: call .fit(train_features, train_labels)")
    final = _final_estimator(answer)
    if not hasattr(final, "coef_"):
        return _verdict(False, "", f"{type(final).__name__} is not a linear classifier; a linear probe is one "
                                   f"linear layer on the features: use LogisticRegression")
    x = _as_array(test_features)
    n_in = getattr(answer, "n_features_in_", None)
    if n_in is not None and n_in != x.shape[1]:
        return _verdict(False, "", f"the probe was fitted on {n_in} features per image but the test features "
                                   f"have {x.shape[1]}: extract both the same way (pooled body features)")
    acc = float(answer.score(x, _as_array(test_labels)))
    if reference_accuracy is not None and acc > reference_accuracy + 0.1:
        return _verdict(False, "", f"test accuracy {acc:.3f} is far above what a probe on the training set "
                                   f"reaches ({reference_accuracy:.3f}): was it fitted on the test features? "
                                   f"Fit on the few-shot training features only (validation features choose C)")
    return _verdict(acc >= min_accuracy, f"a linear probe with {acc:.3f} test accuracy",
                    f"test accuracy is only {acc:.3f}: fit on the training features and their labels "
                    f"(standardise them first and choose C on the validation features, as cu.fit_linear_probe does)")
