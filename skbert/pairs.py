"""Turning class labels into training rows: pairs, triplets, and class-balanced batches.

Labelled texts (``X`` texts, ``y`` class labels) are what a scikit-learn ``Pipeline`` gives
the vectorizer; the objectives need pairs, triplets or batches with several texts per class.
Every function here takes the labels and returns index arrays into them, using numpy only,
with every random choice drawn from a ``numpy.random.Generator`` built from
``random_state``: the same seed gives the same rows.

Rules, the same in every function:

- **Budget per text.** Each text anchors the same number of rows (``per_text``), whatever
  the size of its class, so a minority class is trained as often, per text, as a majority
  class (the remedy for imbalanced classes). Partners are drawn without repetition until a
  text's candidates run out, then cycled: a text of a class of 3 asked for 4 positives gets
  each of its 2 classmates twice.
- **Negatives** are drawn uniformly from the texts of every other class.
- **A class with a single example** has no positive partner: its text anchors only
  negative pairs, anchors no triplet or ``(anchor, positive)`` pair, and still serves as a
  negative for the other classes.
- **Errors**: a single class (no negative exists), or no class with two examples (no
  positive exists), raise a ``ValueError`` naming ``y`` and the fix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "anchor_positive_pairs",
    "check_classes",
    "class_batches",
    "encode_labels",
    "label_pairs",
    "label_triplets",
]

_SHUFFLE_LIMIT = 1 << 22  # random keys drawn at once for distinct draws; above, draw freely


def encode_labels(y: Any, classes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct labels, and each label's index into them.

    Parameters
    ----------
    y : array-like of shape (n,)
        Class labels (any sortable, hashable values).
    classes : ndarray or None, default=None
        Classes to encode against (those of a training set, for held-out labels); None
        takes the distinct labels of ``y``.

    Returns
    -------
    classes : ndarray
    codes : ndarray of int64

    Raises
    ------
    TypeError
        If the labels cannot be sorted (mixed types).
    ValueError
        If ``y`` is empty, or holds a label outside the given ``classes``.

    Examples
    --------
    >>> classes, codes = encode_labels(["b", "a", "b"])
    >>> classes.tolist(), codes.tolist()
    (['a', 'b'], [1, 0, 1])
    """
    values = np.asarray(y)
    if values.size == 0:
        raise ValueError("y is empty; pass one class label per text.")
    try:
        if classes is None:
            classes, codes = np.unique(values, return_inverse=True)
            return classes, codes.ravel().astype(np.int64)
        codes = np.searchsorted(classes, values)
    except TypeError as exc:
        raise TypeError(f"y mixes label types that cannot be sorted: {exc}.") from None
    codes = np.minimum(codes, len(classes) - 1)
    unknown = np.flatnonzero(classes[codes] != values)
    if unknown.size:
        label = values[unknown[0]]
        label = label.item() if isinstance(label, np.generic) else label
        raise ValueError(
            f"y[{unknown[0]}] = {label!r} is not among the training classes "
            f"{classes.tolist()[:10]}; held-out labels must be classes seen in training."
        )
    return classes, codes.astype(np.int64)


