import math

import numpy as np
import pytest

from skbert import SBERTVectorizer
from skbert._batching import (
    Sampling,
    bucketed_batches,
    draw_epochs,
    epoch_batches,
    row_batches,
    steps_per_epoch,
)
from skbert._objectives import OBJECTIVES
from skbert._planning import make_plan

PARAMS = SBERTVectorizer().get_params()
TEXTS = [f"text {i}" for i in range(12)]
LABELS = ["x", "y", "z"] * 4


def planned(loss, X, y=None, **params):
    return make_plan({**PARAMS, "loss": loss, "random_state": 0, **params}, X, y)


def epoch(loss, X, y=None, rng=0, **params):
    plan, data = planned(loss, X, y, **params)
    lengths = np.ones(len(data.training.texts), dtype=np.int64)
    return epoch_batches(data.training, Sampling.of(plan), lengths, np.random.default_rng(rng))


# -- training batches -------------------------------------------------------------------------


def test_bucketed_batches_cover_every_row_once():
    lengths = np.random.default_rng(0).integers(1, 50, size=1000)
    batches = bucketed_batches(lengths, 16, np.random.default_rng(1))
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    assert max(len(b) for b in batches) == 16


def test_bucketed_batches_are_reproducible_and_differ_between_seeds():
    lengths = np.random.default_rng(0).integers(1, 50, size=500)
    a = bucketed_batches(lengths, 8, np.random.default_rng(3))
    b = bucketed_batches(lengths, 8, np.random.default_rng(3))
    c = bucketed_batches(lengths, 8, np.random.default_rng(4))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=False))


