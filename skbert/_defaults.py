"""Defaults chosen by measurement across datasets: budget, learning rate, normalisation.

Chosen across datasets of different shapes (``benchmarks/labelled_texts.py``; the rule and
the table are in docs/objectives.md, "The default budget"): on labelled texts, each text
anchors about ``BUDGET_ROWS / n`` rows, between 2 and 32, and an epoch draws at most
``MAX_ROWS_PER_EPOCH`` rows, so the cost of a default fit grows with ``n`` up to a cap.
``early_stopping="auto"`` holds rows out (and keeps the starting weights if fine-tuning
does not beat them) from ``AUTO_STOPPING_TEXTS`` labelled texts, or whenever ``X_val`` is
given; a fit planned over more than ``LARGE_BUDGET_ROWS`` rows without a bound warns.
The default learning rate is higher on labelled texts, whose default budget is few steps.
The default normalisation is chosen for what ``transform`` hands the next estimator: unscaled
embeddings of texts (a linear model fits them better), and the model's own normalisation for
pairs, whose pair features ``[u, v, |u - v|]`` compare unit vectors better.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._messages import warn

BUDGET_ROWS = 4096
PAIRS_PER_TEXT_RANGE = (2, 32)
MAX_ROWS_PER_EPOCH = 8192
LARGE_BUDGET_ROWS = 65536
AUTO_STOPPING_TEXTS = 2000
DEFAULT_POSITIVE_FRACTION = 0.5  # of the pairs drawn from labelled texts, same-class ones
DEFAULT_TEXTS_PER_CLASS = 4  # K of the P classes x K texts batches
LEARNING_RATE = 2e-5  # the paper's
LABELLED_TEXTS_LEARNING_RATE = 5e-5  # fewer steps: the default budget on few texts
# The kinds of data of single texts with a target: labels, label sets, real-valued targets.
TARGET_TEXTS = ("labelled_texts", "multilabel_texts", "scored_texts")


def resolve_normalize(normalize: bool | str | None, input_kind: str) -> bool | str:
    """Resolve ``normalize=None`` for what ``fit`` was given: False for texts, else "auto".

    Examples
    --------
    >>> resolve_normalize(None, "texts"), resolve_normalize(None, "pairs")
    (False, 'auto')
    >>> resolve_normalize(True, "texts")
    True
    """
    if normalize is not None:
        return normalize
    return False if input_kind == "texts" else "auto"


def default_learning_rate(kind: str) -> float:
    """Peak learning rate when ``learning_rate=None``: higher on texts with targets.

    Examples
    --------
    >>> default_learning_rate("scored_pairs"), default_learning_rate("labelled_texts")
    (2e-05, 5e-05)
    """
    return LABELLED_TEXTS_LEARNING_RATE if kind in TARGET_TEXTS else LEARNING_RATE


def default_pairs_per_text(n_texts: int) -> int:
    """Rows each of ``n_texts`` labelled texts anchors by default: fewer as there are more.

    Examples
    --------
    >>> [default_pairs_per_text(n) for n in (48, 384, 1200, 10000)]
    [32, 11, 4, 2]
    """
    low, high = PAIRS_PER_TEXT_RANGE
    return int(np.clip(-(-BUDGET_ROWS // max(n_texts, 1)), low, high))


def resolve_early_stopping(
    params: Mapping[str, Any], kind: str, objective: str | None, n_rows: int, given: bool
) -> bool:
    """Resolve ``early_stopping="auto"``: on for texts with targets, with ``X_val`` or many."""
    if params["early_stopping"] != "auto":
        return bool(params["early_stopping"])
    labelled = kind in TARGET_TEXTS and objective is not None
    return labelled and (given or n_rows >= AUTO_STOPPING_TEXTS)


def warn_large_budget(
    total_steps: int, batch_size: int, max_steps: int | None, max_time: float | None
) -> None:
    """Warn when a fit is planned over many rows with no bound on its time or steps."""
    rows = total_steps * batch_size
    if rows > LARGE_BUDGET_ROWS and max_steps is None and max_time is None:
        warn(
            f"This fit trains {total_steps} steps of batch_size={batch_size} "
            f"({rows} rows; the default budget on labelled texts is at most "
            f"{MAX_ROWS_PER_EPOCH} per epoch), which can take hours on a CPU. Bound it with "
            "max_steps or max_time, or fewer epochs or pairs_per_text.",
            UserWarning,
        )
