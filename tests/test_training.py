import numpy as np
import pytest
import torch
from torch import nn

from skbert._training import bucketed_batches, make_optimizer, make_schedule


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
    assert all(a >= b for a, b in zip(rates[2:], rates[3:], strict=False))


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
