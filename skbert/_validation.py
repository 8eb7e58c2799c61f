"""Held-out rows scored during training, and early stopping on their score.

The held-out texts are embedded by the fit's :class:`~skbert._embedder.Embedder`, as
``transform`` would embed them, and scored with the data's measure: Spearman's correlation
between cosine similarity and gold scores for scored pairs (what ``score`` returns), else
the objective's mean loss over batches drawn once, so every evaluation sees the same rows.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ._batching import Batch, epoch_batches
from ._inputs import TextColumns
from ._metrics import pair_cosine, spearman
from ._training_set import TrainingSet, training_set

if TYPE_CHECKING:
    from ._embedder import Embedder
    from ._plan import FitPlan


@dataclass(frozen=True)
class ValidationSet:
    """Held-out texts, and the batches (rows and targets) scored on them.

    ``metric`` is ``"spearman"`` (one batch of pairs with their raw gold scores; higher is
    better) or ``"loss"`` (the objective's batches; lower is better).
    """

    texts: list[str]
    metric: str
    batches: tuple[Batch, ...]

    @property
    def record_name(self) -> str:
        """Key of the value in the history records."""
        return "validation_score" if self.metric == "spearman" else "validation_loss"


def validation_set(
    plan: FitPlan, X: TextColumns, y: np.ndarray | None, training: TrainingSet
) -> ValidationSet:
    """Encode the held-out rows ``(X, y)`` as ``training`` was (scored pairs keep raw scores)."""
    if plan.validation_metric == "spearman":
        assert y is not None
        texts, index = X.flat()
        return ValidationSet(texts, "spearman", (Batch(index, np.asarray(y, np.float64)),))
    held = training_set(
        plan.objective,
        X,
        y,
        score_range=plan.score_range,
        classes=training.classes,
        warn=False,
    )
    lengths = np.ones(len(held.texts), dtype=np.int64)
    batches = epoch_batches(held, plan, lengths, np.random.default_rng([plan.seed, 1]))
    return ValidationSet(held.texts, "loss", tuple(batches))


def evaluate(
    embedder: Embedder,
    loss_fn: nn.Module,
    validation: ValidationSet,
    *,
    batch_size: int,
    precision: str,
) -> tuple[float, str | None]:
    """Score the held-out rows with the encoder in evaluation mode (no dropout).

    Returns
    -------
    value : float
        Spearman's correlation, or the mean loss; NaN when undefined.
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
        total = 0.0
        with torch.inference_mode():
            for batch in validation.batches:
                columns = [
                    torch.from_numpy(embeddings[batch.index[:, c]]).to(embedder.device)
                    for c in range(batch.index.shape[1])
                ]
                target = [] if batch.target is None else [torch.from_numpy(batch.target)]
                loss = loss_fn(*columns, *(t.to(embedder.device) for t in target))
                total += loss.item() * len(batch)
        value = total / sum(len(batch) for batch in validation.batches)
        if not math.isfinite(value):
            return math.nan, "the objective's loss on the held-out rows is not finite"
        return value, None
    finally:
        encoder.train(was_training)
        loss_fn.train(was_training)


class EarlyStopping:
    """Counts evaluations without improvement and keeps a CPU copy of the best weights.

    Parameters
    ----------
    validation : ValidationSet
        What is scored; its metric says whether higher or lower is better.
    n_iter_no_change : int
        Stop after this many evaluations in a row that do not improve on the best value by
        more than ``tol``.
    tol : float
        Smallest change that counts as an improvement.
    """

    def __init__(self, validation: ValidationSet, n_iter_no_change: int, tol: float) -> None:
        self.validation = validation
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.sign = -1.0 if validation.metric == "spearman" else 1.0  # compare as "lower wins"
        self.best = math.inf
        self.state: dict[str, torch.Tensor] | None = None
        self.no_improvement = 0

    def update(self, value: float, reason: str | None, encoder: nn.Module, when: str) -> bool:
        """Record the value measured ``when``; return whether training should stop.

        A NaN never counts as an improvement; a warning says why it happened.
        """
        if not math.isfinite(value):
            warnings.warn(
                f"The {self.validation.record_name.replace('_', ' ')} {when} is undefined "
                f"(NaN): {reason}. It does not count as an improvement.",
                UserWarning,
                stacklevel=4,
            )
            self.no_improvement += 1
            return self.no_improvement >= self.n_iter_no_change
        signed = self.sign * value
        self.no_improvement = 0 if signed < self.best - self.tol else self.no_improvement + 1
        if signed < self.best:
            self.best = signed
            self.state = {
                k: t.detach().to("cpu", copy=True) for k, t in encoder.state_dict().items()
            }
        return self.no_improvement >= self.n_iter_no_change

    def restore(self, encoder: nn.Module) -> None:
        """Load the best weights seen back into ``encoder``."""
        if self.state is not None:
            encoder.load_state_dict(self.state)
