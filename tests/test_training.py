import dataclasses
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from skbert import SBERTVectorizer, _training
from skbert._batching import Batch
from skbert._embedder import load_embedder
from skbert._optimizer import make_optimizer, make_schedule
from skbert._planning import make_plan
from skbert._training import train
from skbert._validation_set import ValidationSet
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


def run_epochs(embedder, loss_fn, tokens, epochs, plan, *args, **kwargs):
    """``train`` on ``epochs`` (lists of batches), planned for all of their steps."""
    plan = dataclasses.replace(plan, total_steps=sum(len(e) for e in epochs))
    return train(embedder, loss_fn, tokens, epochs, plan, *args, **kwargs)


def test_train_runs_every_epoch_of_batches_in_order(tiny_model):
    embedder, tokens, plan, index, target = setup(tiny_model)
    epoch = [Batch(index[:3], target[:3]), Batch(index[3:], target[3:])]
    outcome = run_epochs(embedder, CosineSimilarityLoss(), tokens, [epoch] * 3, plan)
    assert [r["epoch"] for r in outcome.history] == [0, 0, 1, 1, 2, 2]
    assert [r["step"] for r in outcome.history] == list(range(6))
    assert outcome.stop_reason == "completed" and not embedder.encoder.training


def test_max_steps_stops_there_with_the_schedule_planned_for_them(tiny_model):
    embedder, tokens, plan, index, target = setup(tiny_model)
    epoch = [Batch(index[:3], target[:3]), Batch(index[3:], target[3:])]
    plan = dataclasses.replace(plan, total_steps=3, warmup_ratio=0.0)
    outcome = train(embedder, CosineSimilarityLoss(), tokens, [epoch] * 3, plan)
    rates = [r["learning_rate"] for r in outcome.history]
    assert len(rates) == 3 and outcome.stop_reason == "max_steps"
    assert rates == pytest.approx([plan.learning_rate * f for f in (1, 2 / 3, 1 / 3)])


def test_max_time_stops_at_a_step_boundary(tiny_model, monkeypatch):
    embedder, tokens, plan, index, target = setup(tiny_model)
    clock = iter(range(0, 1000, 10))  # every reading of the clock is 10 s later
    monkeypatch.setattr(_training.time, "monotonic", lambda: next(clock))
    plan = dataclasses.replace(plan, max_time=25.0)
    epoch = [Batch(index[:3], target[:3]), Batch(index[3:], target[3:])]
    outcome = run_epochs(embedder, CosineSimilarityLoss(), tokens, [epoch] * 3, plan)
    assert outcome.stop_reason == "max_time" and len(outcome.history) == 3


def test_single_column_batches_train_with_their_targets(tiny_model):
    embedder, tokens, plan, _, _ = setup(tiny_model)
    seen = []

    class Loss(torch.nn.Module):
        def forward(self, embeddings, labels):
            seen.append((embeddings.shape, labels.tolist()))
            return embeddings.pow(2).mean()

    epochs = [[Batch(np.array([[0], [1], [2]]), np.array([5, 5, 6]))]]
    run_epochs(embedder, Loss(), tokens, epochs, plan)
    assert seen == [(torch.Size([3, 32]), [5, 5, 6])]


def test_a_non_finite_loss_stops_with_the_step_and_remedies(tiny_model):
    embedder, tokens, plan, index, target = setup(tiny_model)

    class Exploding(torch.nn.Module):
        def forward(self, u, v, scores):
            return (u * float("inf")).sum()

    with pytest.raises(FloatingPointError, match=r"became (nan|inf) at step 0.*learning_rate"):
        run_epochs(embedder, Exploding(), tokens, [[Batch(index, target)]], plan)


# -- validation with scripted values ---------------------------------------------------------


def scripted(monkeypatch, values, metric="loss"):
    """Validation whose values are ``values`` in turn (the first scores the starting
    weights); records the weights at each one."""
    seen = []

    def fake_evaluate(embedder, loss_fn, validation, *, batch_size, precision, seed):
        seen.append({k: v.clone() for k, v in embedder.encoder.state_dict().items()})
        value = values[len(seen) - 1]
        return value, None if np.isfinite(value) else "scripted"

    monkeypatch.setattr(_training, "evaluate", fake_evaluate)
    return ValidationSet(["a"], metric, ()), seen


def run(embedder, tokens, plan, index, target, epochs, validation, **rule):
    rule = {"early_stopping": True, "n_iter_no_change": 100, "tol": 0.0, **rule}
    plan = dataclasses.replace(plan, total_steps=epochs, **rule)
    return train(
        embedder, CosineSimilarityLoss(), tokens, [[Batch(index, target)]] * epochs, plan,
        validation,
    )  # fmt: skip


def scores(outcome, name="validation_loss"):
    return [r[name] for r in outcome.history if name in r]


def test_the_starting_weights_are_scored_then_every_epoch(tiny_model, monkeypatch):
    embedder, tokens, plan, index, target = setup(tiny_model)
    validation, _ = scripted(monkeypatch, [0.9, 0.5, 0.4])
    outcome = run(embedder, tokens, plan, index, target, 2, validation)
    runs = [r["steps_run"] for r in outcome.history if "steps_run" in r]
    assert scores(outcome) == [0.9, 0.5, 0.4] and runs == [0, 1, 2]


