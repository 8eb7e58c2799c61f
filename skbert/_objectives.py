"""Which objective trains on which data, and turning ``(X, y)`` into its training set.

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

Pair, triplet and batch objectives on labelled texts draw their rows from the labels anew
every epoch (:mod:`skbert.pairs`); the other data gives fixed rows.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
from sklearn.model_selection import train_test_split
from torch import nn

from ._inputs import TextColumns, YKind
from ._training import Batch, BatchPlan, row_batches
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
from .pairs import anchor_positive_pairs, check_classes, class_batches, label_pairs, label_triplets

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
    "labelled_texts": "batch_all_triplet",  # measured: benchmarks/trec_fewshot.py
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
DEFAULT_PAIRS_PER_TEXT = 40
DEFAULT_POSITIVE_FRACTION = 0.5
DEFAULT_TEXTS_PER_CLASS = 4
# Objectives that draw labelled pairs (positive fraction applies), and P x K batches.
PAIR_LOSSES = frozenset({"contrastive", "online_contrastive", "cosine", "cosent"})
BATCH_MINING = frozenset({"batch_hard_triplet", "batch_all_triplet"})
# Objectives that sample rows from labelled texts (the pair budget applies).
LABEL_SAMPLED = PAIR_LOSSES | BATCH_MINING | {"triplet", "mnrl"}
_SCORE_LOSSES = frozenset({"cosine", "cosent"})
_BINARY_LOSSES = frozenset({"contrastive", "online_contrastive"})


@dataclass(frozen=True)
class TrainingSet:
    """What one objective trains on.

    ``texts`` is the pool that rows index into. Fixed data has ``index`` (rows x columns)
    and an optional per-row ``target``; labelled texts have ``labels`` (class index per
    text), from which each epoch's rows are drawn. ``loss`` is ``None`` when there is
    nothing to train (feature extraction only).
    """

    loss: str | None
    kind: str
    texts: list[str]
    index: np.ndarray | None = None
    target: np.ndarray | None = None
    labels: np.ndarray | None = None
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
        loss in _SCORE_LOSSES
        and X.kind == "pairs"
        and y_kind == "labels"
        and y is not None
        and y.dtype.kind in "iubf"
    ):
        y_kind = "scores"  # whole-number scores (e.g. 0/1 similarity) are scores to these
    check_target_kind(loss, y, y_kind)
    kind = data_kind(X, y_kind)
    return kind, resolve_loss(loss, kind)


def check_objective(name: str | None, kind: str, params: dict[str, Any]) -> None:
    """Rules between the chosen objective and the parameters, checked before any training."""
    if name == "softmax" and params["matryoshka_dims"] is not None:
        raise ValueError(
            "matryoshka_dims does not apply to loss='softmax': its classifier reads the full "
            "embedding. Use another objective, or matryoshka_dims=None."
        )
    if name in BATCH_MINING:
        per_class = params["texts_per_class"] or DEFAULT_TEXTS_PER_CLASS
        if params["batch_size"] < 2 * per_class:
            raise ValueError(
                f"loss={name!r} needs at least 2 classes per batch, but batch_size="
                f"{params['batch_size']} holds fewer than 2 x texts_per_class={per_class}; "
                f"use batch_size >= {2 * per_class} or a smaller texts_per_class."
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


def _class_codes(y: np.ndarray, name: str, classes: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """``(classes, codes)`` of ``y``; ``classes`` given (validation) are reused."""
    if classes is not None:
        return classes, np.searchsorted(classes, y).astype(np.int64)
    try:
        classes, codes = np.unique(y, return_inverse=True)
    except TypeError as exc:
        raise TypeError(f"y mixes label types that cannot be sorted: {exc}.") from None
    if len(classes) < 2:
        raise ValueError(
            f"loss={name!r} needs at least 2 classes in y, got only "
            f"{classes.tolist()[0]!r}: add examples of another class."
        )
    return classes, codes.astype(np.int64)


def _binary_target(y: np.ndarray, name: str) -> np.ndarray:
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise ValueError(
            f"loss={name!r} needs y in {{0, 1}} (1: the pair belongs together), got "
            f"{sorted(values, key=str)[:5]}; map your labels to 0/1, or use loss='softmax'."
        )
    return y.astype(np.float32)


def _warn_single_example_classes(classes: np.ndarray, counts: np.ndarray, name: str) -> None:
    single = classes[counts == 1]
    if single.size:
        shown = ", ".join(repr(c) for c in single[:5].tolist()) + (
            ", ..." if single.size > 5 else ""
        )
        warnings.warn(
            f"y has {single.size} class{'es' if single.size > 1 else ''} with a single "
            f"example ({shown}): with loss={name!r} such a text anchors no positive and "
            "serves only as a negative. Add a second example of each to train on them fully.",
            UserWarning,
            stacklevel=4,
        )


def _text_set(
    name: str, kind: str, X: TextColumns, y: np.ndarray | None, *, warn: bool
) -> TrainingSet:
    texts = X.columns[0]
    if name == "simcse":  # each text twice in the batch: two dropout masks
        index = np.repeat(np.arange(len(texts)), 2).reshape(-1, 2)
        codes = None if y is None else _class_codes(y, name, None)[1]
        return TrainingSet(name, kind, texts, index=index, target=codes)
    assert y is not None
    classes, codes, counts = check_classes(y)
    if warn:
        _warn_single_example_classes(classes, counts, name)
    return TrainingSet(name, kind, texts, labels=codes, classes=classes)


def training_set(
    name: str | None,
    kind: str,
    X: TextColumns,
    y: np.ndarray | None,
    params: dict[str, Any],
    *,
    classes: np.ndarray | None = None,
    warn: bool = True,
) -> TrainingSet:
    """Build the training set of objective ``name`` from validated ``(X, y)``.

    Parameters
    ----------
    name : str or None
        The objective, as returned by :func:`choose_objective`.
    kind : str
        The kind of data, likewise.
    X : TextColumns
        Validated texts, pairs or triplets.
    y : ndarray or None
        Validated labels or scores.
    params : dict
        The estimator's parameters (``score_range`` is read).
    classes : ndarray or None, default=None
        Classes of the training set, to encode held-out labels the same way.
    warn : bool, default=True
        Warn about classes with a single example.

    Returns
    -------
    training_set : TrainingSet
    """
    if name is None:
        return TrainingSet(None, kind, [t for column in X.columns for t in column])
    if X.kind == "texts":
        return _text_set(name, kind, X, y, warn=warn)
    n, width = X.n_samples, len(X.columns)
    texts = [t for column in X.columns for t in column]
    index = np.arange(n)[:, None] + n * np.arange(width)[None, :]
    if name == "softmax":
        assert y is not None
        classes, codes = _class_codes(y, name, classes)
        return TrainingSet(name, kind, texts, index=index, target=codes, classes=classes)
    if name == "cosine":
        assert y is not None
        scaled, score_range = scale_scores(np.asarray(y, dtype=np.float64), params["score_range"])
        return TrainingSet(name, kind, texts, index=index, target=scaled, score_range=score_range)
    if name == "cosent":
        assert y is not None
        return TrainingSet(name, kind, texts, index=index, target=y.astype(np.float32))
    if name in _BINARY_LOSSES:
        assert y is not None
        return TrainingSet(name, kind, texts, index=index, target=_binary_target(y, name))
    return TrainingSet(name, kind, texts, index=index)


def split_validation(
    kind: str, X: TextColumns, y: np.ndarray | None, fraction: float, seed: int
) -> tuple[tuple[TextColumns, np.ndarray | None], tuple[TextColumns, np.ndarray | None]]:
    """Hold out ``fraction`` of the rows, stratified by class for labelled data.

    Returns
    -------
    train, validation : tuple of (TextColumns, ndarray or None)
    """
    stratify = y if kind in ("labelled_texts", "labelled_pairs") else None
    rows = np.arange(X.n_samples)
    try:
        kept, held = train_test_split(
            rows, test_size=fraction, stratify=stratify, random_state=seed
        )
    except ValueError as exc:
        raise ValueError(
            f"early_stopping holds out validation_fraction={fraction} of the {X.n_samples} "
            f"rows of X{', stratified by class' if stratify is not None else ''}, which "
            f"fails: {exc} Raise validation_fraction, add examples, or set "
            "early_stopping=False."
        ) from None

    def subset(part: np.ndarray) -> tuple[TextColumns, np.ndarray | None]:
        columns = tuple([column[i] for i in part] for column in X.columns)
        return TextColumns(columns, X.kind), None if y is None else y[part]

    return subset(np.sort(kept)), subset(np.sort(held))


def validation_metric(kind: str) -> Literal["loss", "spearman"]:
    """Held-out measure: Spearman's correlation for scored pairs, else the objective's loss."""
    return "spearman" if kind == "scored_pairs" else "loss"


def validation_set(
    training: TrainingSet, X: TextColumns, y: np.ndarray | None, params: dict[str, Any]
) -> TrainingSet:
    """Encode the held-out rows as ``training`` was (scored pairs keep their raw scores)."""
    if validation_metric(training.kind) == "spearman":
        assert y is not None
        n = X.n_samples
        index = np.stack([np.arange(n), np.arange(n) + n], axis=1)
        texts = X.columns[0] + X.columns[1]
        target = np.asarray(y, dtype=np.float64)
        return TrainingSet(training.loss, training.kind, texts, index=index, target=target)
    return training_set(
        training.loss, training.kind, X, y, params, classes=training.classes, warn=False
    )


def _labelled_rows(
    training: TrainingSet, params: dict[str, Any], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """One epoch's rows drawn from the labels, and their target."""
    labels = training.labels
    per_text = params["pairs_per_text"] or DEFAULT_PAIRS_PER_TEXT
    if training.loss in PAIR_LOSSES:
        fraction = params["positive_fraction"] or DEFAULT_POSITIVE_FRACTION
        left, right, same = label_pairs(
            labels, per_text=per_text, positive_fraction=fraction, random_state=rng
        )
        return np.stack([left, right], axis=1), same.astype(np.float32)
    if training.loss == "triplet":
        return np.stack(label_triplets(labels, per_text=per_text, random_state=rng), axis=1), None
    anchor, positive = anchor_positive_pairs(labels, per_text=per_text, random_state=rng)
    return np.stack([anchor, positive], axis=1), labels[anchor]