def check_classes(y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check that ``y`` allows positive and negative pairs, and count its classes.

    Parameters
    ----------
    y : array-like of shape (n_texts,)
        Class labels.

    Returns
    -------
    classes : ndarray
        Sorted distinct labels.
    codes : ndarray of int64
        Each text's index into ``classes``.
    counts : ndarray of int64
        Examples per class; a class of 1 has no positive pair.

    Raises
    ------
    ValueError
        If ``y`` holds a single class, or no class has 2 examples.

    Examples
    --------
    >>> classes, codes, counts = check_classes(["b", "a", "b"])
    >>> classes.tolist(), codes.tolist(), counts.tolist()
    (['a', 'b'], [1, 0, 1], [1, 2])
    """
    classes, codes = encode_labels(y)
    counts = np.bincount(codes, minlength=len(classes))
    if len(classes) < 2:
        raise ValueError(
            f"y holds a single class ({classes.tolist()[0]!r}), so no negative pair exists. "
            "Pass texts of at least 2 classes, or fine-tune without labels (loss='simcse')."
        )
    if counts.max() < 2:
        raise ValueError(
            f"Every class in y has a single example ({len(classes)} classes), so no positive "
            "pair exists. Give at least 2 examples of some class."
        )
    return classes, codes, counts


def _check_per_text(per_text: int, least: int = 1) -> None:
    if per_text < least:
        raise ValueError(f"per_text={per_text} must be at least {least}.")


def _draw(rng: np.random.Generator, n_rows: int, pool: int, k: int) -> np.ndarray:
    """``k`` values from ``range(pool)`` for each of ``n_rows`` rows, shape ``(n_rows, k)``.

    Every value appears ``k // pool`` times, and the remaining ``k % pool`` are distinct
    values chosen at random; for a very large pool (more than ``_SHUFFLE_LIMIT`` random keys
    in all) they are drawn independently, where a repeat is rare.
    """
    full, rest = divmod(k, pool)
    parts = [np.broadcast_to(np.tile(np.arange(pool), full), (n_rows, full * pool))]
    if rest and n_rows * pool <= _SHUFFLE_LIMIT:
        keys = rng.random((n_rows, pool))
        parts.append(np.argpartition(keys, rest - 1, axis=1)[:, :rest])
    elif rest:
        parts.append(rng.integers(0, pool, size=(n_rows, rest)))
    return np.concatenate(parts, axis=1)


def _class_members(codes: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    """Split the text indices by class, in order."""
    return np.split(np.argsort(codes, kind="stable"), np.cumsum(counts)[:-1])


def _positives(
    members: np.ndarray, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``k`` classmates for each member: anchors and partners, flat."""
    m = len(members)
    offsets = _draw(rng, m, m - 1, k)  # 0 .. m - 2, skipping the anchor itself
    partners = members[(np.arange(m)[:, None] + 1 + offsets) % m]
    return np.repeat(members, k), partners.ravel()


def _negatives(
    members: np.ndarray, others: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """``k`` texts of other classes for each member, flat."""
    return others[_draw(rng, len(members), len(others), k)].ravel()


def label_pairs(
    y: Any, *, per_text: int = 20, positive_fraction: float = 0.5, random_state: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of texts labelled same-class (positive) or not, for the pair objectives.

    Each text anchors ``per_text`` pairs: ``round(per_text * positive_fraction)`` (at least
    1, at most ``per_text - 1``) with texts of its class, the rest with texts of other
    classes. A text whose class has a single example anchors only its negative pairs.

    Parameters
    ----------
    y : array-like of shape (n_texts,)
        Class labels (any sortable, hashable values).
    per_text : int, default=20
        Pairs anchored by each text; at least 2.
    positive_fraction : float, default=0.5
        Share of each text's pairs that are positive, in ``(0, 1)``.
    random_state : int, numpy.random.Generator or None, default=None
        Source of every random choice.

    Returns
    -------
    left, right : ndarray of int64
        Indices of the two texts of each pair.
    same : ndarray of bool
        Whether the pair is positive.

    Examples
    --------
    >>> left, right, same = label_pairs(["a", "a", "b", "b"], per_text=2, random_state=0)
    >>> len(left), int(same.sum())
    (8, 4)
    """
    _check_per_text(per_text, least=2)
    if not 0 < positive_fraction < 1:
        raise ValueError(f"positive_fraction={positive_fraction} must lie strictly in (0, 1).")
    rng = np.random.default_rng(random_state)
    _, codes, counts = check_classes(y)
    n_positive = min(max(round(per_text * positive_fraction), 1), per_text - 1)
    n_negative = per_text - n_positive
    left, right, same = [], [], []
    for members in _class_members(codes, counts):
        if len(members) > 1:
            anchors, partners = _positives(members, n_positive, rng)
            left.append(anchors)
            right.append(partners)
            same.append(np.ones(len(anchors), dtype=bool))
        others = np.flatnonzero(codes != codes[members[0]])
        left.append(np.repeat(members, n_negative))
        right.append(_negatives(members, others, n_negative, rng))
        same.append(np.zeros(len(members) * n_negative, dtype=bool))
    order = rng.permutation(sum(len(part) for part in left))
    return np.concatenate(left)[order], np.concatenate(right)[order], np.concatenate(same)[order]


def label_triplets(
    y: Any, *, per_text: int = 20, random_state: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triplets (anchor, same-class positive, other-class negative) from class labels.

    Each text of a class with at least 2 examples anchors ``per_text`` triplets.

    Parameters
    ----------
    y : array-like of shape (n_texts,)
        Class labels.
    per_text : int, default=20
        Triplets anchored by each text.
    random_state : int, numpy.random.Generator or None, default=None
        Source of every random choice.

    Returns
    -------
    anchor, positive, negative : ndarray of int64
        Indices into ``y``.

    Examples
    --------
    >>> a, p, n = label_triplets([0, 0, 1, 1, 2], per_text=3, random_state=0)
    >>> len(a), bool((a != 4).all())  # the single example of class 2 anchors nothing
    (12, True)
    """
    anchor, positive, negative = _anchored(y, per_text, random_state, negatives=True)
    return anchor, positive, negative


def anchor_positive_pairs(
    y: Any, *, per_text: int = 20, random_state: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of same-class texts (anchor, positive), for in-batch-negatives objectives.

    Each text of a class with at least 2 examples anchors ``per_text`` pairs. The negatives
    come from the batch; given the labels, the objective masks same-class candidates, so a
    single class is an error here too.

    Parameters
    ----------
    y : array-like of shape (n_texts,)
        Class labels.
    per_text : int, default=20
        Pairs anchored by each text.
    random_state : int, numpy.random.Generator or None, default=None
        Source of every random choice.

    Returns
    -------
    anchor, positive : ndarray of int64
        Indices into ``y``.

    Examples
    --------
    >>> a, p = anchor_positive_pairs(["x", "x", "y", "y"], per_text=1, random_state=0)
    >>> sorted(zip(a.tolist(), p.tolist()))
    [(0, 1), (1, 0), (2, 3), (3, 2)]
    """
    anchor, positive = _anchored(y, per_text, random_state, negatives=False)
    return anchor, positive


def _anchored(
    y: Any, per_text: int, random_state: Any, *, negatives: bool
) -> tuple[np.ndarray, ...]:
    """``per_text`` rows (anchor, classmate[, stranger]) per text of a class of 2 or more."""
    rng = np.random.default_rng(random_state)
    _check_per_text(per_text)
    _, codes, counts = check_classes(y)
    columns: list[list[np.ndarray]] = [[], [], []] if negatives else [[], []]
    for members in _class_members(codes, counts):
        if len(members) < 2:
            continue
        anchors, partners = _positives(members, per_text, rng)
        columns[0].append(anchors)
        columns[1].append(partners)
        if negatives:
            others = np.flatnonzero(codes != codes[members[0]])
            columns[2].append(_negatives(members, others, per_text, rng))
    order = rng.permutation(sum(len(part) for part in columns[0]))
    return tuple(np.concatenate(column)[order] for column in columns)


def class_batches(
    y: Any,
    *,
    batch_size: int,
    per_class: int = 4,
    n_batches: int,
    random_state: Any = None,
) -> list[np.ndarray]:
    """Batches of P classes x K texts for the batch-mining objectives (Hermans et al. 2017).

    Each batch takes ``P = min(batch_size // per_class, n_classes)`` classes, chosen
    uniformly (so minority classes are drawn as often as majority ones), and ``K =
    per_class`` distinct texts of each, or all of a class's texts when it has fewer.

    Parameters
    ----------
    y : array-like of shape (n_texts,)
        Class labels.
    batch_size : int
        Texts per batch, at most; must hold 2 classes: ``batch_size >= 2 * per_class``.
    per_class : int, default=4
        Texts per class in a batch (K); at least 2, so every text has a positive.
    n_batches : int
        Number of batches.
    random_state : int, numpy.random.Generator or None, default=None
        Source of every random choice.

    Returns
    -------
    batches : list of ndarray of int64
        Indices into ``y``; texts of a class are contiguous.

    Examples
    --------
    >>> batches = class_batches([0] * 5 + [1] * 5 + [2] * 5, batch_size=4, per_class=2,
    ...                         n_batches=3, random_state=0)
    >>> [len(b) for b in batches]
    [4, 4, 4]
    """
    if per_class < 2:
        raise ValueError(f"per_class={per_class} must be at least 2, so a text has a positive.")
    if batch_size < 2 * per_class:
        raise ValueError(
            f"batch_size={batch_size} holds fewer than 2 classes of per_class={per_class} "
            f"texts; use batch_size >= {2 * per_class} or a smaller per_class."
        )
    rng = np.random.default_rng(random_state)
    _, codes, counts = check_classes(y)
    members = _class_members(codes, counts)
    n_chosen = min(batch_size // per_class, len(counts))
    batches = []
    for _ in range(n_batches):
        chosen = rng.choice(len(counts), n_chosen, replace=False)
        batches.append(
            np.concatenate(
                [rng.choice(members[c], min(per_class, counts[c]), replace=False) for c in chosen]
            )
        )
    return batches
