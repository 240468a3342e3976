"""Checks for lesson 09's exercises: BitFit's and LoRA's trainable parameters, a layer-wise decay as a slice."""
import math

from torch import nn

from . import NOT_ANSWERED, check_choice  # noqa: F401  (re-exported for the lesson)
from . import unanswered as _unanswered
from . import verdict as _verdict


def _as_count(answer):
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) or not math.isfinite(answer) or answer < 0:
        return None
    return int(answer) if float(answer).is_integer() else None


def bitfit_count(model):
    """The parameters BitFit trains in ``model``: every bias of the encoder, plus the whole new head."""
    enc = sum(p.numel() for n, p in model.encoder.named_parameters() if n.endswith("bias"))
    return enc + sum(p.numel() for p in model.head.parameters())


def lora_count(model, r, targets):
    """The parameters LoRA adds at rank ``r`` on the encoder's linear layers named ``targets``, plus the head:
    each ``d_in -> d_out`` layer gets ``A`` (``r x d_in``) and ``B`` (``d_out x r``)."""
    adds = sum(r * (m.in_features + m.out_features) for name, m in model.encoder.named_modules()
               if isinstance(m, nn.Linear) and name.rsplit(".", 1)[-1] in targets)
    return adds + sum(p.numel() for p in model.head.parameters())


def check_bitfit_count(answer, model):
    """Exercise: how many parameters BitFit trains (biases of the encoder + the head)."""
    if _unanswered(answer, "a whole number of parameters"):
        return NOT_ANSWERED
    n = _as_count(answer)
    if n is None:
        return _verdict(False, "", f"answer must be a whole number of parameters, got {answer!r}")
    truth = bitfit_count(model)
    head = sum(p.numel() for p in model.head.parameters())
    if n == truth - head:
        return _verdict(False, "", f"that counts the encoder's biases only; the new head ({head} parameters) "
                                   f"trains too, or the classifier could not learn the new task")
    all_bias = sum(p.numel() for n_, p in model.named_parameters() if n_.endswith("bias"))
    if n == all_bias:
        return _verdict(False, "", "that counts every bias (the head's too) but not the head's weight matrix")
    return _verdict(n == truth, f"{truth:,} parameters: {truth / sum(p.numel() for p in model.parameters()):.2%} "
                                f"of the model", f"{n:,} is off: sum p.numel() over the parameters whose name ends "
                                                  f"in 'bias', then add the head's weight and bias")


def check_lora_count(answer, model, r, targets):
    """Exercise: how many parameters LoRA trains at rank ``r`` on ``targets`` (plus the head)."""
    if _unanswered(answer, "a whole number of parameters"):
        return NOT_ANSWERED
    n = _as_count(answer)
    if n is None:
        return _verdict(False, "", f"answer must be a whole number of parameters, got {answer!r}")
    truth = lora_count(model, r, targets)
    head = sum(p.numel() for p in model.head.parameters())
    layers = [m for name, m in model.encoder.named_modules()
              if isinstance(m, nn.Linear) and name.rsplit(".", 1)[-1] in targets]
    if n == truth - head:
        return _verdict(False, "", f"that is the adapters alone; the new head ({head} parameters) is trained too")
    if layers and n == sum(r * m.in_features for m in layers) + head:
        return _verdict(False, "", "only A counted: each adapted layer gets A (r x d_in) and B (d_out x r)")
    return _verdict(n == truth, f"{truth:,}: {len(layers)} adapted layers x r x (d_in + d_out) + the head",
                    f"{n:,} is off: {len(layers)} layers match {list(targets)}; each adds r*(d_in + d_out)")


def check_decay_slice(answer, hi, n_groups, decay):
    """Exercise: the ``slice(lo, hi)`` whose per-group rates decay by ``decay`` from the head down."""
    if _unanswered(answer, "slice(lo, hi)"):
        return NOT_ANSWERED
    if not isinstance(answer, slice) or answer.start is None or answer.stop is None:
        return _verdict(False, "", f"answer must be a slice(lo, hi) with both ends, got {answer!r}")
    try:
        lo, top = float(answer.start), float(answer.stop)
    except (TypeError, ValueError):
        return _verdict(False, "", f"slice ends must be numbers, got {answer!r}")
    want = hi * decay ** (n_groups - 1)
    if not math.isclose(top, hi, rel_tol=1e-6):
        return _verdict(False, "", f"the head's rate (the slice's stop) should be {hi:g}, got {top!r}")
    if math.isclose(lo, hi * decay ** n_groups, rel_tol=1e-6):
        return _verdict(False, "", f"one step too many: {n_groups} groups have {n_groups - 1} steps between them")
    return _verdict(math.isclose(lo, want, rel_tol=1e-4),
                    f"slice({want:.3g}, {hi:g}): x{decay} per group, {n_groups - 1} steps, spread "
                    f"x{hi / want:.2f} from the embeddings to the head",
                    f"lo={lo:.3g} is off: the head at hi, each of the {n_groups - 1} groups below x{decay}")
