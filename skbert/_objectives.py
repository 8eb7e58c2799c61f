"""Which objective trains on which data, and turning ``(X, y)`` into its training set.

The data ``fit`` receives is one of these kinds:

================  ==========================================  ==================
kind              ``X`` and ``y``                             ``loss="auto"``
================  ==========================================  ==================
texts             1-D texts, no ``y``                         no fine-tuning
scored_pairs      ``(n, 2)`` pairs, real-valued scores        ``"cosine"``
labelled_pairs    ``(n, 2)`` pairs, class labels              ``"softmax"``
triplets          ``(n, 3)`` anchor, positive, negative       ``"triplet"``
================  ==========================================  ==================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from ._inputs import TextColumns, YKind
from .losses import CosineSimilarityLoss, SoftmaxLoss, TripletLoss

DATA_DESCRIPTIONS = {
    "texts": "texts without labels",
    "labelled_texts": "texts with class labels",
    "pairs": "pairs without labels",
    "scored_pairs": "pairs with real-valued scores",
    "labelled_pairs": "pairs with class labels",
    "triplets": "triplets (anchor, positive, negative) without labels",
}
# What ``y`` holds for each kind of data: what an objective defined on it accepts as target.
TARGET_KIND: dict[str, YKind | None] = {
    "texts": None,
    "labelled_texts": "labels",
    "pairs": None,
    "scored_pairs": "scores",
    "labelled_pairs": "labels",
    "triplets": None,
}

# The data each objective is defined on; the first kind is the one it is named for.
OBJECTIVE_DATA: dict[str, tuple[str, ...]] = {
    "softmax": ("labelled_pairs",),
    "cosine": ("scored_pairs",),
    "triplet": ("triplets",),
}
AUTO_LOSS: dict[str, str | None] = {
    "texts": None,
    "scored_pairs": "cosine",
    "labelled_pairs": "softmax",
    "triplets": "triplet",
}
DEFAULT_MARGIN = {"triplet": 1.0}
_SCORE_LOSSES = {"cosine"}


@dataclass(frozen=True)
class TrainingSet:
    """What one objective trains on: columns of texts and an optional per-row target.

    ``loss`` is ``None`` when there is nothing to train (feature extraction only).
    """

    loss: str | None
    columns: tuple[list[str], ...]
    target: np.ndarray | None = None
    classes: np.ndarray | None = None
    score_range: tuple[float, float] | None = None


def data_kind(X: TextColumns, y_kind: YKind | None) -> str:
    """Name the kind of training data ``(X, y)`` is, as in :data:`DATA_DESCRIPTIONS`."""
    if X.kind == "texts":
        if y_kind == "scores":
            raise ValueError(
                "fit got single texts with real-valued scores; scores describe pairs. Pass "
                "pairs X=[(a, b), ...] with their scores, or class labels for single texts."
            )
        return "labelled_texts" if y_kind else "texts"
    if X.kind == "triplets":
        if y_kind:
            raise ValueError(
                "fit got triplets with y; a triplet (anchor, positive, negative) carries its "
                "own supervision. Call fit(X) without y."
            )
        return "triplets"
    return {None: "pairs", "scores": "scored_pairs", "labels": "labelled_pairs"}[y_kind]


def _suggestion(kind: str) -> str:
    auto = AUTO_LOSS.get(kind)
    fitting = [name for name, kinds in OBJECTIVE_DATA.items() if kind in kinds]
    if not fitting:
        return f"No objective trains on {DATA_DESCRIPTIONS[kind]}."
    return f"For {DATA_DESCRIPTIONS[kind]}, use loss={auto or fitting[0]!r} (or 'auto')."


def resolve_loss(loss: str, kind: str) -> str | None:
    """Return the objective to train with: ``loss``, or the ``"auto"`` choice for ``kind``.

    Raises
    ------
    ValueError
        If the objective is not defined on this kind of data; the message says which data
        it expects and which loss fits the data given.
    """
    if loss == "auto":
        if kind not in AUTO_LOSS:
            raise ValueError(f"loss='auto' has no objective for {DATA_DESCRIPTIONS[kind]}.")
        return AUTO_LOSS[kind]
    if kind not in OBJECTIVE_DATA[loss]:
        expected = " or ".join(DATA_DESCRIPTIONS[k] for k in OBJECTIVE_DATA[loss])
        raise ValueError(
            f"loss={loss!r} trains on {expected}, but fit got {DATA_DESCRIPTIONS[kind]}. "
            + _suggestion(kind)
        )
    return loss


def _target_kinds(loss: str) -> set[YKind | None]:
    return {TARGET_KIND[kind] for kind in OBJECTIVE_DATA[loss]}


def check_target_kind(loss: str, y: np.ndarray | None, y_kind: YKind | None) -> None:
    """Reject real-valued scores given to an objective that trains on class labels only.

    What an objective accepts follows from the data it is defined on (:data:`TARGET_KIND`
    of each kind in :data:`OBJECTIVE_DATA`), so a new objective gets this check for free.

    Raises
    ------
    ValueError
        Naming the first score that is not a whole number, and the fixes.
    """
    if loss == "auto" or y is None or y_kind != "scores":
        return
    if _target_kinds(loss) != {"labels"}:
        return
    i = int(np.flatnonzero(y != np.round(y))[0])
    expected = " or ".join(DATA_DESCRIPTIONS[kind] for kind in OBJECTIVE_DATA[loss])
    for_scores = " or ".join(f"loss={n!r}" for n in OBJECTIVE_DATA if "scores" in _target_kinds(n))
    raise ValueError(
        f"loss={loss!r} trains on {expected}, but y[{i}] = {y[i]} is a real-valued score. "
        "Pass class labels (ints or strings), bin the scores into classes first (e.g. "
        f"np.digitize(y, bins)), or use {for_scores} for scores."
    )


def scale_scores(
    scores: np.ndarray, score_range: tuple[float, float] | None
) -> tuple[np.ndarray, tuple[float, float]]:
    """Map gold scores linearly onto ``[0, 1]``, the range cosine similarity is trained to.

    The source range is ``score_range`` when given; otherwise ``(0, 1)`` when every score
    already lies there, else ``(min(scores), max(scores))``: STS scores 0-5 are divided by 5
    (for a training set that holds both a 0 and a 5), SICK scores 1-5 map ``1 -> 0, 5 -> 1``.

    Returns
    -------
    scaled : ndarray of float32
    score_range : tuple of float
        The source range used.
    """
    if score_range is None:
        low, high = float(scores.min()), float(scores.max())
        score_range = (0.0, 1.0) if low >= 0.0 and high <= 1.0 else (low, high)
    low, high = score_range
    if high <= low:
        raise ValueError(
            f"All training scores in y equal {low}; the cosine objective needs scores that "
            "vary. Pass score_range=(low, high) if they lie on a known scale."
        )
    outside = np.flatnonzero((scores < low) | (scores > high))
    if outside.size:
        raise ValueError(
            f"y[{outside[0]}] = {scores[outside[0]]} lies outside score_range={score_range}; "
            "widen score_range or fix the score."
        )
    return ((scores - low) / (high - low)).astype(np.float32), (low, high)


def training_set(
    loss: str, X: TextColumns, y: np.ndarray | None, y_kind: YKind | None, params: dict[str, Any]
) -> TrainingSet:
    """Check ``(X, y)`` against ``loss`` and build the training set of the chosen objective.

    Parameters
    ----------
    loss : str
        The ``loss`` parameter (may be ``"auto"``).
    X : TextColumns
        Validated texts, pairs or triplets.
    y : ndarray or None
        Validated labels or scores.
    y_kind : {"labels", "scores"} or None
        What ``y`` holds.
    params : dict
        The estimator's parameters (``score_range`` is read).

    Returns
    -------
    training_set : TrainingSet
    """
    if loss in _SCORE_LOSSES and y_kind == "labels" and y is not None and y.dtype.kind in "iubf":
        y_kind = "scores"  # whole-number scores (e.g. 0/1 similarity) are scores to these losses
    check_target_kind(loss, y, y_kind)
    name = resolve_loss(loss, data_kind(X, y_kind))
    if name is None:
        return TrainingSet(None, X.columns)
    if name == "softmax":
        try:
            classes, target = np.unique(y, return_inverse=True)
        except TypeError as exc:
            raise TypeError(f"y mixes label types that cannot be sorted: {exc}.") from None
        if len(classes) < 2:
            raise ValueError(
                f"loss='softmax' needs at least 2 classes in y, got only "
                f"{classes.tolist()[0]!r}: add pairs of another class."
            )
        return TrainingSet(name, X.columns, target.astype(np.int64), classes=classes)
    if name == "cosine":
        scaled, score_range = scale_scores(np.asarray(y, dtype=np.float64), params["score_range"])
        return TrainingSet(name, X.columns, scaled, score_range=score_range)
    return TrainingSet(name, X.columns)


def build_loss(training: TrainingSet, dim: int, params: dict[str, Any]) -> nn.Module:
    """Build the loss module of ``training.loss`` for embeddings of dimension ``dim``."""
    if training.loss == "softmax":
        assert training.classes is not None
        return SoftmaxLoss(dim, len(training.classes), tuple(params["pair_features"]))
    if training.loss == "cosine":
        return CosineSimilarityLoss()
    margin = params["margin"]
    return TripletLoss(DEFAULT_MARGIN["triplet"] if margin is None else margin)
