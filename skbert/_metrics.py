"""Scoring embeddings: cosine similarity of pairs, and its Spearman correlation with gold scores.

``SBERTVectorizer.score`` and the validation during training share these functions, so the
measure that ranks candidates in a search is the one that stops training early.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import spearmanr

_SAME = 1e-6  # cosine similarities closer than this differ by float rounding only


def pair_cosine(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``u`` with the same row of ``v`` (float64)."""
    u, v = u.astype(np.float64), v.astype(np.float64)
    norms = np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)
    return (u * v).sum(axis=1) / np.maximum(norms, 1e-12)


def spearman(similarity: np.ndarray, gold: np.ndarray) -> tuple[float, str | None]:
    """Spearman's rho between ``similarity`` and ``gold``, or NaN and the reason it is undefined.

    Parameters
    ----------
    similarity : ndarray of shape (n_pairs,)
        Predicted similarity of each pair.
    gold : ndarray of shape (n_pairs,)
        Gold scores.

    Returns
    -------
    rho : float
        In ``[-1, 1]``, or NaN when either side does not vary (no ranking exists).
    reason : str or None
        Why ``rho`` is NaN, in words a user can act on; None when it is defined.

    Examples
    --------
    >>> spearman(np.array([0.1, 0.5, 0.9]), np.array([1.0, 2.0, 3.0]))
    (1.0, None)
    >>> spearman(np.array([0.5, 0.5]), np.array([1.0, 2.0]))[1]
    'every pair got the same cosine similarity, so they have no ranking'
    """
    if len(similarity) < 2 or np.ptp(similarity) <= _SAME:
        return math.nan, "every pair got the same cosine similarity, so they have no ranking"
    if np.ptp(gold) == 0:
        return math.nan, "every gold score is the same, so they have no ranking"
    return float(spearmanr(similarity, gold).statistic), None
