"""Every batch skbert builds: length-sorted for embedding, and each epoch's training batches.

Embedding sorts texts by length so a batch pads little (:func:`length_sorted_batches`).
Training draws its batches from the run's generator: fixed rows (pairs, triplets) are
shuffled into batches of similar length (:func:`bucketed_batches`), except for the
in-batch-negative objectives, whose batches stay random (rows of similar length are often
alike, and a look-alike in the batch is pushed away as a negative); labelled texts get fresh
pairs, triplets or ``(anchor, positive)`` pairs every epoch (:mod:`skbert.pairs`), or P
classes x K texts batches for the batch-mining objectives. :func:`schedule` draws every
epoch of a fit; :func:`steps_per_epoch` counts them without drawing, for the fit's plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ._objectives import BATCH_MINING, IN_BATCH_NEGATIVES, PAIR_LOSSES
from .pairs import anchor_positive_pairs, class_batches, label_pairs, label_triplets

if TYPE_CHECKING:
    from ._plan import FitPlan
    from ._training_set import TrainingSet

MEGABATCH = 64  # batches sorted together; larger means less padding, less randomness


@dataclass(frozen=True)
class Batch:
    """One training step's rows: ``index[r, c]`` is the text in column ``c`` of row ``r``.

    ``target`` holds one score, class index or pair label per row, or is None.
    """

    index: np.ndarray
    target: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.index)


def length_sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Row indices in batches of similar length, longest first, so padding stays small."""
    order = np.argsort(-lengths, kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def bucketed_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffled batches of rows of similar length.

    Rows are shuffled, cut into mega-batches of ``64 * batch_size`` rows, sorted by length
    inside each, cut into batches, and the batches shuffled. Padding then adds only a few
    percent to the tokens of a random batch's text, while every epoch still sees a different,
    reproducible order.

    Parameters
    ----------
    lengths : ndarray of shape (n_rows,)
        Length of each row (for pairs, the longer of the two texts).
    batch_size : int
        Rows per batch; the last batch of a mega-batch may be smaller.
    rng : numpy.random.Generator
        Source of every random choice.

    Returns
    -------
    batches : list of ndarray of row indices
    """
    order = rng.permutation(len(lengths))
    batches = []
    step = batch_size * MEGABATCH
    for start in range(0, len(order), step):
        chunk = order[start : start + step]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def n_bucketed_batches(n_rows: int, batch_size: int) -> int:
    """How many batches :func:`bucketed_batches` cuts ``n_rows`` rows into."""
    full, rest = divmod(n_rows, batch_size * MEGABATCH)
    return full * MEGABATCH + math.ceil(rest / batch_size)


def row_batches(
    index: np.ndarray,
    target: np.ndarray | None,
    text_lengths: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
    by_length: bool = True,
) -> list[Batch]:
    """Cut the rows of ``index`` into :func:`bucketed_batches`, by each row's longest text.

    Parameters
    ----------
    index : ndarray of shape (n_rows, n_columns)
        Text indices of each row.
    target : ndarray of shape (n_rows,) or None
        Per-row target.
    text_lengths : ndarray of shape (n_texts,)
        Token count of each text.
    batch_size : int
        Rows per batch.
    rng : numpy.random.Generator
        Source of every random choice.
    by_length : bool, default=True
        False: random batches (every row counts as of equal length).

    Returns
    -------
    batches : list of Batch
    """
    lengths = text_lengths[index].max(axis=1) if by_length else np.zeros(len(index))
    return [
        Batch(index[rows], None if target is None else target[rows])
        for rows in bucketed_batches(lengths, batch_size, rng)
    ]


def _labelled_rows(
    training: TrainingSet, plan: FitPlan, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """One epoch's rows drawn from the labels, and their target."""
    labels, per_text = training.labels, plan.pairs_per_text
    assert labels is not None and per_text is not None
    if plan.objective in PAIR_LOSSES:
        assert plan.positive_fraction is not None
        left, right, same = label_pairs(
            labels, per_text=per_text, positive_fraction=plan.positive_fraction, random_state=rng
        )
        return np.stack([left, right], axis=1), same.astype(np.float32)
    if plan.objective == "triplet":
        return np.stack(label_triplets(labels, per_text=per_text, random_state=rng), axis=1), None
    anchor, positive = anchor_positive_pairs(labels, per_text=per_text, random_state=rng)
    return np.stack([anchor, positive], axis=1), labels[anchor]


def _classes_per_batch(counts: np.ndarray, plan: FitPlan) -> int:
    assert plan.texts_per_class is not None
    return min(plan.batch_size // plan.texts_per_class, len(counts))


def _n_class_batches(counts: np.ndarray, plan: FitPlan) -> int:
    """Batches that embed about as many texts as the pair budget would (2 per pair)."""
    assert plan.pairs_per_text is not None and plan.texts_per_class is not None
    per_batch = _classes_per_batch(counts, plan) * plan.texts_per_class
    rows = int(counts.sum()) * plan.pairs_per_text
    return math.ceil(2 * min(rows, plan.rows_per_epoch or rows) / per_batch)


def epoch_batches(
    training: TrainingSet, plan: FitPlan, text_lengths: np.ndarray, rng: np.random.Generator
) -> list[Batch]:
    """Draw one epoch's batches of ``training`` as ``plan`` says."""
    if training.labels is None:
        assert training.index is not None
        by_length = plan.objective not in IN_BATCH_NEGATIVES  # no labels to mask look-alikes
        return row_batches(
            training.index, training.target, text_lengths, plan.batch_size, rng, by_length
        )
    if plan.objective in BATCH_MINING:
        assert plan.texts_per_class is not None
        counts = np.bincount(training.labels)
        batches = class_batches(
            training.labels,
            batch_size=plan.batch_size,
            per_class=plan.texts_per_class,
            n_batches=_n_class_batches(counts, plan),
            random_state=rng,
        )
        return [Batch(batch[:, None], training.labels[batch]) for batch in batches]
    index, target = _labelled_rows(training, plan, rng)
    if plan.rows_per_epoch is not None and len(index) > plan.rows_per_epoch:
        kept = np.sort(rng.choice(len(index), plan.rows_per_epoch, replace=False))
        index, target = index[kept], None if target is None else target[kept]
    return row_batches(index, target, text_lengths, plan.batch_size, rng)


def schedule(training: TrainingSet, plan: FitPlan, text_lengths: np.ndarray) -> list[list[Batch]]:
    """Every epoch's batches, drawn from a generator seeded with ``plan.seed``."""
    rng = np.random.default_rng(plan.seed)
    return [epoch_batches(training, plan, text_lengths, rng) for _ in range(plan.epochs)]


def _n_labelled_rows(counts: np.ndarray, plan: FitPlan) -> int:
    """Rows :func:`_labelled_rows` draws per epoch (the rules of :mod:`skbert.pairs`)."""
    per_text = plan.pairs_per_text
    assert per_text is not None
    anchoring = int(counts[counts > 1].sum())  # texts of a class of one anchor no positive
    if plan.objective in PAIR_LOSSES:
        assert plan.positive_fraction is not None
        positives = min(max(round(per_text * plan.positive_fraction), 1), per_text - 1)
        rows = anchoring * positives + int(counts.sum()) * (per_text - positives)
    else:
        rows = anchoring * per_text
    return min(rows, plan.rows_per_epoch or rows)


def steps_per_epoch(training: TrainingSet, plan: FitPlan) -> int:
    """How many batches :func:`epoch_batches` draws, counted without drawing them."""
    if training.labels is None:
        assert training.index is not None
        return n_bucketed_batches(len(training.index), plan.batch_size)
    counts = np.bincount(training.labels)
    if plan.objective in BATCH_MINING:
        return _n_class_batches(counts, plan)
    return n_bucketed_batches(_n_labelled_rows(counts, plan), plan.batch_size)
