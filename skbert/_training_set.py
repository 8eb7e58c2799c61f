"""Turning validated ``(X, y)`` into what one objective trains on, and holding rows out.

Fixed data (pairs, triplets, texts for SimCSE) becomes rows of indices into one pool of
texts, with a per-row target; texts with targets keep them (class codes, label sets as bool
rows, or real-valued targets standardised), and each epoch draws fresh rows from them
(:mod:`skbert._batching`). Targets are put in the form the objective's loss
takes, as its record's ``target`` says: class indices, scores scaled onto ``[0, 1]``, scores
as given, or 0/1 floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from ._inputs import TextColumns
from ._messages import warn
from ._objectives import OBJECTIVES
from .pairs import check_classes, encode_labels


@dataclass(frozen=True)
class TrainingSet:
    """What one objective trains on.

    ``texts`` is the pool that rows index into. Fixed data has ``index`` (rows x columns)
    and an optional per-row ``target``; texts with targets have ``labels``, from which each
    epoch's rows are drawn, of the kind ``labels_kind`` says: ``"labels"`` (class index per
    text), ``"label_sets"`` (a bool row per text) or ``"scores"`` (standardised targets).
    ``classes`` are the labels behind the class indices (for label sets, the column
    indices); ``score_range`` the source range of scaled scores.
    """

    texts: list[str]
    index: np.ndarray | None = None
    target: np.ndarray | None = None
    labels: np.ndarray | None = None
    classes: np.ndarray | None = None
    score_range: tuple[float, float] | None = None
    labels_kind: str = "labels"

    @property
    def n_rows(self) -> int:
        """Rows of fixed data, or labelled texts (or texts, with nothing to train)."""
        if self.labels is not None:
            return len(self.labels)
        return len(self.texts) if self.index is None else len(self.index)


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


def _binary_target(y: np.ndarray, objective: str) -> np.ndarray:
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise ValueError(
            f"loss={objective!r} needs y in {{0, 1}} (1: the pair belongs together), got "
            f"{sorted(values, key=str)[:5]}; map your labels to 0/1, or use loss='softmax'."
        )
    return y.astype(np.float32)


def _class_codes(
    y: np.ndarray, objective: str, classes: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    classes, codes = encode_labels(y, classes)
    if len(classes) < 2:
        raise ValueError(
            f"loss={objective!r} needs at least 2 classes in y, got only "
            f"{classes.tolist()[0]!r}: add examples of another class."
        )
    return classes, codes


def _warn_single_example_classes(classes: np.ndarray, counts: np.ndarray, objective: str) -> None:
    single = classes[counts == 1]
    if single.size:
        shown = ", ".join(repr(c) for c in single[:5].tolist()) + (
            ", ..." if single.size > 5 else ""
        )
        warn(
            f"y has {single.size} class{'es' if single.size > 1 else ''} with a single "
            f"example ({shown}): with loss={objective!r} such a text anchors no positive and "
            "serves only as a negative. Add a second example of each to train on them fully.",
            UserWarning,
        )


def _fixed_target(
    rule: str,
    y: np.ndarray | None,
    objective: str,
    score_range: tuple[float, float] | None,
    classes: np.ndarray | None,
) -> dict[str, Any]:
    """Put the ``y`` of fixed rows in the form ``rule`` says (``Objective.target``)."""
    if rule == "none":
        return {}
    assert y is not None
    if rule == "classes":
        classes, codes = _class_codes(y, objective, classes)
        return {"target": codes, "classes": classes}
    if rule == "unit_scores":
        scaled, used = scale_scores(np.asarray(y, dtype=np.float64), score_range)
        return {"target": scaled, "score_range": used}
    if rule == "scores":
        return {"target": y.astype(np.float32)}
    assert rule == "binary", rule
    return {"target": _binary_target(y, objective)}


def _check_label_sets(y: np.ndarray, objective: str) -> None:
    """Label sets must give the objective something to learn: two texts that differ."""
    if len(np.unique(y, axis=0)) < 2:
        raise ValueError(
            f"Every row of y has the same label set, so loss={objective!r} has no text "
            "closer to another than any: add texts with other label sets."
        )


def _standardised(y: np.ndarray, objective: str) -> np.ndarray:
    """Real-valued targets as z-scores, so the head's learning rate fits any scale."""
    spread = float(np.std(y))
    if spread == 0.0:
        raise ValueError(
            f"Every target in y equals {y[0]}; loss={objective!r} needs targets that vary: "
            "add texts with other targets."
        )
    return ((y - np.mean(y)) / spread).astype(np.float32)


def training_set(
    objective: str | None,
    X: TextColumns,
    y: np.ndarray | None,
    *,
    score_range: tuple[float, float] | None = None,
    classes: np.ndarray | None = None,
    labels_kind: str = "labels",
    warn: bool = True,
) -> TrainingSet:
    """Build the training set of ``objective`` from validated ``(X, y)``.

    Parameters
    ----------
    objective : str or None
        The objective; None (no fine-tuning) keeps the texts only.
    X : TextColumns
        Validated texts, pairs or triplets.
    y : ndarray or None
        Validated labels or scores.
    score_range : tuple of float or None, default=None
        Source range of scores scaled onto ``[0, 1]`` (None: inferred).
    classes : ndarray or None, default=None
        Classes of the training set, to encode held-out labels the same way.
    labels_kind : {"labels", "label_sets", "scores"}, default="labels"
        What ``y`` of single texts holds (:data:`skbert._targets.YKind`).
    warn : bool, default=True
        Warn about classes with a single example.

    Returns
    -------
    training_set : TrainingSet
    """
    texts, index = X.flat()
    if objective is None:
        return TrainingSet(texts)
    record = OBJECTIVES[objective]
    if X.input_kind != "texts":
        target = _fixed_target(record.target, y, objective, score_range, classes)
        return TrainingSet(texts, index=index, **target)
    if record.text_rows == "views":  # each text twice: two dropout masks
        index = np.repeat(np.arange(len(texts)), 2).reshape(-1, 2)
        codes = None if y is None else _class_codes(y, objective, None)[1]
        return TrainingSet(texts, index=index, target=codes)
    assert y is not None
    if labels_kind == "label_sets":
        _check_label_sets(y, objective)
        classes = np.arange(y.shape[1])
        return TrainingSet(texts, labels=y, classes=classes, labels_kind="label_sets")
    if labels_kind == "scores":
        return TrainingSet(texts, labels=_standardised(y, objective), labels_kind="scores")
    if classes is not None:
        return TrainingSet(texts, labels=encode_labels(y, classes)[1], classes=classes)
    classes, codes, counts = check_classes(y)
    if warn:
        _warn_single_example_classes(classes, counts, objective)
    return TrainingSet(texts, labels=codes, classes=classes)


def held_out_rows(
    n_rows: int, fraction: float, stratify: np.ndarray | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n_rows)`` into kept and held-out rows, stratified by ``stratify``.

    Returns
    -------
    kept, held : ndarray of int
        Sorted row indices.

    Raises
    ------
    ValueError
        If the split is impossible (too few rows, or a class too small to stratify); the
        message names ``validation_fraction`` and the fixes.
    """
    try:
        kept, held = train_test_split(
            np.arange(n_rows), test_size=fraction, stratify=stratify, random_state=seed
        )
    except ValueError as exc:
        raise ValueError(
            f"early_stopping holds out validation_fraction={fraction} of the {n_rows} rows "
            f"of X{', stratified by class' if stratify is not None else ''}, which fails: "
            f"{exc} Raise validation_fraction, add examples, or set early_stopping=False."
        ) from None
    return np.sort(kept), np.sort(held)
