"""``score``: how well a fitted vectorizer's cosine similarities rank scored pairs."""

from __future__ import annotations

from typing import Any

from sklearn.utils.validation import check_is_fitted

from ._inputs import check_texts
from ._messages import warn
from ._metrics import pair_cosine, spearman
from ._targets import check_scores


class PairScoreMixin:
    """The STS benchmark's measure as the estimator's ``score`` (for ``GridSearchCV``).

    The host provides ``_fitted`` and ``_embed`` (:class:`skbert.SBERTVectorizer`).
    """

    def score(self, X: Any, y: Any) -> float:
        """Spearman correlation between the cosine similarity of each pair and ``y``.

        The measure of the STS benchmark; ``GridSearchCV`` uses it to rank candidates on
        scored pairs with no extra scorer.

        Parameters
        ----------
        X : sequence of pairs of str
            Sentence pairs.
        y : array-like of shape (n_samples,)
            Gold similarity scores, on any scale.

        Returns
        -------
        score : float
            Spearman's rho, in ``[-1, 1]``; 0.0, with a warning, when every pair gets the
            same cosine similarity (no ranking at all).
        """
        check_is_fitted(self)
        state = self._fitted
        columns = check_texts(X)
        if columns.input_kind != "pairs":
            raise ValueError(
                f"score needs pairs (a, b) in X, with gold similarity scores in y; got "
                f"{columns.input_kind}."
            )
        scores = check_scores(y, columns.n_samples)
        texts, index = columns.flat()
        embeddings = self._embed(state, texts)
        rho, reason = spearman(
            pair_cosine(embeddings[index[:, 0]], embeddings[index[:, 1]]), scores
        )
        if reason is not None:
            warn(
                f"Spearman's correlation is undefined: {reason}; score returns 0.0.",
                UserWarning,
            )
            return 0.0
        return rho
