import pytest
import torch

from skbert.pooling import POOLINGS, cls_pooling, max_pooling, mean_pooling


@pytest.mark.parametrize("name", sorted(POOLINGS))
def test_padding_never_changes_the_pooled_vector(name):
    tokens = torch.randn(1, 4, 8)
    mask = torch.ones(1, 4, dtype=torch.long)
    padded = torch.cat([tokens, torch.full((1, 3, 8), 1e4)], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    pool = POOLINGS[name]
    torch.testing.assert_close(pool(padded, padded_mask), pool(tokens, mask))


def test_mean_pooling_averages_real_tokens_only():
    tokens = torch.tensor([[[2.0, 0.0], [4.0, 2.0], [9.0, 9.0]]])
    mask = torch.tensor([[1, 1, 0]])
    torch.testing.assert_close(mean_pooling(tokens, mask), torch.tensor([[3.0, 1.0]]))


def test_max_pooling_ignores_padding_even_when_real_values_are_negative():
    tokens = torch.tensor([[[-2.0], [-4.0], [0.0]]])
    mask = torch.tensor([[1, 1, 0]])
    torch.testing.assert_close(max_pooling(tokens, mask), torch.tensor([[-2.0]]))


def test_cls_pooling_takes_first_token():
    tokens = torch.arange(12.0).reshape(2, 3, 2)
    torch.testing.assert_close(cls_pooling(tokens, torch.ones(2, 3)), tokens[:, 0])


def test_mean_pooling_of_an_all_padding_row_is_finite():
    out = mean_pooling(torch.randn(1, 2, 3), torch.zeros(1, 2))
    assert torch.isfinite(out).all()
