import itertools

import numpy as np
import pytest
import torch
from torch import nn

from skbert._encoder import load_encoder, tokenize
from skbert._training import (
    Batch,
    EarlyStopping,
    TrainingConfig,
    bucketed_batches,
    evaluate,
    make_optimizer,
    make_schedule,
    row_batches,
    train,
)
from skbert.losses import CosineSimilarityLoss
from tests.conftest import PAIRS, SCORES


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
    optimizer = make_optimizer([model], 1e-3, 0.1, torch.device("cpu"))
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert [p.shape for p in decayed["params"]] == [torch.Size([4, 4])]
    assert len(plain["params"]) == 3


# -- batch plans, validation and early stopping ----------------------------------------------


CPU = torch.device("cpu")


def config(**changes):
    values = dict(
        epochs=1,
        batch_size=4,
        learning_rate=1e-3,
        warmup_ratio=0.0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        seed=0,
        verbose=False,
    )
    return TrainingConfig(**{**values, **changes})


def pair_data(tiny_model):
    loaded = load_encoder(tiny_model)
    texts = [a for a, _ in PAIRS] + [b for _, b in PAIRS]
    tokens = tokenize(loaded.tokenizer, texts, 64)
    index = np.stack([np.arange(8), np.arange(8) + 8], axis=1)
    return loaded.encoder, tokens, index, (SCORES / 5).astype(np.float32)


