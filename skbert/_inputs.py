"""Checking what users pass as ``X`` and ``y``, before any heavy work starts.

``X`` is one of three shapes of text data:

- texts: a 1-D sequence of ``str`` (list, tuple, numpy array, pandas Series);
- pairs: ``n`` rows of 2 texts (list of tuples, ``(n, 2)`` array, two-column DataFrame);
- triplets: ``n`` rows of 3 texts (anchor, positive, negative).

Every error names the argument, the offending position and value, and how to fix it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

XKind = Literal["texts", "pairs", "triplets"]
_KIND_BY_WIDTH: dict[int, XKind] = {1: "texts", 2: "pairs", 3: "triplets"}
_UNICODE_BLOCK = 4096  # texts checked for valid Unicode in one call


@dataclass(frozen=True)
class TextColumns:
    """``X`` as columns of texts: one column for texts, two for pairs, three for triplets.

    ``input_kind`` names the shape (``"texts"``, ``"pairs"``, ``"triplets"``); the kind of
    training data, which ``y`` decides too, is :func:`skbert._objectives.data_kind`.
    """

    columns: tuple[list[str], ...]
    input_kind: XKind

    @property
    def n_samples(self) -> int:
        """Number of rows."""
        return len(self.columns[0])

    def flat(self) -> tuple[list[str], np.ndarray]:
        """Every text once, column after column, and each row's indices into that list.

        Returns
        -------
        texts : list of str
            ``columns[0] + columns[1] + ...``.
        index : ndarray of shape (n_samples, n_columns)
            ``texts[index[r, c]]`` is the text in column ``c`` of row ``r``.
        """
        n, width = self.n_samples, len(self.columns)
        texts = [text for column in self.columns for text in column]
        return texts, np.arange(n)[:, None] + n * np.arange(width)[None, :]

    def subset(self, rows: np.ndarray) -> TextColumns:
        """Return the given rows, in the given order."""
        return TextColumns(
            tuple([column[i] for i in rows] for column in self.columns), self.input_kind
        )


def describe(value: Any) -> str:
    value = value.item() if isinstance(value, np.generic) else value
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} (type {type(value).__name__})"


def is_missing(value: Any) -> bool:
    """Whether ``value`` marks a missing entry: None, NaN, or pandas' ``NA`` / ``NaT``."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def _check_text(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if is_missing(value):
        fix = "drop those rows or fill them first, e.g. with pandas `.fillna('')`"
    elif isinstance(value, bytes):
        fix = "decode it first, e.g. value.decode('utf-8')"
    elif _is_row(value):
        fix = "every row must have the same form: all single texts, all pairs or all triplets"
    else:
        fix = "convert it with str() if it really is text"
    raise TypeError(f"{where} is {describe(value)}; every text must be a str: {fix}.")


def _check_unicode(texts: list[str], where: Callable[[int], str]) -> None:
    """Reject texts that are not valid Unicode (lone surrogates), which no tokenizer takes.

    Blocks of texts are encoded at once, so the common case costs one C call per block.
    """
    for start in range(0, len(texts), _UNICODE_BLOCK):
        block = texts[start : start + _UNICODE_BLOCK]
        try:
            "".join(block).encode("utf-8")
        except UnicodeEncodeError:
            for i, text in enumerate(block, start):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise ValueError(
                        f"{where(i)} holds {text[exc.start : exc.end]!r} at character "
                        f"{exc.start}, a lone surrogate, which is not valid Unicode text: "
                        "repair it, e.g. text.encode('utf-8', 'replace').decode('utf-8')."
                    ) from None


def _rows(X: Any, name: str) -> tuple[list[Any], int | None]:
    """``X`` as a list of rows, and its width when ``X`` is a 2-D array or DataFrame."""
    if isinstance(X, (str, bytes)):
        raise TypeError(
            f"Iterable over raw text documents expected, {type(X).__name__} object received "
            f"as {name}: wrap a single text in a list, {name}=[text]."
        )
    if isinstance(X, (Mapping, set, frozenset)):
        raise TypeError(
            f"{name} must be an ordered sequence of texts, got a {type(X).__name__}: "
            f"pass a list, e.g. {name}=list(...)."
        )
    if hasattr(X, "iloc"):  # pandas Series or DataFrame
        X = X.to_numpy(dtype=object)
    if hasattr(X, "toarray") or hasattr(X, "tocsr"):
        raise TypeError(f"{name} is a sparse matrix; skbert needs raw texts (str), not features.")
    if isinstance(X, np.ndarray):
        if X.ndim == 1:
            return list(X), None
        if X.ndim == 2:
            return [list(row) for row in X], X.shape[1]
        raise ValueError(
            f"{name} has {X.ndim} dimensions (shape {X.shape}); expected a 1-D array of texts "
            "or a 2-D array of pairs (n, 2) or triplets (n, 3)."
        )
    try:
        return list(X), None
    except TypeError:
        raise TypeError(
            f"{name} must be a sequence of texts, pairs or triplets, got {describe(X)}."
        ) from None


def check_texts(X: Any, *, name: str = "X", allow_empty: bool = False) -> TextColumns:
    """Validate ``X`` and split it into columns of texts.

    Parameters
    ----------
    X : sequence of str, or sequence of 2- or 3-tuples of str, or 2-D array / DataFrame
        Texts, pairs or triplets.
    name : str, default="X"
        Name of the argument, for error messages.
    allow_empty : bool, default=False
        Whether zero rows are accepted (``transform([])`` is; ``fit([])`` is not).

    Returns
    -------
    columns : TextColumns
    """
    rows, width = _rows(X, name)
    if not rows:
        if allow_empty:
            return TextColumns(([],), "texts")
        raise ValueError(f"{name} is empty; pass at least one text.")
    if width is None and _is_row(rows[0]):
        width = len(rows[0])
        rows = [_as_row(row, i, width, name) for i, row in enumerate(rows)]
    if width is None:
        texts = [_check_text(text, f"{name}[{i}]") for i, text in enumerate(rows)]
        _check_unicode(texts, lambda i: f"{name}[{i}]")
        return TextColumns((texts,), "texts")
    if width not in _KIND_BY_WIDTH:
        raise ValueError(
            f"{name} has rows of {width} texts; expected single texts, pairs (2 per row) or "
            "triplets (3 per row: anchor, positive, negative)."
        )
    columns = tuple(
        [_check_text(row[j], f"{name}[{i}][{j}]") for i, row in enumerate(rows)]
        for j in range(width)
    )
    for j, column in enumerate(columns):
        _check_unicode(column, lambda i, j=j: f"{name}[{i}][{j}]")
    return TextColumns(columns, _KIND_BY_WIDTH[width])


def _is_row(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def _as_row(row: Any, i: int, width: int, name: str) -> Any:
    if not _is_row(row):
        raise TypeError(
            f"{name}[{i}] is {describe(row)} but {name}[0] is a row of {width} texts; "
            "every row must have the same form."
        )
    if len(row) != width:
        raise ValueError(
            f"{name}[{i}] has {len(row)} texts but {name}[0] has {width}; every row of pairs "
            "must have 2 texts and every row of triplets 3."
        )
    return row