def _class_plan(
    labels: np.ndarray, batch_size: int, per_class: int, n_batches: int, rng: np.random.Generator
) -> list[Batch]:
    batches = class_batches(
        labels, batch_size=batch_size, per_class=per_class, n_batches=n_batches, random_state=rng
    )
    return [Batch(batch[:, None], labels[batch]) for batch in batches]


def _labelled_plan(
    training: TrainingSet,
    text_lengths: np.ndarray,
    params: dict[str, Any],
    rng: np.random.Generator,
) -> list[Batch]:
    index, target = _labelled_rows(training, params, rng)
    return row_batches(index, target, text_lengths, params["batch_size"], rng)


def batch_plan(
    training: TrainingSet, text_lengths: np.ndarray, params: dict[str, Any]
) -> BatchPlan:
    """How each epoch's batches are drawn for ``training``.

    Fixed rows are shuffled into batches of similar length. Labelled texts get fresh pairs,
    triplets or ``(anchor, positive)`` pairs each epoch, ``pairs_per_text`` per text; the
    batch-mining objectives get P classes x K texts batches, enough per epoch to embed as
    many texts as a pair objective with the same budget (two per pair):
    ``ceil(2 * n_texts * pairs_per_text / batch_size)``.
    """
    batch_size = params["batch_size"]
    if training.labels is None:
        assert training.index is not None
        return partial(row_batches, training.index, training.target, text_lengths, batch_size)
    if training.loss in BATCH_MINING:
        per_text = params["pairs_per_text"] or DEFAULT_PAIRS_PER_TEXT
        per_class = params["texts_per_class"] or DEFAULT_TEXTS_PER_CLASS
        n_batches = math.ceil(2 * len(training.labels) * per_text / batch_size)
        return partial(_class_plan, training.labels, batch_size, per_class, n_batches)
    return partial(_labelled_plan, training, text_lengths, params)


