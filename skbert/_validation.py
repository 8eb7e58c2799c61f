"""Scoring the validation rows during training, and early stopping on their score.

The rows (:mod:`skbert._validation_set`) are ``X_val`` or the held-out
``validation_fraction`` of ``X``. They are embedded by
the fit's :class:`~skbert._embedder.Embedder`, as ``transform`` would embed them, and scored
with the data's natural measure:

- scored pairs: Spearman's correlation between cosine similarity and the gold scores, what
  ``score`` returns (higher is better);
- labelled texts: the accuracy of the nearest class centroid, the centroids taken from at
  most 2,048 training texts (higher is better);
- labelled pairs: the accuracy of a logistic regression on the pair features
  ``[u, v, |u - v|]`` of at most 2,048 training pairs (higher is better);
- texts with label sets: the micro-F1 of a ridge regression of the 0/1 label rows,
  thresholded at 0.5, fitted on at most 2,048 training texts (higher is better);
- texts with real-valued targets: Spearman's correlation between the predictions of a ridge
  regression fitted on at most 2,048 training texts and the targets (higher is better);
- anything else: the objective's mean loss over batches drawn once (lower is better).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ._messages import warn
from ._metrics import pair_cosine, spearman
from ._pair_features import pair_features
from ._validation_set import PROBE_METRICS

if TYPE_CHECKING:
    from ._embedder import Embedder
    from ._validation_set import ValidationSet

_PROBE_PARTS = ("u", "v", "abs_diff")


def _accuracy(embeddings: np.ndarray, validation: ValidationSet, seed: int) -> float:
    (batch,) = validation.batches
    reference = validation.reference
    assert reference is not None
    if batch.index.shape[1] == 1:  # texts: the nearest class centroid, by cosine
        unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
        n_classes = int(max(reference.target.max(), batch.target.max())) + 1
        centroids = np.zeros((n_classes, unit.shape[1]))
        np.add.at(centroids, reference.target, unit[reference.index[:, 0]])
        predicted = np.argmax(unit[batch.index[:, 0]] @ centroids.T, axis=1)
        return float(np.mean(predicted == batch.target))
    from sklearn.linear_model import LogisticRegression

    def features(rows: np.ndarray) -> np.ndarray:
        u, v = (torch.from_numpy(embeddings[rows[:, c]]) for c in (0, 1))
        return pair_features(u, v, _PROBE_PARTS).numpy()

    probe = LogisticRegression(max_iter=1000, random_state=seed)
    probe.fit(features(reference.index), reference.target)
    return float(probe.score(features(batch.index), batch.target))


def _probe_score(embeddings: np.ndarray, validation: ValidationSet) -> tuple[float, str | None]:
    """Micro-F1 or Spearman of a ridge probe fitted on the reference texts."""
    from sklearn.linear_model import Ridge
    from sklearn.metrics import f1_score

    (batch,) = validation.batches
    reference = validation.reference
    assert reference is not None and batch.target is not None
    probe = Ridge(alpha=1.0).fit(embeddings[reference.index[:, 0]], reference.target)
    predicted = probe.predict(embeddings[batch.index[:, 0]])
    if validation.metric == "micro_f1":
        return float(
            f1_score(batch.target, predicted > 0.5, average="micro", zero_division=0)
        ), None
    return spearman(predicted, batch.target)


def _mean_loss(
    embeddings: np.ndarray, validation: ValidationSet, loss_fn: nn.Module, device: torch.device
) -> float:
    total = 0.0
    with torch.inference_mode():
        for batch in validation.batches:
            columns = [
                torch.from_numpy(embeddings[batch.index[:, c]]).to(device)
                for c in range(batch.index.shape[1])
            ]
            target = [] if batch.target is None else [torch.from_numpy(batch.target).to(device)]
            total += loss_fn(*columns, *target).item() * len(batch)
    return total / sum(len(batch) for batch in validation.batches)


def evaluate(
    embedder: Embedder,
    loss_fn: nn.Module,
    validation: ValidationSet,
    *,
    batch_size: int,
    precision: str,
    seed: int = 0,
) -> tuple[float, str | None]:
    """Score the validation rows with the encoder in evaluation mode (no dropout).

    Returns
    -------
    value : float
        Spearman's correlation, an accuracy, or the mean loss; NaN when undefined.
    reason : str or None
        Why ``value`` is NaN.
    """
    encoder = embedder.encoder
    was_training = encoder.training
    encoder.eval()
    loss_fn.eval()
    try:
        embeddings, _ = embedder.embed(
            validation.texts, batch_size=batch_size, precision=precision, use_cache=False
        )
        if validation.metric == "spearman":
            (batch,) = validation.batches
            u, v = embeddings[batch.index[:, 0]], embeddings[batch.index[:, 1]]
            return spearman(pair_cosine(u, v), batch.target)
        if validation.metric == "accuracy":
            return _accuracy(embeddings, validation, seed), None
        if validation.metric in PROBE_METRICS:
            return _probe_score(embeddings, validation)
        value = _mean_loss(embeddings, validation, loss_fn, embedder.device)
        if not math.isfinite(value):
            return math.nan, "the objective's loss on the validation rows is not finite"
        return value, None
    finally:
        encoder.train(was_training)
        loss_fn.train(was_training)


class EarlyStopping:
    """Tracks the validation values, the best one and its weights, and when to stop.

    Parameters
    ----------
    validation : ValidationSet
        What is scored; its metric says whether higher or lower is better.
    n_iter_no_change : int or None
        Stop after this many evaluations in a row that do not improve on the best value by
        more than ``tol``; None never stops (the values are only recorded).
    tol : float
        Smallest change that counts as an improvement.
    """

    def __init__(
        self, validation: ValidationSet, n_iter_no_change: int | None, tol: float
    ) -> None:
        self.validation = validation
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.sign = -1.0 if validation.higher_is_better else 1.0  # compare as "lower wins"
        self.best = math.inf
        self.best_step = -1
        self.state: dict[str, torch.Tensor] | None = None
        self.no_improvement = 0

    def update(
        self, value: float, reason: str | None, encoder: nn.Module, step: int, when: str
    ) -> bool:
        """Record the value measured after ``step`` steps; return whether to stop.

        A NaN never counts as an improvement; a warning says why it happened.
        """
        if not math.isfinite(value):
            warn(
                f"The {self.validation.record_name.replace('_', ' ')} {when} is undefined "
                f"(NaN): {reason}. It does not count as an improvement.",
                UserWarning,
            )
            self.no_improvement += 1
        else:
            signed = self.sign * value
            improved = signed < self.best - self.tol
            self.no_improvement = 0 if improved else self.no_improvement + 1
            if signed < self.best:
                self.best, self.best_step = signed, step
                if self.n_iter_no_change is not None:
                    self.state = {
                        k: t.detach().to("cpu", copy=True) for k, t in encoder.state_dict().items()
                    }
        return self.n_iter_no_change is not None and self.no_improvement >= self.n_iter_no_change

    def restore(self, encoder: nn.Module) -> None:
        """Load the best weights seen back into ``encoder``."""
        if self.state is not None:
            encoder.load_state_dict(self.state)

    def state_dict(self) -> dict:
        """Everything a resumed fit needs to go on deciding as this one would."""
        return {
            "best": self.best,
            "best_step": self.best_step,
            "no_improvement": self.no_improvement,
            "state": self.state,
        }

    def load_state_dict(self, state: dict) -> None:
        """Take up a state from :meth:`state_dict`."""
        self.best, self.best_step = state["best"], state["best_step"]
        self.no_improvement, self.state = state["no_improvement"], state["state"]