def test_eval_steps_scores_between_epoch_ends_too(tiny_model, monkeypatch):
    embedder, tokens, plan, index, target = setup(tiny_model)
    validation, _ = scripted(monkeypatch, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    epoch = [Batch(index[:2], target[:2]), Batch(index[2:5], target[2:5]), Batch(index[5:])]
    epoch[2] = Batch(index[5:], target[5:])
    plan = dataclasses.replace(plan, total_steps=6, eval_steps=2, early_stopping=False)
    outcome = train(embedder, CosineSimilarityLoss(), tokens, [epoch] * 2, plan, validation)
    runs = [r["steps_run"] for r in outcome.history if "steps_run" in r]
    assert runs == [0, 2, 3, 4, 6]  # every 2 steps, and each epoch's end (after 3 and 6)


def test_early_stopping_restores_the_weights_of_the_best_evaluation(tiny_model, monkeypatch):
    embedder, tokens, plan, index, target = setup(tiny_model)
    values = [0.9, 0.5, 0.3, 0.4, 0.6]
    validation, seen = scripted(monkeypatch, values)
    outcome = run(embedder, tokens, plan, index, target, 4, validation)
    assert scores(outcome) == values
    final = embedder.encoder.state_dict()
    for name, weight in seen[2].items():  # after step 2, the lowest loss
        torch.testing.assert_close(final[name], weight)
    assert any(not torch.equal(final[k], w) for k, w in seen[4].items())


def test_early_stopping_on_a_score_keeps_the_highest(tiny_model, monkeypatch):
    embedder, tokens, plan, index, target = setup(tiny_model)
    validation, seen = scripted(monkeypatch, [0.1, 0.2, 0.7, 0.5], metric="spearman")
    outcome = run(embedder, tokens, plan, index, target, 3, validation)
    assert scores(outcome, "validation_score") == [0.1, 0.2, 0.7, 0.5]
    torch.testing.assert_close(embedder.encoder.state_dict(), seen[2])


def test_the_starting_weights_are_kept_when_training_never_beats_them(tiny_model, monkeypatch):
    embedder, tokens, plan, index, target = setup(tiny_model)
    start = {k: v.clone() for k, v in embedder.encoder.state_dict().items()}
    validation, _ = scripted(monkeypatch, [0.8, 0.5, 0.6], metric="spearman")
    with pytest.warns(UserWarning, match="never improved on the validation score of the start"):
        run(embedder, tokens, plan, index, target, 2, validation)
    torch.testing.assert_close(embedder.encoder.state_dict(), start)


def test_early_stopping_stops_after_n_iter_no_change_evaluations(tiny_model, monkeypatch):
    embedder, tokens, plan, index, target = setup(tiny_model)
    values = [0.9, 0.5, 0.3, 0.31, 0.4, 0.2, 0.1]
    validation, _ = scripted(monkeypatch, values)
    outcome = run(embedder, tokens, plan, index, target, 6, validation, n_iter_no_change=2)
    assert scores(outcome) == values[:5] and outcome.stop_reason == "early_stopping"
    assert sum(1 for r in outcome.history if "loss" in r) == 4


def test_tol_makes_small_improvements_count_as_none(tiny_model, monkeypatch):
    embedder, tokens, plan, index, target = setup(tiny_model)
    validation, _ = scripted(monkeypatch, [0.6, 0.5, 0.45, 0.3, 0.2, 0.1])
    outcome = run(
        embedder, tokens, plan, index, target, 5, validation, n_iter_no_change=1, tol=0.1
    )
    assert scores(outcome) == [0.6, 0.5]  # 0.5 improves on 0.6 by 0.1 only: not more than tol


def test_validation_without_early_stopping_only_records(tiny_model, monkeypatch):
    embedder, tokens, plan, index, target = setup(tiny_model)
    validation, seen = scripted(monkeypatch, [0.9, 0.1, 0.5, 0.7])
    outcome = run(embedder, tokens, plan, index, target, 3, validation, early_stopping=False)
    assert scores(outcome) == [0.9, 0.1, 0.5, 0.7] and outcome.stop_reason == "completed"
    assert any(
        not torch.equal(embedder.encoder.state_dict()[k], w) for k, w in seen[1].items()
    )  # the last weights, not the best


def test_a_nan_validation_score_is_never_an_improvement_and_says_why(tiny_model, monkeypatch):
    embedder, tokens, plan, index, target = setup(tiny_model)
    values = [0.1, 0.2, float("nan"), float("nan")]
    validation, seen = scripted(monkeypatch, values, metric="spearman")
    with pytest.warns(UserWarning, match=r"validation score after step 2 is undefined.*scripted"):
        run(embedder, tokens, plan, index, target, 3, validation)
    torch.testing.assert_close(embedder.encoder.state_dict(), seen[1])  # step 1 was best


def test_nan_scores_count_towards_stopping(tiny_model, monkeypatch):
    embedder, tokens, plan, index, target = setup(tiny_model)
    validation, _ = scripted(monkeypatch, [0.5] + [float("nan")] * 3, metric="spearman")
    with pytest.warns(UserWarning, match="does not count as an improvement"):
        outcome = run(embedder, tokens, plan, index, target, 3, validation, n_iter_no_change=2)
    assert sum(1 for r in outcome.history if "loss" in r) == 2
