"""Checking what users pass as ``y``, and reading its type the way scikit-learn does.

``y`` is one of three kinds of target (:func:`check_target`), named as
:func:`sklearn.utils.multiclass.type_of_target` names them:

- class labels (``"binary"``, ``"multiclass"``): one label per row, any hashable type;
- real-valued scores (``"continuous"``): one finite float per row;
- label sets (``"multilabel-indicator"``): an ``(n_samples, n_labels)`` 0/1 matrix, dense or
  scipy sparse, as :class:`~sklearn.preprocessing.MultiLabelBinarizer` gives.

Rows marked unlabelled (the ``unlabelled`` parameter, as scikit-learn's semi-supervised
estimators mark them with ``-1``) are found by :func:`labelled_rows`. Every error names the
argument, the offending position and value, and how to fix it.
"""

from __future__ import annotations

import math
from numbers import Number, Real
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.utils.multiclass import type_of_target

from ._inputs import describe, is_missing

YKind = Literal["labels", "scores", "label_sets"]
# scikit-learn's name of each kind of target (``type_of_target``), as recorded in the plan.
TARGET_TYPES: dict[str, str] = {
    "labels": "multiclass",
    "scores": "continuous",
    "label_sets": "multilabel-indicator",
}


def _check_length(n_rows: int, n_samples: int, name: str, x_name: str) -> None:
    if n_rows != n_samples:
        raise ValueError(
            f"{x_name} has {n_samples} rows but {name} has {n_rows} values; they must "
            "match one to one."
        )


def _check_label_sets(matrix: Any, n_samples: int, name: str, x_name: str) -> np.ndarray:
    """Validate a 0/1 indicator matrix of label sets; return it as a dense bool array."""
    dense = matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)
    _check_length(len(dense), n_samples, name, x_name)
    if dense.shape[1] == 0:
        raise ValueError(f"{name} has shape {dense.shape}: a label-set matrix needs a column.")
    if dense.dtype == object or dense.dtype.kind not in "biuf":
        try:
            dense = dense.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} is a matrix of {dense.dtype} values; a label-set matrix holds 0 and 1 "
                "(one column per label): build it with sklearn.preprocessing.MultiLabelBinarizer."
            ) from None
    bad = np.argwhere(~np.isfinite(dense)) if dense.dtype.kind == "f" else np.empty((0, 2))
    if len(bad):
        i, j = bad[0]
        raise ValueError(
            f"{name}[{i}, {j}] is {dense[i, j]}; a label-set matrix holds 0 or 1 in every "
            "cell: fill the missing cells, or drop those rows."
        )
    other = np.argwhere((dense != 0) & (dense != 1))
    if len(other):
        i, j = other[0]
        whole = bool(np.all(dense == np.round(dense)))
        fix = (
            "For several class columns, fit one vectorizer per column, or turn each row's "
            "labels into a label set with sklearn.preprocessing.MultiLabelBinarizer."
            if whole
            else f"skbert fine-tunes on one real-valued target: pass one column, {name}[:, j]."
        )
        raise ValueError(
            f"{name} is a {dense.shape[0]} x {dense.shape[1]} matrix, but {name}[{i}, {j}] = "
            f"{dense[i, j]}; a matrix target is a label-set indicator of 0s and 1s. {fix}"
        )
    labels = dense.astype(bool)
    if not labels.any():
        raise ValueError(
            f"{name} is a label-set matrix with no 1 anywhere: no row has any of the "
            f"{labels.shape[1]} labels, so there is nothing to learn. Check the matrix (a "
            "label set marks the labels a row has with 1), or fit without y."
        )
    return labels


