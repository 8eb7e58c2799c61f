import pytest
import torch
from torch.nn import functional as F

from skbert.losses import CosineSimilarityLoss, SoftmaxLoss, TripletLoss


def test_cosine_loss_is_mse_of_cosine_similarity():
    u = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    v = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    scores = torch.tensor([1.0, 0.0])
    expected = ((0.0 - 1.0) ** 2 + (2**-0.5 - 0.0) ** 2) / 2
    assert CosineSimilarityLoss()(u, v, scores).item() == pytest.approx(expected)


def test_triplet_loss_hand_computed_case():
    anchor = torch.tensor([[0.0, 0.0]])
    positive = torch.tensor([[3.0, 0.0]])
    negative = torch.tensor([[0.0, 2.0]])
    # max(3 - 2 + 1, 0) = 2
    assert TripletLoss(margin=1.0)(anchor, positive, negative).item() == pytest.approx(2.0, abs=1e-5)
    assert TripletLoss(margin=0.5)(anchor, positive, negative).item() == pytest.approx(1.5, abs=1e-5)


def test_softmax_loss_uses_u_v_absdiff_features():
    loss = SoftmaxLoss(dim=2, n_classes=2)
    assert loss.classifier.in_features == 6
    u, v = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 5.0]])
    logits = loss.classifier(torch.tensor([[1.0, 2.0, 3.0, 5.0, 2.0, 3.0]]))
    expected = F.cross_entropy(logits, torch.tensor([1]))
    torch.testing.assert_close(loss(u, v, torch.tensor([1])), expected)


def test_softmax_loss_respects_chosen_parts():
    assert SoftmaxLoss(dim=4, n_classes=3, parts=("u", "v", "abs_diff", "product")).classifier.in_features == 16


@pytest.mark.parametrize(
    ("loss", "args"),
    [
        (CosineSimilarityLoss(), (torch.rand(4),)),
        (SoftmaxLoss(8, 3), (torch.tensor([0, 1, 2, 0]),)),
    ],
)
def test_pair_losses_send_gradient_to_both_sides(loss, args):
    u = torch.randn(4, 8, requires_grad=True)
    v = torch.randn(4, 8, requires_grad=True)
    value = loss(u, v, *args)
    value.backward()
    assert value.shape == ()
    assert u.grad.abs().sum() > 0 and v.grad.abs().sum() > 0


def test_triplet_loss_sends_gradient_to_all_three():
    a, p, n = (torch.randn(4, 8, requires_grad=True) for _ in range(3))
    TripletLoss(margin=10.0)(a, p, n).backward()
    assert all(t.grad.abs().sum() > 0 for t in (a, p, n))
