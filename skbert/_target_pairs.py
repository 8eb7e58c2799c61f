"""Pairs of texts drawn from label sets or real-valued targets, scored by how alike they are.

The pair objectives (``cosine``, ``cosent``) train on labelled texts through pairs: for
class labels a pair is 1 (same class) or 0 (:func:`skbert.pairs.label_pairs`). Label sets
and real-valued targets have degrees of alike, so their pairs carry a similarity in
``[0, 1]``: the Jaccard index of two label sets (two empty sets, both "none of the labels",
are alike: 1), or ``1 - |y_i - y_j| / (max(y) - min(y))`` for two targets. ``cosine`` then
regresses the cosine similarity of a pair onto it, ``cosent`` orders the pairs of a batch
by it.

Each text anchors ``per_text`` pairs; ``positive_fraction`` of them are drawn with a close
partner (a text sharing one of its labels, drawn through a label of the anchor chosen at
random; or one of the texts nearest in target, within 5% of the texts on either side), the
rest with a partner drawn uniformly, so a batch holds both fine and coarse differences.
"""

from __future__ import annotations

import numpy as np

NEAR_FRACTION = 0.05  # the close partners of a real-valued target: this share on either side


def _counts(per_text: int, positive_fraction: float) -> tuple[int, int]:
    positive = min(max(round(per_text * positive_fraction), 1), per_text - 1)
    return positive, per_text - positive


def _uniform_partners(anchors: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw a partner for each anchor uniformly among the other ``n - 1`` texts."""
    partners = rng.integers(0, n - 1, size=len(anchors))
    return partners + (partners >= anchors)  # skip the anchor itself


def jaccard(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Jaccard index of the label sets (bool rows) of each pair; 1 for two empty sets.

    Examples
    --------
    >>> sets = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=bool)
    >>> jaccard(sets[[0, 0, 2]], sets[[1, 2, 2]]).tolist()
    [0.5, 0.0, 1.0]
    """
    inter = (left & right).sum(axis=1)
    union = (left | right).sum(axis=1)
    return np.where(union == 0, 1.0, inter / np.maximum(union, 1)).astype(np.float32)


def _sharing_partners(
    sets: np.ndarray, anchors: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """For each anchor, a text that shares a label with it (an empty set: another empty one).

    The shared label is one of the anchor's, drawn uniformly; an anchor alone in its group
    gets a uniform partner.
    """
    n, n_labels = sets.shape
    groups = [np.flatnonzero(sets[:, j]) for j in range(n_labels)]
    groups.append(np.flatnonzero(~sets.any(axis=1)))  # the empty label set
    # each anchor's group: one of its labels, drawn uniformly; the last group if it has none
    own = np.column_stack([sets, ~sets.any(axis=1)])[anchors]
    pick = (rng.random(len(anchors)) * own.sum(axis=1)).astype(np.int64)
    group = np.argmax(np.cumsum(own, axis=1) > pick[:, None], axis=1)
    partners = _uniform_partners(anchors, n, rng)
    for g in np.unique(group):
        members = groups[g]
        if len(members) < 2:
            continue
        rows = np.flatnonzero(group == g)
        drawn = rng.integers(0, len(members) - 1, size=len(rows))
        position = np.searchsorted(members, anchors[rows])  # the anchor's own position
        partners[rows] = members[drawn + (drawn >= position)]
    return partners


def label_set_pairs(
    sets: np.ndarray, *, per_text: int, positive_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of texts with label sets, scored by the Jaccard index of their sets.

    Parameters
    ----------
    sets : ndarray of bool of shape (n_texts, n_labels)
        Each text's label set.
    per_text : int
        Pairs each text anchors; at least 2.
    positive_fraction : float
        Share of each text's pairs whose partner shares a label with it.
    rng : numpy.random.Generator
        Source of every random choice.

    Returns
    -------
    left, right : ndarray of int64
        The two texts of each pair.
    similarity : ndarray of float32
        The Jaccard index of their label sets.

    Examples
    --------
    >>> sets = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], dtype=bool)
    >>> left, right, sim = label_set_pairs(
    ...     sets, per_text=2, positive_fraction=0.5, rng=np.random.default_rng(0))
    >>> len(left), bool((left != right).all())
    (8, True)
    """
    n_positive, n_negative = _counts(per_text, positive_fraction)
    n = len(sets)
    near = np.repeat(np.arange(n), n_positive)
    far = np.repeat(np.arange(n), n_negative)
    left = np.concatenate([near, far])
    right = np.concatenate([_sharing_partners(sets, near, rng), _uniform_partners(far, n, rng)])
    order = rng.permutation(len(left))
    left, right = left[order], right[order]
    return left, right, jaccard(sets[left], sets[right])


def score_pairs(
    scores: np.ndarray, *, per_text: int, positive_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of texts with real-valued targets, scored ``1 - |y_i - y_j| / (max - min)``.

    Parameters
    ----------
    scores : ndarray of shape (n_texts,)
        Each text's target; not all equal.
    per_text : int
        Pairs each text anchors; at least 2.
    positive_fraction : float
        Share of each text's pairs whose partner is among the texts nearest in target
        (:data:`NEAR_FRACTION` of the texts on either side).
    rng : numpy.random.Generator
        Source of every random choice.

    Returns
    -------
    left, right : ndarray of int64
        The two texts of each pair.
    similarity : ndarray of float32
        How close their targets are, in ``[0, 1]``.

    Examples
    --------
    >>> left, right, sim = score_pairs(
    ...     np.array([0.0, 0.5, 1.0]), per_text=2, positive_fraction=0.5,
    ...     rng=np.random.default_rng(0))
    >>> len(left), float(sim.min()) >= 0.0, float(sim.max()) <= 1.0
    (6, True, True)
    """
    n_positive, n_negative = _counts(per_text, positive_fraction)
    n = len(scores)
    order = np.argsort(scores, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    near = np.repeat(np.arange(n), n_positive)
    width = max(1, int(np.ceil(NEAR_FRACTION * n)))
    offset = rng.integers(1, width + 1, size=len(near)) * rng.choice([-1, 1], size=len(near))
    target_rank = rank[near] + offset
    target_rank = np.where(
        (target_rank < 0) | (target_rank >= n), rank[near] - offset, target_rank
    )
    near_partners = order[np.clip(target_rank, 0, n - 1)]
    far = np.repeat(np.arange(n), n_negative)
    left = np.concatenate([near, far])
    right = np.concatenate([near_partners, _uniform_partners(far, n, rng)])
    shuffle = rng.permutation(len(left))
    left, right = left[shuffle], right[shuffle]
    spread = float(scores.max() - scores.min())
    similarity = 1.0 - np.abs(scores[left] - scores[right]) / spread
    return left, right, similarity.astype(np.float32)
