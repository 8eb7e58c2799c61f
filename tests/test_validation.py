import numpy as np
import pytest
import torch

from skbert import SBERTVectorizer
from skbert._embedder import load_embedder
from skbert._plan import make_plan
from skbert._validation import evaluate
from skbert.losses import ContrastiveLoss, CosineSimilarityLoss
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


def test_loss_validation_is_the_mean_loss_of_the_held_out_batches(tiny_model):
    plan, data = held_out("contrastive", TEXTS, LABELS, 0.5)
    embedder = load_embedder(tiny_model, device=torch.device("cpu"))
    loss_fn = ContrastiveLoss(plan.margin)
    value, _ = evaluate(embedder, loss_fn, data.validation, batch_size=4, precision="float32")
    embeddings, _ = embedder.embed(
        data.validation.texts, batch_size=4, precision="float32", use_cache=False
    )
    losses, sizes = [], []
    for batch in data.validation.batches:
        u, v = (torch.from_numpy(embeddings[batch.index[:, c]]) for c in (0, 1))
        losses.append(loss_fn(u, v, torch.from_numpy(batch.target)).item())
        sizes.append(len(batch))
    assert value == pytest.approx(np.average(losses, weights=sizes), rel=1e-5)


def test_evaluation_turns_dropout_off_and_restores_the_training_mode(tiny_model):
    plan, data = held_out("contrastive", TEXTS, LABELS, 0.5)
    embedder = load_embedder(tiny_model, device=torch.device("cpu"))
    embedder.encoder.train()
    loss_fn = ContrastiveLoss(plan.margin).train()
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
    first = held_out("contrastive", TEXTS, LABELS, 0.5)[1].validation
    second = held_out("contrastive", TEXTS, LABELS, 0.5)[1].validation
    assert all(
        np.array_equal(a.index, b.index)
        for a, b in zip(first.batches, second.batches, strict=True)
    )
