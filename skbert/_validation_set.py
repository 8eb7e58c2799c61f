"""The validation rows a fit scores, built once when the fit is planned.

The rows are ``X_val`` or the held-out ``validation_fraction`` of ``X``, put in the form
their measure needs (:mod:`skbert._validation` scores them during training):

- scored pairs: one batch of pairs with their gold scores, for Spearman's correlation;
- labelled texts and labelled pairs: one batch of rows with their class codes, and at most
  2,048 training rows (every class kept) that the accuracy probe learns from;
- texts with label sets or real-valued targets: one batch of texts with their targets, and
  at most 2,048 training texts that a ridge probe learns from;
- anything else: the objective's batches, drawn once, for its mean loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._batching import Batch, Sampling, epoch_batches
from ._inputs import TextColumns
from ._training_set import TrainingSet, training_set
from .pairs import encode_labels

REFERENCE_ROWS = 2048  # training rows a probe learns from, at most
# The measures of a ridge probe: micro-F1 of its label sets, Spearman of its predictions.
PROBE_METRICS = ("micro_f1", "ridge_spearman")


@dataclass(frozen=True)
class ValidationSet:
    """Validation rows, and what they are scored with.

    ``texts`` is the pool every row indexes into. ``batches`` are the scored rows: the
    objective's batches for ``metric="loss"``; one batch of pairs with their gold scores for
    ``"spearman"``; one batch of texts or pairs with their class codes for ``"accuracy"``,
    whose probe learns from the training rows in ``reference``.
    """

    texts: list[str]
    metric: str
    batches: tuple[Batch, ...]
    reference: Batch | None = None

    @property
    def record_name(self) -> str:
        """Key of the value in the history records."""
        return "validation_loss" if self.metric == "loss" else "validation_score"

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger value is an improvement."""
        return self.metric != "loss"


def _reference_rows(labels: np.ndarray, seed: int) -> np.ndarray:
    """At most :data:`REFERENCE_ROWS` rows, every class kept, in proportion to its size."""
    if len(labels) <= REFERENCE_ROWS:
        return np.arange(len(labels))
    rng = np.random.default_rng([seed, 2])
    classes, counts = np.unique(labels, return_counts=True)
    rows = [
        rng.permutation(np.flatnonzero(labels == c))[: max(1, REFERENCE_ROWS * n // len(labels))]
        for c, n in zip(classes, counts, strict=True)
    ]
    return np.sort(np.concatenate(rows))


def _accuracy_set(
    X: TextColumns, y: np.ndarray, X_train: TextColumns, y_train: np.ndarray, seed: int
) -> ValidationSet:
    classes, train_codes = encode_labels(y_train)
    codes = encode_labels(y, classes)[1]
    probe = _reference_rows(train_codes, seed)
    texts, index = X.flat()
    probe_texts, probe_index = X_train.subset(probe).flat()
    return ValidationSet(
        texts + probe_texts,
        "accuracy",
        (Batch(index, codes),),
        Batch(probe_index + len(texts), train_codes[probe]),
    )


def _probe_set(
    metric: str,
    X: TextColumns,
    y: np.ndarray,
    X_train: TextColumns,
    y_train: np.ndarray,
    seed: int,
) -> ValidationSet:
    """Texts with label sets or real-valued targets, and the training texts of the probe."""
    probe = np.arange(len(y_train))
    if len(probe) > REFERENCE_ROWS:
        probe = np.sort(np.random.default_rng([seed, 2]).permutation(probe)[:REFERENCE_ROWS])
    texts, index = X.flat()
    probe_texts, probe_index = X_train.subset(probe).flat()
    as_float = np.float32 if y.ndim == 2 else np.float64
    return ValidationSet(
        texts + probe_texts,
        metric,
        (Batch(index, y.astype(as_float)),),
        Batch(probe_index + len(texts), y_train[probe].astype(as_float)),
    )


def validation_set(
    metric: str,
    X: TextColumns,
    y: np.ndarray | None,
    X_train: TextColumns,
    y_train: np.ndarray | None,
    training: TrainingSet,
    *,
    objective: str,
    sampling: Sampling,
    score_range: tuple[float, float] | None,
    seed: int,
) -> ValidationSet:
    """Encode the validation rows ``(X, y)`` to be scored with ``metric``.

    ``X_train`` and ``y_train`` are the training rows, which the accuracy probes learn from;
    ``training`` the training set, whose classes the loss reuses; ``objective``,
    ``sampling`` and ``score_range`` build the rows the loss is measured on, drawn once
    from ``seed``.
    """
    if metric == "spearman":
        assert y is not None
        texts, index = X.flat()
        return ValidationSet(texts, "spearman", (Batch(index, np.asarray(y, np.float64)),))
    if metric == "accuracy":
        assert y is not None and y_train is not None
        return _accuracy_set(X, y, X_train, y_train, seed)
    if metric in PROBE_METRICS:
        assert y is not None and y_train is not None
        return _probe_set(metric, X, y, X_train, y_train, seed)
    held = training_set(
        objective, X, y, score_range=score_range, classes=training.classes, warn=False
    )
    lengths = np.ones(len(held.texts), dtype=np.int64)
    batches = epoch_batches(held, sampling, lengths, np.random.default_rng([seed, 1]))
    return ValidationSet(held.texts, "loss", tuple(batches))
