import dataclasses
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from skbert import SBERTVectorizer, _training
from skbert._batching import Batch
from skbert._embedder import load_embedder
from skbert._plan import make_plan
from skbert._training import make_optimizer, make_schedule, train
from skbert._validation import ValidationSet
from skbert.losses import CosineSimilarityLoss
from tests.conftest import PAIRS, SCORES

CPU = torch.device("cpu")
PARAMS = SBERTVectorizer().get_params()


def test_schedule_warms_up_linearly_then_decays_to_zero():
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    schedule = make_schedule(optimizer, total_steps=20, warmup_ratio=0.1)
    rates = []
    for _ in range(20):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[:3] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert rates[-1] == pytest.approx(1 / 18)
    assert all(a >= b for a, b in itertools.pairwise(rates[2:]))


def test_a_one_step_fit_still_learns():
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    make_schedule(optimizer, total_steps=1, warmup_ratio=0.1)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.5)


def test_optimizer_does_not_decay_biases_or_layernorm():
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    optimizer = make_optimizer([model], 1e-3, 0.1, CPU)
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert [p.shape for p in decayed["params"]] == [torch.Size([4, 4])]
    assert len(plain["params"]) == 3


# -- the loop ---------------------------------------------------------------------------------


def setup(tiny_model, **params):
    """An embedder, its tokens of PAIRS' texts, a plan, and the pairs' rows and targets."""
    plan, data = make_plan(
        {**PARAMS, "loss": "cosine", "learning_rate": 1e-3, "warmup_ratio": 0.0, **params},
        PAIRS,
        SCORES,
    )
    embedder = load_embedder(tiny_model, device=CPU)
    tokens = embedder.tokenize(data.training.texts)
    return embedder, tokens, plan, data.training.index, data.training.target


def test_train_runs_every_epoch_of_batches_in_order(tiny_model):
    embedder, tokens, plan, index, target = setup(tiny_model)
    epoch = [Batch(index[:3], target[:3]), Batch(index[3:], target[3:])]
    history = train(embedder, CosineSimilarityLoss(), tokens, [epoch] * 3, plan)
    assert [r["epoch"] for r in history] == [0, 0, 1, 1, 2, 2]
    assert [r["step"] for r in history] == list(range(6))
    assert not embedder.encoder.training


def test_single_column_batches_train_with_their_targets(tiny_model):
    embedder, tokens, plan, _, _ = setup(tiny_model)
    seen = []

    class Loss(torch.nn.Module):
        def forward(self, embeddings, labels):
            seen.append((embeddings.shape, labels.tolist()))
            return embeddings.pow(2).mean()

    train(
        embedder, Loss(), tokens, [[Batch(np.array([[0], [1], [2]]), np.array([5, 5, 6]))]], plan
    )
    assert seen == [(torch.Size([3, 32]), [5, 5, 6])]


def test_a_non_finite_loss_stops_with_the_step_and_remedies(tiny_model):
    embedder, tokens, plan, index, target = setup(tiny_model)

    class Exploding(torch.nn.Module):
        def forward(self, u, v, scores):
            return (u * float("inf")).sum()

    with pytest.raises(FloatingPointError, match=r"became (nan|inf) at step 0.*learning_rate"):
        train(embedder, Exploding(), tokens, [[Batch(index, target)]], plan)


# -- early stopping with scripted validation values ------------------------------------------


def scripted(monkeypatch, embedder, values, metric="loss", **rule):
    """Validation whose values are ``values`` in turn; records the weights at each one."""
    seen = []

    def fake_evaluate(embedder, loss_fn, validation, *, batch_size, precision):
        seen.append({k: v.clone() for k, v in embedder.encoder.state_dict().items()})
        value = values[len(seen) - 1]
        return value, None if np.isfinite(value) else "scripted"

    monkeypatch.setattr(_training, "evaluate", fake_evaluate)
    return ValidationSet(["a"], metric, ()), seen


def run(embedder, tokens, plan, index, target, epochs, validation, **rule):
    plan = dataclasses.replace(plan, **{"n_iter_no_change": 100, "tol": 0.0, **rule})
    return train(
        embedder, CosineSimilarityLoss(), tokens, [[Batch(index, target)]] * epochs, plan,
        validation,
    )  # fmt: skip


def test_early_stopping_restores_the_weights_of_the_best_epoch(tiny_model, monkeypatch):
    embedder, tokens, plan, index, target = setup(tiny_model)
    values = [0.5, 0.3, 0.4, 0.6]
    validation, seen = scripted(monkeypatch, embedder, values)
    history = run(embedder, tokens, plan, index, target, 4, validation)
    assert [r["validation_loss"] for r in history if "validation_loss" in r] == values
    final = embedder.encoder.state_dict()
    for name, weight in seen[1].items():  # epoch 1 had the lowest loss
        torch.testing.assert_close(final[name], weight)
    assert any(not torch.equal(final[k], w) for k, w in seen[3].items())


def test_early_stopping_on_a_score_keeps_the_highest(tiny_model, monkeypatch):
    embedder, tokens, plan, index, target = setup(tiny_model)
    validation, seen = scripted(monkeypatch, embedder, [0.2, 0.7, 0.5], metric="spearman")
    history = run(embedder, tokens, plan, index, target, 3, validation)
    assert [r["validation_score"] for r in history if "validation_score" in r] == [0.2, 0.7, 0.5]
    torch.testing.assert_close(embedder.encoder.state_dict(), seen[1])


def test_early_stopping_stops_after_n_iter_no_change_epochs(tiny_model, monkeypatch):
    embedder, tokens, plan, index, target = setup(tiny_model)
    values = [0.5, 0.3, 0.31, 0.4, 0.2, 0.1]
    validation, _ = scripted(monkeypatch, embedder, values)
    history = run(embedder, tokens, plan, index, target, 6, validation, n_iter_no_change=2)
    assert [r["epoch"] for r in history if "validation_loss" in r] == [0, 1, 2, 3]
    assert sum(1 for r in history if "step" in r) == 4


def test_tol_makes_small_improvements_count_as_none(tiny_model, monkeypatch):
    embedder, tokens, plan, index, target = setup(tiny_model)
    validation, _ = scripted(monkeypatch, embedder, [0.5, 0.45, 0.3, 0.2, 0.1])
    history = run(
        embedder, tokens, plan, index, target, 5, validation, n_iter_no_change=1, tol=0.1
    )
    assert [r["epoch"] for r in history if "validation_loss" in r] == [0, 1]


def test_a_nan_validation_score_is_never_an_improvement_and_says_why(tiny_model, monkeypatch):
    embedder, tokens, plan, index, target = setup(tiny_model)
    values = [0.2, float("nan"), float("nan")]
    validation, seen = scripted(monkeypatch, embedder, values, metric="spearman")
    with pytest.warns(UserWarning, match=r"validation score after epoch 1 is undefined.*scripted"):
        run(embedder, tokens, plan, index, target, 3, validation)
    torch.testing.assert_close(embedder.encoder.state_dict(), seen[0])  # epoch 0 was best


def test_a_nan_first_score_keeps_no_weights_and_counts_towards_stopping(tiny_model, monkeypatch):
    embedder, tokens, plan, index, target = setup(tiny_model)
    validation, _ = scripted(monkeypatch, embedder, [float("nan")] * 3, metric="spearman")
    with pytest.warns(UserWarning, match="does not count as an improvement"):
        history = run(embedder, tokens, plan, index, target, 3, validation, n_iter_no_change=2)
    assert sum(1 for r in history if "step" in r) == 2
