"""Which objective trains on which data, what ``"auto"`` picks, and building the loss module.

The data ``fit`` receives is one of these kinds:

================  ==========================================  ======================
kind              ``X`` and ``y``                             ``loss="auto"``
================  ==========================================  ======================
texts             1-D texts, no ``y``                         no fine-tuning
labelled_texts    1-D texts, class labels                     ``"batch_all_triplet"``
pairs             ``(n, 2)`` pairs, no ``y``                  ``"mnrl"``
scored_pairs      ``(n, 2)`` pairs, real-valued scores        ``"cosine"``
labelled_pairs    ``(n, 2)`` pairs, class labels              ``"softmax"``
triplets          ``(n, 3)`` anchor, positive, negative       ``"triplet"``
================  ==========================================  ======================

This module is the catalogue: which data each objective trains on, what ``loss="auto"``
picks, each objective's own defaults, and :func:`build_loss`, which makes the loss module a
fit's plan names. Turning ``(X, y)`` into rows is :mod:`skbert._training_set`'s job.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from torch import nn

from ._inputs import TextColumns, YKind
from .losses import (
    BatchAllTripletLoss,
    BatchHardTripletLoss,
    ContrastiveLoss,
    CoSENTLoss,
    CosineSimilarityLoss,
    MatryoshkaLoss,
    MultipleNegativesRankingLoss,
    OnlineContrastiveLoss,
    SoftmaxLoss,
    TripletLoss,
)

if TYPE_CHECKING:
    from ._plan import FitPlan

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
    "cosine": ("scored_pairs", "labelled_texts"),
    "triplet": ("triplets", "labelled_texts"),
    "contrastive": ("labelled_pairs", "labelled_texts"),
    "online_contrastive": ("labelled_pairs", "labelled_texts"),
    "mnrl": ("pairs", "triplets", "labelled_texts"),
    "cosent": ("scored_pairs", "labelled_texts"),
    "batch_hard_triplet": ("labelled_texts",),
    "batch_all_triplet": ("labelled_texts",),
    "simcse": ("texts", "labelled_texts"),
}
AUTO_LOSS: dict[str, str | None] = {
    "texts": None,
    "labelled_texts": "mnrl",  # chosen across datasets: benchmarks/labelled_texts.py
    "pairs": "mnrl",
    "scored_pairs": "cosine",
    "labelled_pairs": "softmax",
    "triplets": "triplet",
}
DEFAULT_MARGIN = {
    "triplet": 1.0,
    "batch_hard_triplet": 1.0,
    "batch_all_triplet": 1.0,
    "contrastive": 0.5,
    "online_contrastive": 0.5,
}
DEFAULT_SCALE = {"mnrl": 20.0, "simcse": 20.0, "cosent": 20.0}
# Objectives that draw labelled pairs (positive fraction applies), and P x K batches.
PAIR_LOSSES = frozenset({"contrastive", "online_contrastive", "cosine", "cosent"})
BATCH_MINING = frozenset({"batch_hard_triplet", "batch_all_triplet"})
IN_BATCH_NEGATIVES = frozenset({"mnrl", "simcse"})  # every other row of a batch is a negative
# Objectives that sample rows from labelled texts (the pair budget applies).
LABEL_SAMPLED = PAIR_LOSSES | BATCH_MINING | {"triplet", "mnrl"}
SCORE_LOSSES = frozenset({"cosine", "cosent"})
BINARY_LOSSES = frozenset({"contrastive", "online_contrastive"})


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
    if auto is None:
        return (
            f"For {DATA_DESCRIPTIONS[kind]}, use loss={fitting[0]!r} to fine-tune, or "
            "'auto' to embed without fine-tuning."
        )
    return f"For {DATA_DESCRIPTIONS[kind]}, use loss={auto!r} (or 'auto')."


def resolve_loss(loss: str, kind: str) -> str | None:
    """Return the objective to train with: ``loss``, or the ``"auto"`` choice for ``kind``.

    Raises
    ------
    ValueError
        If the objective is not defined on this kind of data; the message says which data
        it expects and which loss fits the data given.
    """
    if loss == "auto":
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


def choose_objective(
    loss: str, X: TextColumns, y: np.ndarray | None, y_kind: YKind | None
) -> tuple[str, str | None]:
    """Return the kind of ``(X, y)`` and the objective to train it with (None: none).

    Whole-number labels of pairs are scores to the objectives that train on scores (0/1
    similarity is a score); real-valued scores given to an objective of class labels are
    refused (:func:`check_target_kind`).
    """
    if (
        loss in SCORE_LOSSES
        and X.kind == "pairs"
        and y_kind == "labels"
        and y is not None
        and y.dtype.kind in "iubf"
    ):
        y_kind = "scores"  # whole-number scores (e.g. 0/1 similarity) are scores to these
    check_target_kind(loss, y, y_kind)
    kind = data_kind(X, y_kind)
    return kind, resolve_loss(loss, kind)


def build_loss(plan: FitPlan, dim: int, *, n_classes: int | None, normalize: bool) -> nn.Module:
    """Build the loss module of ``plan.objective`` for embeddings of dimension ``dim``.

    ``n_classes`` sizes the softmax classifier. With ``plan.matryoshka_dims``, the loss is
    wrapped in :class:`~skbert.losses.MatryoshkaLoss`; ``normalize`` says whether the
    encoder's embeddings have unit length, so truncated ones are rescaled to unit length too.
    """
    name = plan.objective
    if name == "softmax":
        assert n_classes is not None
        return SoftmaxLoss(dim, n_classes, plan.pair_features)
    base: nn.Module = {
        "cosine": CosineSimilarityLoss,
        "triplet": partial(TripletLoss, plan.margin),
        "contrastive": partial(ContrastiveLoss, plan.margin),
        "online_contrastive": partial(OnlineContrastiveLoss, plan.margin),
        "mnrl": partial(MultipleNegativesRankingLoss, plan.scale),
        "simcse": partial(MultipleNegativesRankingLoss, plan.scale),
        "cosent": partial(CoSENTLoss, plan.scale),
        "batch_hard_triplet": partial(BatchHardTripletLoss, plan.margin),
        "batch_all_triplet": partial(BatchAllTripletLoss, plan.margin),
    }[name]()
    if plan.matryoshka_dims is None:
        return base
    return MatryoshkaLoss(base, plan.matryoshka_dims, normalize=normalize)
