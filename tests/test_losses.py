import math

import pytest
import torch
from torch.nn import functional as F

from skbert.losses import (
    BatchAllTripletLoss,
    BatchHardTripletLoss,
    ContrastiveLoss,
    CoSENTLoss,
    CosineSimilarityLoss,
    MatryoshkaLoss,
    MultipleNegativesRankingLoss,
    OnlineContrastiveLoss,
    SoftmaxLoss,
    TripletLoss,
)


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
    assert TripletLoss(margin=1.0)(anchor, positive, negative).item() == pytest.approx(
        2.0, abs=1e-5
    )
    assert TripletLoss(margin=0.5)(anchor, positive, negative).item() == pytest.approx(
        1.5, abs=1e-5
    )


def test_softmax_loss_uses_u_v_absdiff_features():
    loss = SoftmaxLoss(dim=2, n_classes=2)
    assert loss.classifier.in_features == 6
    u, v = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 5.0]])
    logits = loss.classifier(torch.tensor([[1.0, 2.0, 3.0, 5.0, 2.0, 3.0]]))
    expected = F.cross_entropy(logits, torch.tensor([1]))
    torch.testing.assert_close(loss(u, v, torch.tensor([1])), expected)


def test_softmax_loss_respects_chosen_parts():
    assert (
        SoftmaxLoss(
            dim=4, n_classes=3, parts=("u", "v", "abs_diff", "product")
        ).classifier.in_features
        == 16
    )


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


# -- the objectives beyond the paper ---------------------------------------------------------

E1, E2 = [1.0, 0.0], [0.0, 1.0]
DIAG = [2**-0.5, 2**-0.5]


def test_contrastive_loss_hand_computed_case():
    # cosine distances: pair 0 = 1 - 0.7071, pair 1 = 1 (orthogonal), pair 2 = 0
    u = torch.tensor([E1, E1, E1])
    v = torch.tensor([DIAG, E2, E1])
    labels = torch.tensor([1, 0, 0])
    d0 = 1 - 2**-0.5
    expected = (0.5 * d0**2 + 0.0 + 0.5 * 0.8**2) / 3  # margin 0.8: pair 1 is beyond it
    assert ContrastiveLoss(margin=0.8)(u, v, labels).item() == pytest.approx(expected, abs=1e-6)


def test_online_contrastive_keeps_only_hard_pairs():
    # positive distances 0.0 and 1.0; negative distances 0.2929 and 1.0
    u = torch.tensor([E1, E1, E1, E1])
    v = torch.tensor([E1, E2, DIAG, E2])
    labels = torch.tensor([1, 1, 0, 0])
    d = 1 - 2**-0.5
    # hard positive: the one at 1.0 (> closest negative 0.29); hard negative: the one at
    # 0.29 (< farthest positive 1.0); the negative at 1.0 is not (not < 1.0)
    expected = (0.5 * 1.0**2 + 0.5 * (0.5 - d) ** 2) / 4
    online = OnlineContrastiveLoss(margin=0.5)(u, v, labels)
    assert online.item() == pytest.approx(expected, abs=1e-6)
    assert online <= ContrastiveLoss(margin=0.5)(u, v, labels)


def test_online_contrastive_equals_contrastive_when_every_pair_is_hard():
    u = torch.tensor([E1, E1])
    v = torch.tensor([E2, E1])  # the positive is farther than the negative
    labels = torch.tensor([1, 0])
    torch.testing.assert_close(
        OnlineContrastiveLoss(margin=0.5)(u, v, labels), ContrastiveLoss(margin=0.5)(u, v, labels)
    )


def test_mnrl_is_cross_entropy_over_in_batch_candidates():
    anchor = torch.tensor([E1, E2])
    positive = torch.tensor([DIAG, E2])
    # row 0: scores (cos 0.7071, cos 0) ; row 1: scores (0.7071, 1)
    logits = torch.tensor([[2**-0.5, 0.0], [2**-0.5, 1.0]]) * 2.0
    expected = F.cross_entropy(logits, torch.tensor([0, 1]))
    torch.testing.assert_close(MultipleNegativesRankingLoss(scale=2.0)(anchor, positive), expected)


def test_mnrl_hard_negatives_are_extra_candidates():
    anchor = torch.tensor([E1])
    positive = torch.tensor([DIAG])
    negative = torch.tensor([E1])  # a hard negative identical to the anchor
    logits = torch.tensor([[2**-0.5, 1.0]])
    expected = F.cross_entropy(logits, torch.tensor([0]))
    loss = MultipleNegativesRankingLoss(scale=1.0)
    torch.testing.assert_close(loss(anchor, positive, negative), expected)


def test_mnrl_labels_mask_same_class_candidates_but_not_the_positive():
    anchor = torch.tensor([E1, E1, E2])
    positive = torch.tensor([DIAG, E1, E2])
    labels = torch.tensor([0, 0, 1])
    loss = MultipleNegativesRankingLoss(scale=1.0)
    # row 0 may not rank against row 1's positive (same class): candidates 0 and 2 only
    logits = torch.tensor(
        [[2**-0.5, float("-inf"), 0.0], [float("-inf"), 1.0, 0.0], [2**-0.5, 0.0, 1.0]]
    )
    expected = F.cross_entropy(logits, torch.tensor([0, 1, 2]))
    torch.testing.assert_close(loss(anchor, positive, labels), expected)
    assert loss(anchor, positive, labels) < loss(anchor, positive)


