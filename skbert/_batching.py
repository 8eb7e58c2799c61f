"""Each epoch's training batches, drawn as the objective's record says.

Training draws its batches from the run's generator: fixed rows (pairs, triplets) are
shuffled into batches of similar length (:func:`bucketed_batches`), except for the
objectives with ``random_batches`` (the in-batch negatives: rows of similar length are often
alike, and a look-alike in the batch is pushed away as a negative); labelled texts get fresh
pairs, triplets or ``(anchor, positive)`` pairs every epoch (:mod:`skbert.pairs`), or P
classes x K texts batches for the batch-mining objectives; texts with label sets or
real-valued targets get pairs scored by how alike their targets are
(:mod:`skbert._target_pairs`), or each text with its own target for a head.
:func:`draw_epochs` draws every epoch of a fit; :func:`steps_per_epoch` counts an epoch's
batches by drawing one, so the count comes from the code that builds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ._objectives import OBJECTIVES
from ._target_pairs import label_set_pairs, score_pairs
from ._windows import Windows, split
from .pairs import anchor_positive_pairs, class_batches, label_pairs, label_triplets

if TYPE_CHECKING:
    from ._encoder import Tokens
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


@dataclass(frozen=True)
class Sampling:
    """How a fit draws its batches: its objective's rules and the plan's sizes.

    ``text_rows`` is how rows are drawn from labelled texts (see
    :data:`skbert._objectives.TEXT_ROWS_PARAMETERS`), ``random_batches`` whether fixed rows
    stay in random batches; the rest are the plan's resolved settings.
    """

    text_rows: str | None
    random_batches: bool
    batch_size: int
    pairs_per_text: int | None = None
    positive_fraction: float | None = None
    texts_per_class: int | None = None
    rows_per_epoch: int | None = None

    @classmethod
    def of(cls, plan: FitPlan) -> Sampling:
        """Return the sampling ``plan`` asks for."""
        assert plan.objective is not None and plan.batch_size is not None
        record = OBJECTIVES[plan.objective]
        return cls(
            record.text_rows,
            record.random_batches,
            plan.batch_size,
            plan.pairs_per_text,
            plan.positive_fraction,
            plan.texts_per_class,
            plan.rows_per_epoch,
        )


def _scored_pairs(
    training: TrainingSet, per_text: int, positive_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """Pairs of texts with label sets or real-valued targets, scored by how alike they are."""
    assert training.labels is not None
    draw = label_set_pairs if training.labels_kind == "label_sets" else score_pairs
    left, right, similarity = draw(
        training.labels, per_text=per_text, positive_fraction=positive_fraction, rng=rng
    )
    return np.stack([left, right], axis=1), similarity


def _labelled_rows(
    training: TrainingSet, sampling: Sampling, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """One epoch's rows drawn from the texts' targets, and the rows' target."""
    labels = training.labels
    per_text = sampling.pairs_per_text
    assert per_text is not None and labels is not None
    if sampling.text_rows == "targets":  # each text per_text times, with its own target
        rows = rng.permutation(np.repeat(np.arange(len(labels)), per_text))
        return rows[:, None], labels[rows].astype(np.float32)
    if sampling.text_rows == "pairs" and training.labels_kind != "labels":
        assert sampling.positive_fraction is not None
        return _scored_pairs(training, per_text, sampling.positive_fraction, rng)
    if sampling.text_rows == "pairs":
        assert sampling.positive_fraction is not None
        left, right, same = label_pairs(
            labels,
            per_text=per_text,
            positive_fraction=sampling.positive_fraction,
            random_state=rng,
        )
        return np.stack([left, right], axis=1), same.astype(np.float32)
    if sampling.text_rows == "triplets":
        return np.stack(label_triplets(labels, per_text=per_text, random_state=rng), axis=1), None
    assert sampling.text_rows == "anchor_positive", sampling.text_rows
    anchor, positive = anchor_positive_pairs(labels, per_text=per_text, random_state=rng)
    return np.stack([anchor, positive], axis=1), labels[anchor]


def _class_batches(
    labels: np.ndarray, sampling: Sampling, rng: np.random.Generator
) -> list[Batch]:
    """P classes x K texts batches that embed about as many texts as the pair budget would."""
    per_text, per_class = sampling.pairs_per_text, sampling.texts_per_class
    assert per_text is not None and per_class is not None
    counts = np.bincount(labels)
    per_batch = min(sampling.batch_size // per_class, len(counts)) * per_class
    rows = int(counts.sum()) * per_text
    n_batches = -(-2 * min(rows, sampling.rows_per_epoch or rows) // per_batch)  # 2 per pair
    batches = class_batches(
        labels,
        batch_size=sampling.batch_size,
        per_class=per_class,
        n_batches=n_batches,
        random_state=rng,
    )
    return [Batch(batch[:, None], labels[batch]) for batch in batches]


def epoch_batches(
    training: TrainingSet, sampling: Sampling, text_lengths: np.ndarray, rng: np.random.Generator
) -> list[Batch]:
    """Draw one epoch's batches of ``training``."""
    if training.labels is None:
        assert training.index is not None
        return row_batches(
            training.index,
            training.target,
            text_lengths,
            sampling.batch_size,
            rng,
            by_length=not sampling.random_batches,  # no labels to mask look-alikes
        )
    if sampling.text_rows == "class_batches":
        return _class_batches(training.labels, sampling, rng)
    index, target = _labelled_rows(training, sampling, rng)
    if sampling.rows_per_epoch is not None and len(index) > sampling.rows_per_epoch:
        kept = np.sort(rng.choice(len(index), sampling.rows_per_epoch, replace=False))
        index, target = index[kept], None if target is None else target[kept]
    return row_batches(index, target, text_lengths, sampling.batch_size, rng)


def draw_epochs(
    training: TrainingSet, sampling: Sampling, text_lengths: np.ndarray, *, epochs: int, seed: int
) -> list[list[Batch]]:
    """Every epoch's batches, drawn from a generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    return [epoch_batches(training, sampling, text_lengths, rng) for _ in range(epochs)]


def steps_per_epoch(training: TrainingSet, sampling: Sampling) -> int:
    """How many batches :func:`epoch_batches` draws: the count of one epoch drawn.

    Every epoch draws as many batches (the rules of :mod:`skbert.pairs` fix the number of
    rows, the lengths only their order), so one epoch drawn from any generator tells.
    """
    n_texts = len(training.texts)
    lengths = np.zeros(n_texts, dtype=np.int64)
    return len(epoch_batches(training, sampling, lengths, np.random.default_rng(0)))


def training_views(
    tokens: Tokens, windows: Windows, batches: list[list[Batch]], seed: int
) -> tuple[Tokens, list[list[Batch]]]:
    """Windows of the training texts, and the batches with each text cell one of its windows.

    Each cell of each row draws one window of its text uniformly, from a generator seeded
    with ``seed``; a short text's only window is the text itself. The batches keep their
    rows, order and targets, so the plan's steps and budget are unchanged.
    """
    window_tokens, owner = split(tokens, windows)
    counts = np.bincount(owner, minlength=len(tokens))
    first = np.cumsum(counts) - counts
    rng = np.random.default_rng([seed, 19])  # its own stream: the batches' draws stay as they were
    views = []
    for epoch in batches:
        drawn = []
        for batch in epoch:
            pick = (rng.random(batch.index.shape) * counts[batch.index]).astype(np.int64)
            drawn.append(Batch(first[batch.index] + pick, batch.target))
        views.append(drawn)
    return window_tokens, views
