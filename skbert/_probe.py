"""The softmax objective's head, started from a linear probe: linear probing, then fine-tuning.

A classifier with random weights predicts nothing, so the first hundreds of steps of the
softmax objective move the encoder towards wherever a random hyperplane separates the
classes, and the pretrained geometry, the cosine similarities the model was trained to
give, is lost. Fitting the head on the frozen pair features first (a logistic regression on
``[u, v, |u - v|]``), then fine-tuning everything ("linear probing then fine-tuning", Kumar
et al., ICLR 2022) starts the encoder's gradients from a classifier that already works, so
they refine the features instead of distorting them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from ._distributed import World
from ._pair_features import pair_features

if TYPE_CHECKING:
    from ._embedder import Embedder
    from ._training_set import TrainingSet
    from .losses import SoftmaxLoss

PROBE_C = 1.0  # inverse L2 strength of the probe
PROBE_MAX_ROWS = 20_000  # pairs the probe is fitted on at most, drawn with the plan's seed


def probe_rows(target: np.ndarray, n_classes: int, seed: int) -> np.ndarray:
    """Rows the probe fits on: all, or ``PROBE_MAX_ROWS`` drawn, keeping every class."""
    if len(target) <= PROBE_MAX_ROWS:
        return np.arange(len(target))
    rows = np.random.default_rng(seed).permutation(len(target))[:PROBE_MAX_ROWS]
    missing = np.setdiff1d(np.arange(n_classes), target[rows])
    firsts = [np.flatnonzero(target == c)[0] for c in missing]
    return np.sort(np.concatenate([rows, np.asarray(firsts, dtype=rows.dtype)]))


def copy_probe(classifier: nn.Linear, probe: LogisticRegression) -> None:
    """Set ``classifier``'s weights so that its softmax equals ``probe.predict_proba``.

    A binary probe has one row ``w`` and gives ``sigmoid(w x + b)``; logits
    ``[-(w x + b) / 2, (w x + b) / 2]`` give the same probabilities under a softmax.
    """
    coef, intercept = probe.coef_, probe.intercept_
    if len(coef) == 1:
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-0.5, 0.5]) * intercept
    with torch.no_grad():
        classifier.weight.copy_(torch.from_numpy(coef))
        classifier.bias.copy_(torch.from_numpy(intercept))


def probe_head(
    loss: SoftmaxLoss,
    embedder: Embedder,
    training: TrainingSet,
    *,
    batch_size: int,
    precision: str,
    seed: int,
) -> LogisticRegression:
    """Fit a logistic regression on the frozen pair features and copy it into the classifier.

    The training pairs (``training.index``, class indices in ``training.target``) are
    embedded once by ``embedder``'s encoder as it is (in eval mode), in ``batch_size`` and
    ``precision``, without the embedding cache; the features are ``loss.parts`` of them. A
    fit resumed from a checkpoint then loads the classifier it had reached.

    Returns
    -------
    probe : LogisticRegression
        The fitted probe, whose classes are ``0, ..., n_classes - 1``.
    """
    assert training.index is not None and training.target is not None
    classifier = loss.classifier
    rows = probe_rows(training.target, classifier.out_features, seed)
    index = training.index[rows]

    def fit() -> LogisticRegression:
        used, columns = np.unique(index, return_inverse=True)
        embeddings, _ = embedder.embed(
            [training.texts[i] for i in used],
            batch_size=batch_size,
            precision=precision,
            use_cache=False,
        )
        u, v = torch.from_numpy(embeddings)[columns.reshape(index.shape).T]
        probe = LogisticRegression(C=PROBE_C, max_iter=1000)
        return probe.fit(pair_features(u, v, loss.parts).numpy(), training.target[rows])

    # Every rank of a data-parallel fit starts from rank 0's probe: solvers may differ in
    # the last bits between processes, and fine-tuning would amplify the difference.
    probe = World.current().from_rank_0(fit)
    copy_probe(classifier, probe)
    return probe
