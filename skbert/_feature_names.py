"""The output columns of a vectorizer: their number and names, per embedding or per pair part."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn import get_config
from sklearn.base import ClassNamePrefixFeaturesOutMixin
from sklearn.utils.validation import check_is_fitted

if TYPE_CHECKING:
    from ._state import FittedState


class FeatureNamesMixin(ClassNamePrefixFeaturesOutMixin):
    """Output width and column names of a vectorizer: per embedding, or per pair part."""

    def _width(self, state: FittedState) -> int:
        """Columns of ``transform``'s output for the fitted ``state``."""
        parts = len(self.pair_features) if state.input_kind == "pairs" else 1
        return parts * state.embedding_dim

    @property
    def _n_features_out(self) -> int:
        return self._width(self._fitted)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output columns: ``sbertvectorizer0, ...``, or per part for pairs.

        Parameters
        ----------
        input_features : None
            Ignored; text input has no feature names.

        Returns
        -------
        feature_names_out : ndarray of str
        """
        check_is_fitted(self)
        if self.input_kind_ != "pairs":
            return super().get_feature_names_out()
        dim = self.embedding_dim_
        return np.asarray(
            [f"sbertvectorizer_{part}{i}" for part in self.pair_features for i in range(dim)],
            dtype=object,
        )

    def _check_text_columns(self, state: FittedState) -> None:
        """Refuse to embed texts into named columns sized for the pairs ``fit`` saw.

        ``set_output(transform="pandas")`` (or ``"polars"``) names the columns with
        ``get_feature_names_out``, which describes what ``fit`` was given: for a vectorizer
        fitted on pairs, ``len(pair_features) * dim`` columns, not a text embedding's ``dim``.
        """
        config = getattr(self, "_sklearn_output_config", {}).get("transform")
        if (
            state.input_kind == "pairs"
            and (config or get_config()["transform_output"]) != "default"
        ):
            raise ValueError(
                "This vectorizer was fitted on pairs, so get_feature_names_out names its "
                f"{self._width(state)} pair-feature columns, which do not fit the "
                f"{state.embedding_dim} columns of text embeddings. Embed texts into plain "
                "arrays: vectorizer.set_output(transform='default'), or within "
                "sklearn.config_context(transform_output='default')."
            )