def test_bucketing_cuts_padding_compared_with_random_batches():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 60, size=4096)

    def padded_tokens(batches):
        return sum(len(b) * lengths[b].max() for b in batches)

    random_batches = np.array_split(rng.permutation(4096), 4096 // 16)
    bucketed = bucketed_batches(lengths, 16, rng)
    assert padded_tokens(bucketed) < 1.1 * lengths.sum()
    assert padded_tokens(random_batches) > 1.5 * lengths.sum()


def test_row_batches_keep_rows_and_targets_together():
    index = np.arange(20).reshape(10, 2)
    target = np.arange(10, dtype=np.float32)
    batches = row_batches(index, target, np.arange(20), 3, np.random.default_rng(0))
    rows = np.concatenate([b.index for b in batches])
    assert sorted(rows[:, 0].tolist()) == list(range(0, 20, 2))
    for batch in batches:
        np.testing.assert_array_equal(batch.index[:, 0] // 2, batch.target)


@pytest.mark.parametrize(("loss", "sorted_by_length"), [("mnrl", False), ("cosine", True)])
def test_in_batch_negatives_on_fixed_pairs_get_random_batches(loss, sorted_by_length):
    # Rows of similar length are often alike, and for mnrl a look-alike in the batch is a
    # false negative: its batches are random; other objectives keep the padding savings.
    pairs = [(f"a {'x ' * i}", f"b {'x ' * i}") for i in range(256)]
    y = None if loss == "mnrl" else np.linspace(0, 1, 256)
    plan, data = planned(loss, pairs, y, batch_size=16)
    lengths = np.asarray([len(t) for t in data.training.texts])
    batches = epoch_batches(data.training, Sampling.of(plan), lengths, np.random.default_rng(0))
    spread = np.mean([np.ptp(lengths[b.index[:, 0]]) for b in batches])
    assert bool(spread < np.ptp(lengths) / 8) == sorted_by_length


# -- rows drawn from labelled texts -----------------------------------------------------------


@pytest.mark.parametrize("loss", ["contrastive", "online_contrastive", "cosine", "cosent"])
def test_pair_objectives_draw_labelled_pairs_with_the_budget(loss):
    batches = epoch(loss, TEXTS, LABELS, pairs_per_text=6, positive_fraction=0.5, batch_size=8)
    index = np.concatenate([b.index for b in batches])
    same = np.concatenate([b.target for b in batches])
    assert index.shape == (12 * 6, 2) and same.sum() == 12 * 3
    labels = np.asarray(LABELS)
    assert (labels[index[same == 1, 0]] == labels[index[same == 1, 1]]).all()


def test_labelled_rows_are_drawn_anew_each_epoch():
    plan, data = planned("contrastive", TEXTS, LABELS, epochs=2)
    lengths = np.ones(12, dtype=np.int64)
    first, second = draw_epochs(data.training, Sampling.of(plan), lengths, epochs=2, seed=0)
    assert not np.array_equal(first[0].index, second[0].index)


def test_triplet_objective_draws_triplets_from_labels():
    batches = epoch("triplet", TEXTS, LABELS, pairs_per_text=2)
    index = np.concatenate([b.index for b in batches])
    labels = np.asarray(LABELS)
    assert index.shape == (24, 3) and batches[0].target is None
    assert (labels[index[:, 0]] == labels[index[:, 1]]).all()
    assert (labels[index[:, 0]] != labels[index[:, 2]]).all()


def test_mnrl_on_labelled_texts_gets_the_anchor_labels_as_target():
    for batch in epoch("mnrl", TEXTS, LABELS, pairs_per_text=2):
        np.testing.assert_array_equal(
            batch.target, [ord(LABELS[i]) - ord("x") for i in batch.index[:, 0]]
        )


@pytest.mark.parametrize("loss", ["batch_hard_triplet", "batch_all_triplet"])
def test_batch_mining_gets_p_by_k_batches_embedding_as_many_texts_as_pairs(loss):
    batches = epoch(loss, TEXTS, LABELS, pairs_per_text=4, batch_size=6, texts_per_class=2)
    assert len(batches) == math.ceil(2 * 12 * 4 / 6)  # 48 pairs of 2 texts, 6 texts a batch
    for batch in batches:
        assert batch.index.shape == (6, 1)
        assert np.bincount(batch.target).tolist() == [2, 2, 2]


def test_batch_mining_with_fewer_classes_than_a_batch_holds_draws_more_batches():
    # 3 classes x 2 texts = 6 texts a batch, though batch_size=32 would hold 16 classes
    batches = epoch("batch_all_triplet", TEXTS, LABELS, pairs_per_text=4, texts_per_class=2)
    assert sum(len(b) for b in batches) >= 2 * 12 * 4
    assert len(batches) == math.ceil(2 * 12 * 4 / 6)


# -- the plan's step count is what is drawn ---------------------------------------------------

MIXED = ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
MIXED_LABELS = [0, 0, 0, 0, 1, 1, 2, 3, 3]  # a class of one anchors no positive
MIXED_PAIRS = [(t, t + "!") for t in MIXED]
# Data of every kind, as (X, y) for fit.
DATA = {
    "texts": (MIXED, None),
    "labelled_texts": (MIXED, MIXED_LABELS),
    "multilabel_texts": (MIXED, np.eye(3, dtype=int)[[0, 0, 1, 1, 2, 2, 0, 1, 2]] | [[1, 0, 0]]),
    "scored_texts": (MIXED, np.linspace(0.1, 0.9, 9)),
    "pairs": (MIXED_PAIRS, None),
    "scored_pairs": (MIXED_PAIRS, np.linspace(0.0, 1.0, 9)),
    "labelled_pairs": (MIXED_PAIRS, [0, 1] * 4 + [1]),
    "triplets": ([(t, t + "!", "other") for t in MIXED], None),
}
EVERY_OBJECTIVE_AND_DATA = [(o.name, kind) for o in OBJECTIVES.values() for kind in o.data]


@pytest.mark.filterwarnings("ignore:y has 1 class with a single example")
@pytest.mark.parametrize(("loss", "kind"), EVERY_OBJECTIVE_AND_DATA)
@pytest.mark.parametrize(("per_text", "batch_size"), [(2, 8), (5, 8), (40, 32)])
def test_every_epoch_draws_as_many_batches_as_the_plan_counts(loss, kind, per_text, batch_size):
    X, y = DATA[kind]
    labelled = kind in ("labelled_texts", "multilabel_texts", "scored_texts")
    params = {"pairs_per_text": per_text} if labelled and loss != "simcse" else {}
    plan, data = planned(loss, X, y, batch_size=batch_size, epochs=4, **params)
    assert plan.data_kind == kind
    lengths = np.arange(len(data.training.texts), dtype=np.int64)
    epochs = draw_epochs(data.training, Sampling.of(plan), lengths, epochs=4, seed=plan.seed + 1)
    assert [len(e) for e in epochs] == [plan.steps_per_epoch] * 4
    assert steps_per_epoch(data.training, Sampling.of(plan)) == plan.steps_per_epoch
