"""The registry of objectives: one record each, and what is derived from the records.

An :class:`Objective` says everything skbert needs to train with it: the kinds of data it
trains on, how the target of fixed rows is put in the form its loss takes, how rows are drawn
from texts, its own parameters and their defaults, where ``loss="auto"`` picks it, and how its
loss module is built. The parameter constraints, the target checks, the training sets, the
batches and their count, the warnings about parameters an objective ignores and the objective
table in docs/objectives.md are all derived from :data:`OBJECTIVES`, so a new objective is one
record here plus its loss in :mod:`skbert.losses` (docs/development.md walks through it).

The kinds of data ``fit`` receives are named here too (:data:`DATA_DESCRIPTIONS`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
from torch import nn

from ._inputs import TextColumns
from ._targets import YKind
from .losses import (
    BatchAllTripletLoss,
    BatchHardTripletLoss,
    ContrastiveLoss,
    CoSENTLoss,
    CosineSimilarityLoss,
    HeadLoss,
    MatryoshkaLoss,
    MultipleNegativesRankingLoss,
    OnlineContrastiveLoss,
    SoftmaxLoss,
    TripletLoss,
)

DATA_DESCRIPTIONS = {
    "texts": "texts without labels",
    "labelled_texts": "texts with class labels",
    "multilabel_texts": "texts with label sets",
    "scored_texts": "texts with real-valued targets",
    "pairs": "pairs without labels",
    "scored_pairs": "pairs with real-valued scores",
    "labelled_pairs": "pairs with class labels",
    "triplets": "triplets (anchor, positive, negative) without labels",
}
# What ``y`` holds for each kind of data: what an objective defined on it accepts as target.
TARGET_KIND: dict[str, YKind | None] = {
    "texts": None,
    "labelled_texts": "labels",
    "multilabel_texts": "label_sets",
    "scored_texts": "scores",
    "pairs": None,
    "scored_pairs": "scores",
    "labelled_pairs": "labels",
    "triplets": None,
}

# The kinds of data whose rows are single texts: an objective draws its rows from them.
TEXT_KINDS = ("texts", "labelled_texts", "multilabel_texts", "scored_texts")
# How rows are drawn from texts with targets every epoch (:mod:`skbert._batching`), and the
# parameters each reads: "pairs" (scored by how alike their targets are), "triplets",
# "anchor_positive" (the rest of the batch as negatives), "class_batches" (P classes x K
# texts), "targets" (each text with its own target). "views": each text twice, fixed.
TEXT_ROWS_PARAMETERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "pairs": ("pairs_per_text", "positive_fraction"),
        "targets": ("pairs_per_text",),
        "triplets": ("pairs_per_text",),
        "anchor_positive": ("pairs_per_text",),
        "class_batches": ("pairs_per_text", "texts_per_class"),
        "views": (),
    }
)
# How the ``y`` of fixed rows becomes their target (:mod:`skbert._training_set`), and the
# parameters each way reads: "classes" (class indices), "unit_scores" (scores scaled onto
# [0, 1]), "scores" (as given), "binary" (0/1), "none" (no target).
TARGET_PARAMETERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "classes": (),
        "unit_scores": ("score_range",),
        "scores": (),
        "binary": (),
        "none": (),
    }
)


class LossInputs(NamedTuple):
    """What a loss is built from: the embedding size, the classes, the resolved settings."""

    dim: int
    n_classes: int | None
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class Objective:
    """One objective: the data it trains on, how its rows are built, its loss.

    Attributes
    ----------
    name : str
        The value of ``loss`` that selects it.
    data : tuple of str
        The kinds of data (keys of :data:`DATA_DESCRIPTIONS`) it trains on; the first is the
        one it is named for.
    loss : callable
        Builds the loss module from :class:`LossInputs`.
    target : str
        How the ``y`` of fixed rows (pairs, triplets) becomes the target (a key of
        :data:`TARGET_PARAMETERS`).
    text_rows : str or None
        How rows are drawn from texts (a key of :data:`TEXT_ROWS_PARAMETERS`); None if it
        does not train on texts.
    settings : mapping
        Its own parameters and their default when the parameter is None (None: the
        parameter's value is always used).
    auto_for : tuple of str
        The kinds of data on which ``loss="auto"`` picks it.
    random_batches : bool
        Batches of fixed rows stay random, not grouped by length (for in-batch negatives).
    matryoshka : bool
        Whether ``matryoshka_dims`` may wrap its loss.
    """

    name: str
    data: tuple[str, ...]
    loss: Callable[[LossInputs], nn.Module]
    target: str = "none"
    text_rows: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    auto_for: tuple[str, ...] = ()
    random_batches: bool = False
    matryoshka: bool = True

    def parameters(self, data_kind: str) -> frozenset[str]:
        """Return the objective-specific parameters it reads on ``data_kind``."""
        rows = (
            TEXT_ROWS_PARAMETERS[self.text_rows]
            if data_kind in TEXT_KINDS and self.text_rows
            else TARGET_PARAMETERS[self.target]
        )
        return frozenset(self.settings) | frozenset(rows)

    @property
    def classifies(self) -> bool:
        """Whether its loss has a classifier over the classes of ``y`` (``classes_``)."""
        return self.target == "classes"

    @property
    def trains_on_scores(self) -> bool:
        """Whether it takes real-valued scores (so whole-number labels of pairs are scores)."""
        return "scored_pairs" in self.data


_RECORDS = (
    Objective(
        "softmax",
        data=("labelled_pairs",),
        loss=lambda i: SoftmaxLoss(i.dim, i.n_classes, i.settings["pair_features"]),
        target="classes",
        settings={"pair_features": None},
        auto_for=("labelled_pairs",),
        matryoshka=False,
    ),
    Objective(
        "cosine",
        data=("scored_pairs", "labelled_texts", "multilabel_texts", "scored_texts"),
        loss=lambda i: CosineSimilarityLoss(),
        target="unit_scores",
        text_rows="pairs",
        auto_for=("scored_pairs",),
    ),
    Objective(
        "triplet",
        data=("triplets", "labelled_texts"),
        loss=lambda i: TripletLoss(i.settings["margin"]),
        text_rows="triplets",
        settings={"margin": 1.0},
        auto_for=("triplets",),
    ),
    Objective(
        "contrastive",
        data=("labelled_pairs", "labelled_texts"),
        loss=lambda i: ContrastiveLoss(i.settings["margin"]),
        target="binary",
        text_rows="pairs",
        settings={"margin": 0.5},
    ),
    Objective(
        "online_contrastive",
        data=("labelled_pairs", "labelled_texts"),
        loss=lambda i: OnlineContrastiveLoss(i.settings["margin"]),
        target="binary",
        text_rows="pairs",
        settings={"margin": 0.5},
    ),
    Objective(
        "mnrl",
        data=("pairs", "triplets", "labelled_texts"),
        loss=lambda i: MultipleNegativesRankingLoss(i.settings["scale"]),
        text_rows="anchor_positive",
        settings={"scale": 20.0},
        # labelled texts: chosen across datasets, benchmarks/labelled_texts.py
        auto_for=("pairs", "labelled_texts"),
        random_batches=True,
    ),
    Objective(
        "cosent",
        data=("scored_pairs", "labelled_texts", "multilabel_texts", "scored_texts"),
        loss=lambda i: CoSENTLoss(i.settings["scale"]),
        target="scores",
        text_rows="pairs",
        settings={"scale": 20.0},
        # label sets and real-valued targets: chosen across datasets, benchmarks/targets.py
        auto_for=("multilabel_texts", "scored_texts"),
    ),
    Objective(
        "batch_hard_triplet",
        data=("labelled_texts",),
        loss=lambda i: BatchHardTripletLoss(i.settings["margin"]),
        text_rows="class_batches",
        settings={"margin": 1.0},
    ),
    Objective(
        "batch_all_triplet",
        data=("labelled_texts",),
        loss=lambda i: BatchAllTripletLoss(i.settings["margin"]),
        text_rows="class_batches",
        settings={"margin": 1.0},
    ),
    Objective(
        "head",
        data=("multilabel_texts", "scored_texts"),
        loss=lambda i: HeadLoss(i.dim, i.n_classes or 1),
        text_rows="targets",
        matryoshka=False,
    ),
    Objective(
        "simcse",
        data=("texts", "labelled_texts"),
        loss=lambda i: MultipleNegativesRankingLoss(i.settings["scale"]),
        text_rows="views",
        settings={"scale": 20.0},
        random_batches=True,
    ),
)
OBJECTIVES: Mapping[str, Objective] = MappingProxyType({o.name: o for o in _RECORDS})
# What ``loss="auto"`` trains each kind of data with; None: embed without fine-tuning.
AUTO_LOSS: Mapping[str, str | None] = MappingProxyType(
    {
        kind: next((o.name for o in _RECORDS if kind in o.auto_for), None)
        for kind in DATA_DESCRIPTIONS
    }
)


def data_kind(X: TextColumns, y_kind: YKind | None) -> str:
    """Name the kind of training data ``(X, y)`` is, as in :data:`DATA_DESCRIPTIONS`."""
    if X.input_kind == "texts":
        return {
            None: "texts",
            "labels": "labelled_texts",
            "label_sets": "multilabel_texts",
            "scores": "scored_texts",
        }[y_kind]
    if y_kind == "label_sets":
        raise ValueError(
            f"fit got {X.input_kind} with a label-set matrix y; label sets describe single "
            "texts. Pass one text per row of y, or one class label or score per row of "
            f"{X.input_kind}."
        )
    if X.input_kind == "triplets":
        if y_kind:
            raise ValueError(
                "fit got triplets with y; a triplet (anchor, positive, negative) carries its "
                "own supervision. Call fit(X) without y."
            )
        return "triplets"
    return {None: "pairs", "scores": "scored_pairs", "labels": "labelled_pairs"}[y_kind]


def _suggestion(kind: str) -> str:
    auto = AUTO_LOSS[kind]
    if auto is None:
        fitting = [o.name for o in _RECORDS if kind in o.data]
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
    if kind not in OBJECTIVES[loss].data:
        expected = " or ".join(DATA_DESCRIPTIONS[k] for k in OBJECTIVES[loss].data)
        raise ValueError(
            f"loss={loss!r} trains on {expected}, but fit got {DATA_DESCRIPTIONS[kind]}. "
            + _suggestion(kind)
        )
    return loss


def _target_kinds(objective: Objective) -> set[YKind | None]:
    return {TARGET_KIND[kind] for kind in objective.data}


def check_target_kind(
    loss: str, y: np.ndarray | None, y_kind: YKind | None, input_kind: str
) -> None:
    """Reject real-valued scores given to an objective that trains on class labels only.

    What an objective accepts follows from the data it is defined on (:data:`TARGET_KIND`
    of each of its kinds), so a new objective gets this check for free.

    Raises
    ------
    ValueError
        Naming the first score that is not a whole number, and the fixes: the objectives
        that train on scores of ``input_kind`` rows.
    """
    if loss == "auto" or y is None or y_kind != "scores":
        return
    if _target_kinds(OBJECTIVES[loss]) != {"labels"}:
        return
    i = int(np.flatnonzero(y != np.round(y))[0])
    expected = " or ".join(DATA_DESCRIPTIONS[kind] for kind in OBJECTIVES[loss].data)
    for_scores = " or ".join(
        f"loss={o.name!r}"
        for o in _RECORDS
        if any(
            TARGET_KIND[k] == "scores" and k.endswith("texts") == (input_kind == "texts")
            for k in o.data
        )
    )
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
        loss != "auto"
        and OBJECTIVES[loss].trains_on_scores
        and X.input_kind == "pairs"
        and y_kind == "labels"
        and y is not None
        and y.dtype.kind in "iubf"
    ):
        y_kind = "scores"  # whole-number scores (e.g. 0/1 similarity) are scores to these
    check_target_kind(loss, y, y_kind, X.input_kind)
    kind = data_kind(X, y_kind)
    return kind, resolve_loss(loss, kind)


def build_loss(
    objective: str,
    dim: int,
    *,
    n_classes: int | None,
    settings: Mapping[str, Any],
    matryoshka_dims: tuple[int, ...] | None,
    normalize: bool,
) -> nn.Module:
    """Build the loss module of ``objective`` for embeddings of dimension ``dim``.

    ``n_classes`` sizes a classifier; ``settings`` holds the objective's resolved
    parameters (:attr:`Objective.settings`). With ``matryoshka_dims``, the loss is wrapped in
    :class:`~skbert.losses.MatryoshkaLoss`; ``normalize`` says whether the encoder's
    embeddings have unit length, so truncated ones are rescaled to unit length too.
    """
    record = OBJECTIVES[objective]
    base = record.loss(LossInputs(dim, n_classes, settings))
    if matryoshka_dims is None:
        return base
    return MatryoshkaLoss(base, matryoshka_dims, normalize=normalize)