def test_cosent_penalises_each_wrongly_ordered_pair():
    u = torch.tensor([E1, E1, E1])
    v = torch.tensor([E1, DIAG, E2])  # cos 1, 0.7071, 0
    loss = CoSENTLoss(scale=1.0)
    # correct order: only the exp of negative gaps
    right = torch.tensor([3.0, 2.0, 1.0])
    gaps = [2**-0.5 - 1, 0 - 1, 0 - 2**-0.5]
    expected = math.log(1 + sum(math.exp(g) for g in gaps))
    assert loss(u, v, right).item() == pytest.approx(expected, abs=1e-6)
    assert loss(u, v, right.flip(0)).item() > loss(u, v, right).item()
    assert loss(u, v, torch.tensor([1.0, 1.0, 1.0])).item() == 0.0  # ties: nothing to order


def test_batch_hard_triplet_takes_the_hardest_positive_and_negative():
    x = torch.tensor([[0.0], [1.0], [4.0], [2.5], [6.0]])
    labels = torch.tensor([0, 0, 0, 1, 1])
    # anchor 0: hardest positive 4, hardest negative 2.5 -> 4 - 2.5 + 1 = 2.5
    # anchor 1: hardest positive 3, hardest negative 1.5 -> 2.5
    # anchor 2: hardest positive 4, hardest negative 1.5 -> 3.5
    # anchor 3: hardest positive 3.5, hardest negative 1.5 -> 3.0
    # anchor 4: hardest positive 3.5, hardest negative 2.0 -> 2.5
    expected = (2.5 + 2.5 + 3.5 + 3.0 + 2.5) / 5
    assert BatchHardTripletLoss(margin=1.0)(x, labels).item() == pytest.approx(expected, abs=1e-5)


def test_batch_hard_triplet_ignores_anchors_without_a_positive():
    x = torch.tensor([[0.0], [1.0], [5.0]])
    alone = BatchHardTripletLoss(margin=1.0)(x, torch.tensor([0, 0, 1]))
    # anchors 0 and 1 only: max(1 - 5 + 1, 0) = 0 and max(1 - 4 + 1, 0) = 0
    assert alone.item() == 0.0
    assert BatchHardTripletLoss()(x, torch.tensor([0, 1, 2])).item() == 0.0  # no positive at all


def test_batch_all_triplet_averages_over_active_triplets():
    x = torch.tensor([[0.0], [1.0], [1.5]])
    labels = torch.tensor([0, 0, 1])
    # (0, 1, 2): 1 - 1.5 + 1 = 0.5 ; (1, 0, 2): 1 - 0.5 + 1 = 1.5 ; both active
    assert BatchAllTripletLoss(margin=1.0)(x, labels).item() == pytest.approx(1.0, abs=1e-5)
    # with margin 0.6: 0.1 and 1.1 -> mean over the 2 active = 0.6
    assert BatchAllTripletLoss(margin=0.6)(x, labels).item() == pytest.approx(0.6, abs=1e-5)


def test_matryoshka_sums_the_base_loss_over_leading_slices():
    u, v = torch.randn(4, 8), torch.randn(4, 8)
    scores = torch.rand(4)
    base = CosineSimilarityLoss()
    expected = base(u, v, scores) + 0.5 * base(u[:, :2], v[:, :2], scores)
    torch.testing.assert_close(MatryoshkaLoss(base, (8, 2), (1.0, 0.5))(u, v, scores), expected)


def test_matryoshka_renormalises_truncated_embeddings_for_euclidean_losses():
    x = F.normalize(torch.randn(6, 8), dim=1)
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    base = BatchHardTripletLoss()
    expected = base(F.normalize(x[:, :3], dim=1), labels)
    torch.testing.assert_close(MatryoshkaLoss(base, (3,), normalize=True)(x, labels), expected)


def test_matryoshka_needs_one_weight_per_dim():
    with pytest.raises(ValueError, match="2 dims but 1 weights"):
        MatryoshkaLoss(CosineSimilarityLoss(), (8, 4), (1.0,))


BATCH = 6
LABELS = torch.tensor([0, 0, 1, 1, 2, 2])
CASES = {
    "contrastive": (ContrastiveLoss(), 2, (LABELS % 2,)),
    "online_contrastive": (OnlineContrastiveLoss(), 2, (LABELS % 2,)),
    "mnrl": (MultipleNegativesRankingLoss(), 2, ()),
    "mnrl_hard_negative": (MultipleNegativesRankingLoss(), 3, ()),
    "mnrl_labels": (MultipleNegativesRankingLoss(), 2, (torch.arange(BATCH) % 4,)),
    "cosent": (CoSENTLoss(), 2, (torch.rand(BATCH),)),
    "batch_hard_triplet": (BatchHardTripletLoss(margin=10.0), 1, (LABELS,)),
    "batch_all_triplet": (BatchAllTripletLoss(margin=10.0), 1, (LABELS,)),
    "matryoshka": (MatryoshkaLoss(ContrastiveLoss(), (8, 4)), 2, (LABELS % 2,)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_loss_is_a_finite_scalar_with_gradient_to_every_column(name):
    loss, n_columns, target = CASES[name]
    columns = [torch.randn(BATCH, 8, requires_grad=True) for _ in range(n_columns)]
    value = loss(*columns, *target)
    value.backward()
    assert value.shape == () and torch.isfinite(value)
    assert all(c.grad is not None and c.grad.abs().sum() > 0 for c in columns)