def test_row_batches_keep_rows_and_targets_together():
    index = np.arange(20).reshape(10, 2)
    target = np.arange(10, dtype=np.float32)
    batches = row_batches(index, target, np.arange(20), 3, np.random.default_rng(0))
    rows = np.concatenate([b.index for b in batches])
    assert sorted(rows[:, 0].tolist()) == list(range(0, 20, 2))
    for batch in batches:
        np.testing.assert_array_equal(batch.index[:, 0] // 2, batch.target)


def test_train_follows_the_plan_epoch_by_epoch(tiny_model):
    encoder, tokens, index, target = pair_data(tiny_model)
    calls = []

    def plan(rng):
        calls.append(rng)
        return [Batch(index[:3], target[:3]), Batch(index[3:], target[3:])]

    history = train(
        encoder, CosineSimilarityLoss(), tokens, plan, config(epochs=3), pad_id=0, device=CPU
    )
    assert len(calls) == 3 and all(rng is calls[0] for rng in calls)
    assert [r["epoch"] for r in history] == [0, 0, 1, 1, 2, 2]
    assert [r["step"] for r in history] == list(range(6))


def test_single_column_batches_train_with_their_targets(tiny_model):
    encoder, tokens, _, _ = pair_data(tiny_model)
    seen = []

    class Loss(torch.nn.Module):
        def forward(self, embeddings, labels):
            seen.append((embeddings.shape, labels.tolist()))
            return embeddings.pow(2).mean()

    plan = lambda rng: [Batch(np.array([[0], [1], [2]]), np.array([5, 5, 6]))]  # noqa: E731
    train(encoder, Loss(), tokens, plan, config(), pad_id=0, device=CPU)
    assert seen == [(torch.Size([3, 32]), [5, 5, 6])]


def scripted_validation(monkeypatch, tokens, index, values, **rule):
    """Validation whose scores are ``values``, in turn; records the weights at each score."""
    from skbert import _training

    seen = []

    def fake_evaluate(encoder, loss_fn, validation, *, pad_id, device):
        seen.append({k: v.clone() for k, v in encoder.state_dict().items()})
        return values[len(seen) - 1]

    monkeypatch.setattr(_training, "evaluate", fake_evaluate)
    rule = {"n_iter_no_change": 100, "tol": 0.0, **rule}
    return EarlyStopping(tokens, [Batch(index)], "loss", **rule), seen


def test_early_stopping_restores_the_weights_of_the_best_epoch(tiny_model, monkeypatch):
    encoder, tokens, index, target = pair_data(tiny_model)
    values = [0.5, 0.3, 0.4, 0.6]
    validation, seen = scripted_validation(monkeypatch, tokens, index, values)
    plan = lambda rng: [Batch(index, target)]  # noqa: E731
    history = train(
        encoder, CosineSimilarityLoss(), tokens, plan, config(epochs=4), pad_id=0, device=CPU,
        validation=validation,
    )  # fmt: skip
    assert [r["validation_loss"] for r in history if "validation_loss" in r] == values
    final = encoder.state_dict()
    for name, weight in seen[1].items():  # epoch 1 had the lowest loss
        torch.testing.assert_close(final[name], weight)
    assert any(not torch.equal(final[k], w) for k, w in seen[3].items())


def test_early_stopping_on_a_score_keeps_the_highest(tiny_model, monkeypatch):
    encoder, tokens, index, target = pair_data(tiny_model)
    validation, seen = scripted_validation(monkeypatch, tokens, index, [0.2, 0.7, 0.5])
    validation = EarlyStopping(tokens, validation.batches, "spearman", 100, 0.0)
    plan = lambda rng: [Batch(index, target)]  # noqa: E731
    history = train(
        encoder, CosineSimilarityLoss(), tokens, plan, config(epochs=3), pad_id=0, device=CPU,
        validation=validation,
    )  # fmt: skip
    assert [r["validation_score"] for r in history if "validation_score" in r] == [0.2, 0.7, 0.5]
    torch.testing.assert_close(encoder.state_dict(), seen[1])


def test_early_stopping_stops_after_n_iter_no_change_epochs(tiny_model, monkeypatch):
    encoder, tokens, index, target = pair_data(tiny_model)
    values = [0.5, 0.3, 0.31, 0.4, 0.2, 0.1]
    validation, _ = scripted_validation(monkeypatch, tokens, index, values, n_iter_no_change=2)
    plan = lambda rng: [Batch(index, target)]  # noqa: E731
    history = train(
        encoder, CosineSimilarityLoss(), tokens, plan, config(epochs=6), pad_id=0, device=CPU,
        validation=validation,
    )  # fmt: skip
    assert [r["epoch"] for r in history if "validation_loss" in r] == [0, 1, 2, 3]
    assert sum(1 for r in history if "step" in r) == 4


def test_tol_makes_small_improvements_count_as_none(tiny_model):
    encoder, tokens, index, target = pair_data(tiny_model)
    plan = lambda rng: [Batch(index, target)]  # noqa: E731
    validation = EarlyStopping(
        tokens, [Batch(index, target)], "loss", n_iter_no_change=1, tol=10.0
    )
    history = train(
        encoder, CosineSimilarityLoss(), tokens, plan, config(epochs=5), pad_id=0, device=CPU,
        validation=validation,
    )  # fmt: skip
    # the first epoch sets the best value; the second cannot beat it by 10: stop
    assert [r["epoch"] for r in history if "validation_loss" in r] == [0, 1]


def test_spearman_validation_scores_pairs_by_cosine(tiny_model):
    from scipy.stats import spearmanr

    encoder, tokens, index, _ = pair_data(tiny_model)
    validation = EarlyStopping(
        tokens, [Batch(index[:5], SCORES[:5]), Batch(index[5:], SCORES[5:])], "spearman", 2, 0.0
    )
    value = evaluate(encoder.eval(), CosineSimilarityLoss(), validation, pad_id=0, device=CPU)
    with torch.no_grad():
        ids, mask = tokens.padded(np.arange(16), 0)
        embeddings = encoder(ids, mask)
    cosine = torch.nn.functional.cosine_similarity(embeddings[:8], embeddings[8:]).numpy()
    assert value == pytest.approx(spearmanr(cosine, SCORES).statistic, abs=1e-6)
    assert validation.record_name == "validation_score"