def build_loss(
    training: TrainingSet, dim: int, params: dict[str, Any], *, normalize: bool = False
) -> nn.Module:
    """Build the loss module of ``training.loss`` for embeddings of dimension ``dim``.

    With ``matryoshka_dims``, the loss is wrapped in :class:`~skbert.losses.MatryoshkaLoss`;
    ``normalize`` says whether the encoder's embeddings have unit length, so truncated ones
    are rescaled to unit length as well.
    """
    name = training.loss
    assert name is not None
    margin = params["margin"] if params["margin"] is not None else DEFAULT_MARGIN.get(name)
    scale = params["scale"] if params["scale"] is not None else DEFAULT_SCALE.get(name)
    if name == "softmax":
        assert training.classes is not None
        return SoftmaxLoss(dim, len(training.classes), tuple(params["pair_features"]))
    base: nn.Module = {
        "cosine": CosineSimilarityLoss,
        "triplet": partial(TripletLoss, margin),
        "contrastive": partial(ContrastiveLoss, margin),
        "online_contrastive": partial(OnlineContrastiveLoss, margin),
        "mnrl": partial(MultipleNegativesRankingLoss, scale),
        "simcse": partial(MultipleNegativesRankingLoss, scale),
        "cosent": partial(CoSENTLoss, scale),
        "batch_hard_triplet": partial(BatchHardTripletLoss, margin),
        "batch_all_triplet": partial(BatchAllTripletLoss, margin),
    }[name]()
    if params["matryoshka_dims"] is None:
        return base
    return MatryoshkaLoss(base, tuple(params["matryoshka_dims"]), normalize=normalize)
