import numpy as np
import pytest
import torch

from skbert import SBERTVectorizer
from skbert._embedder import load_embedder
from skbert._planning import make_plan
from skbert._validation import evaluate
from skbert.losses import ContrastiveLoss, CosineSimilarityLoss, MultipleNegativesRankingLoss
from tests.conftest import PAIRS, SCORES

PARAMS = SBERTVectorizer().get_params()
TEXTS = [f"text {i}" for i in range(12)]
LABELS = ["x", "y", "z"] * 4


def held_out(loss, X, y, fraction):
    return make_plan(
        {**PARAMS, "loss": loss, "early_stopping": True, "validation_fraction": fraction,
         "random_state": 0},
        X,
        y,
    )  # fmt: skip


def test_spearman_validation_is_what_score_measures(tiny_model):
    X, y = PAIRS * 2, np.tile(SCORES, 2) + np.arange(16) / 100
    _plan, data = held_out("cosine", X, y, 0.5)
    embedder = load_embedder(tiny_model, device=torch.device("cpu"))
    value, reason = evaluate(
        embedder, CosineSimilarityLoss(), data.validation, batch_size=4, precision="float32"
    )
    (batch,) = data.validation.batches
    held = [(data.validation.texts[a], data.validation.texts[b]) for a, b in batch.index]
    vec = SBERTVectorizer(tiny_model, cache_embeddings=False).fit(["x"])
    assert reason is None
    assert value == pytest.approx(vec.score(held, batch.target), abs=1e-6)


PARAPHRASES = [(a + " " + w, b) for w in ["now", "then", "again"] for a, b in PAIRS]


def test_loss_validation_is_the_mean_loss_of_the_held_out_batches(tiny_model):
    plan, data = held_out("mnrl", PARAPHRASES, None, 0.5)
    assert plan.validation_metric == "loss"
    embedder = load_embedder(tiny_model, device=torch.device("cpu"))
    loss_fn = MultipleNegativesRankingLoss(plan.scale)
    value, _ = evaluate(embedder, loss_fn, data.validation, batch_size=4, precision="float32")
    embeddings, _ = embedder.embed(
        data.validation.texts, batch_size=4, precision="float32", use_cache=False
    )
    losses, sizes = [], []
    for batch in data.validation.batches:
        u, v = (torch.from_numpy(embeddings[batch.index[:, c]]) for c in (0, 1))
        losses.append(loss_fn(u, v).item())
        sizes.append(len(batch))
    assert value == pytest.approx(np.average(losses, weights=sizes), rel=1e-5)


def test_labelled_texts_are_scored_by_the_nearest_training_centroid(tiny_model):
    _plan, data = held_out("contrastive", TEXTS, LABELS, 0.5)
    embedder = load_embedder(tiny_model, device=torch.device("cpu"))
    value, _ = evaluate(
        embedder, ContrastiveLoss(), data.validation, batch_size=4, precision="float32"
    )
    train = embedder.embed(
        data.training.texts, batch_size=4, precision="float32", use_cache=False
    )[0]
    (batch,) = data.validation.batches
    held = [data.validation.texts[i] for i in batch.index[:, 0]]
    test = embedder.embed(held, batch_size=4, precision="float32", use_cache=False)[0]
    unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)  # noqa: E731
    centroids = np.stack([unit(train)[data.training.labels == c].sum(0) for c in range(3)])
    expected = np.mean(np.argmax(unit(test) @ centroids.T, axis=1) == batch.target)
    assert value == pytest.approx(expected)


def test_labelled_pairs_are_scored_by_a_probe_on_the_pair_features(tiny_model):
    from sklearn.linear_model import LogisticRegression

    y = ["near", "far"] * 8
    plan, data = held_out("softmax", PAIRS * 2, y, 0.5)
    embedder = load_embedder(tiny_model, device=torch.device("cpu"))
    value, _ = evaluate(
        embedder, ContrastiveLoss(), data.validation, batch_size=4, precision="float32"
    )
    embeddings = embedder.embed(
        data.validation.texts, batch_size=4, precision="float32", use_cache=False
    )[0]

    def features(index):
        u, v = embeddings[index[:, 0]], embeddings[index[:, 1]]
        return np.hstack([u, v, np.abs(u - v)])

    reference, (batch,) = data.validation.reference, data.validation.batches
    probe = LogisticRegression(max_iter=1000, random_state=plan.seed)
    probe.fit(features(reference.index), reference.target)
    assert value == pytest.approx(probe.score(features(batch.index), batch.target), abs=1e-9)
    assert len(reference.index) == 8 and len(batch.index) == 8


def test_evaluation_turns_dropout_off_and_restores_the_training_mode(tiny_model):
    plan, data = held_out("mnrl", PARAPHRASES, None, 0.5)
    embedder = load_embedder(tiny_model, device=torch.device("cpu"))
    embedder.encoder.train()
    loss_fn = MultipleNegativesRankingLoss(plan.scale).train()
    first, _ = evaluate(embedder, loss_fn, data.validation, batch_size=4, precision="float32")
    second, _ = evaluate(embedder, loss_fn, data.validation, batch_size=4, precision="float32")
    assert first == second  # no dropout noise
    assert embedder.encoder.training and loss_fn.training


def test_constant_similarities_give_nan_and_the_reason(tiny_model):
    X, y = [("same text", "same text")] * 8, np.arange(8.0)
    _plan, data = held_out("cosine", X, y, 0.5)
    embedder = load_embedder(tiny_model, device=torch.device("cpu"))
    value, reason = evaluate(
        embedder, CosineSimilarityLoss(), data.validation, batch_size=4, precision="float32"
    )
    assert np.isnan(value) and "same cosine similarity" in reason


def test_held_out_batches_are_drawn_once_from_their_own_seed():
    first = held_out("mnrl", PARAPHRASES, None, 0.5)[1].validation
    second = held_out("mnrl", PARAPHRASES, None, 0.5)[1].validation
    assert all(
        np.array_equal(a.index, b.index)
        for a, b in zip(first.batches, second.batches, strict=True)
    )


def test_many_training_rows_give_the_probe_a_stratified_sample():
    from skbert._validation_set import REFERENCE_ROWS, _reference_rows

    labels = np.repeat(np.arange(3), [3000, 1000, 1])
    rows = _reference_rows(labels, seed=0)
    assert len(rows) <= REFERENCE_ROWS + 3 and set(labels[rows]) == {0, 1, 2}
    assert abs(np.mean(labels[rows] == 0) - 0.75) < 0.01