def check_target(
    y: Any, n_samples: int, *, name: str = "y", x_name: str = "X"
) -> tuple[np.ndarray, YKind]:
    """Validate ``y`` and read its kind: class labels, real-valued scores or label sets.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_labels), or sparse matrix
        Class labels (ints, strings, any hashable), real-valued scores, or a 0/1
        indicator matrix of label sets.
    n_samples : int
        Number of rows of ``X``, which ``y`` must match.
    name, x_name : str, default="y", "X"
        Names of the arguments, for error messages (``"y_val"``, ``"X_val"``).

    Returns
    -------
    y : ndarray of shape (n_samples,), or of bool of shape (n_samples, n_labels)
    kind : {"labels", "scores", "label_sets"}
        ``"scores"`` for floats with a fractional part (``type_of_target`` says
        ``"continuous"``), ``"label_sets"`` for an indicator matrix, ``"labels"`` otherwise.

    Examples
    --------
    >>> check_target([0.5, 0.25], 2)[1], check_target(["a", "b"], 2)[1]
    ('scores', 'labels')
    >>> check_target([[1, 0], [1, 1]], 2)[1]
    'label_sets'
    """
    if sp.issparse(y):
        return _check_label_sets(y, n_samples, name, x_name), "label_sets"
    if isinstance(y, str) or not hasattr(y, "__len__"):
        raise TypeError(
            f"{name} must be an array-like of labels, scores or label sets, got {describe(y)}."
        )
    values = np.asarray(y.to_numpy() if hasattr(y, "iloc") else y)
    if values.ndim == 2 and values.shape[1] > 1:
        return _check_label_sets(values, n_samples, name, x_name), "label_sets"
    if values.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one label or score per row of {x_name}) or a label-set "
            f"matrix, got shape {values.shape}; use {name}.ravel() for a column vector."
        )
    _check_length(len(values), n_samples, name, x_name)
    if values.dtype == object:
        for i, value in enumerate(values):
            if is_missing(value) or (isinstance(value, Real) and not math.isfinite(value)):
                raise ValueError(
                    f"{name}[{i}] is {describe(value)}; every label must be given: drop those "
                    "rows or fill them."
                )
        if all(isinstance(v, Number) and not isinstance(v, bool) for v in values):
            values = values.astype(np.float64)
    if values.dtype.kind in "fc":
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ValueError(
                f"{name}[{bad[0]}] is {values[bad[0]]}; labels and scores must be finite: drop "
                "those rows or fill them."
            )
    try:
        kind = type_of_target(values)
    except TypeError as exc:
        raise TypeError(
            f"{name} mixes label types that cannot be compared ({exc}); give every label the "
            f"same type, e.g. {name}.astype(str)."
        ) from None
    if kind == "continuous":
        return values, "scores"
    if kind in ("binary", "multiclass"):
        return values, "labels"
    raise ValueError(
        f"{name} is of type {kind!r}; expected one class label or one real-valued score per "
        "row, or a 0/1 label-set matrix."
    )


def labelled_rows(y: np.ndarray, kind: YKind, marker: Any, *, name: str = "y") -> np.ndarray:
    """Return the mask of the rows of ``y`` that do not hold the ``unlabelled`` marker.

    Raises
    ------
    ValueError
        If ``y`` holds label sets (a row without labels is a row of 0s), or the marker never
        occurs in ``y``: a marker that marks nothing is a mistake (the wrong value, or the
        labels already filtered), never silently a no-op.

    Examples
    --------
    >>> labelled_rows(np.array([0, -1, 1]), "labels", -1)
    array([ True, False,  True])
    """
    if kind == "label_sets":
        raise ValueError(
            f"unlabelled={marker!r} marks rows of class labels or scores, but {name} is a "
            "label-set matrix; drop the unlabelled rows before fit, or set unlabelled=None."
        )
    unlabelled = np.fromiter((value == marker for value in y.tolist()), bool, len(y))
    if not unlabelled.any():
        shown = ", ".join(repr(v) for v in np.unique(y)[:5].tolist())
        raise ValueError(
            f"unlabelled={marker!r} never occurs in {name} (its values include {shown}); set "
            "unlabelled to the value that marks unlabelled rows (scikit-learn uses -1), or "
            "unlabelled=None when every row is labelled."
        )
    return ~unlabelled


def check_scores(y: Any, n_samples: int) -> np.ndarray:
    """Validate the gold similarity scores ``score`` ranks pairs against.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Numeric gold scores, on any scale.
    n_samples : int
        Number of pairs.

    Returns
    -------
    y : ndarray of float64

    Raises
    ------
    TypeError
        If ``y`` is not numeric.
    ValueError
        If ``y`` is not one finite score per pair, or all scores are equal (Spearman's
        correlation is then undefined).
    """
    values, kind = check_target(y, n_samples)
    if kind == "label_sets" or values.dtype.kind not in "biuf":
        raise TypeError(
            f"y must hold one numeric gold similarity score per pair, but y[0] is "
            f"{describe(values[0])}."
        )
    if values.min() == values.max():
        raise ValueError(
            f"Every score in y equals {values[0]}; Spearman's correlation needs gold scores "
            "that vary: score at least two pairs with different gold scores."
        )
    return values.astype(np.float64)
