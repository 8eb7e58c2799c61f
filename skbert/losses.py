"""Training objectives: one small module per idea, each taking embeddings, not the model.

Every loss is called with the embeddings of each column of a batch (``u, v`` for pairs,
``anchor, positive, negative`` for triplets, one column for labelled texts) followed by the
target when the objective has one, and returns a scalar. Embeddings are the 2-D arguments,
targets the 1-D ones. Because no loss sees the encoder, one forward pass serves every
objective, and each loss can be checked on random tensors.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ._head import HeadLoss
from ._matryoshka import MatryoshkaLoss
from ._pair_features import pair_features

__all__ = [
    "BatchAllTripletLoss",
    "BatchHardTripletLoss",
    "CoSENTLoss",
    "ContrastiveLoss",
    "CosineSimilarityLoss",
    "HeadLoss",
    "MatryoshkaLoss",
    "MultipleNegativesRankingLoss",
    "OnlineContrastiveLoss",
    "SoftmaxLoss",
    "TripletLoss",
]


class SoftmaxLoss(nn.Module):
    """Classification objective of Sentence-BERT (Reimers & Gurevych 2019, eq. 1).

    Data: pairs ``(a, b)`` with a class label (NLI: entailment / neutral / contradiction).
    A linear classifier over the pair features, ``(u, v, |u - v|)`` by default, trained with
    cross-entropy: ``softmax(W [u; v; |u - v|])``. The classifier is discarded after training;
    only the encoder is kept.

    Parameters
    ----------
    dim : int
        Embedding dimension.
    n_classes : int
        Number of classes.
    parts : tuple of str, default=("u", "v", "abs_diff")
        Pair features fed to the classifier; see :func:`skbert._features.pair_features`.

    Examples
    --------
    >>> import torch
    >>> loss = SoftmaxLoss(dim=4, n_classes=3)
    >>> u, v = torch.randn(2, 4), torch.randn(2, 4)
    >>> loss(u, v, torch.tensor([0, 2])).shape
    torch.Size([])
    """

    def __init__(
        self, dim: int, n_classes: int, parts: tuple[str, ...] = ("u", "v", "abs_diff")
    ) -> None:
        super().__init__()
        self.parts = parts
        self.classifier = nn.Linear(len(parts) * dim, n_classes)

    def forward(self, u: torch.Tensor, v: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the classifier on the pair features; ``labels`` are class indices."""
        logits = self.classifier(pair_features(u, v, self.parts))
        return F.cross_entropy(logits.float(), labels)


class CosineSimilarityLoss(nn.Module):
    """Regression objective of Sentence-BERT (Reimers & Gurevych 2019, section 3).

    Data: pairs ``(a, b)`` with a similarity score, scaled to ``[0, 1]`` (STS scores 0-5
    divided by 5), or pairs drawn from labelled texts with target 1 (same class) or 0 (the
    objective of SetFit, Tunstall et al. 2022). Loss: mean squared error between
    ``cos(u, v)`` and the score.

    Examples
    --------
    >>> import torch
    >>> u = torch.tensor([[1.0, 0.0]])
    >>> CosineSimilarityLoss()(u, u, torch.tensor([1.0]))
    tensor(0.)
    """

    def forward(self, u: torch.Tensor, v: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """Mean squared error between the cosine similarity of each pair and its score."""
        return F.mse_loss(F.cosine_similarity(u.float(), v.float()), scores.float())


class TripletLoss(nn.Module):
    """Triplet objective of Sentence-BERT (Reimers & Gurevych 2019, eq. 2; Schroff et al. 2015).

    Data: triplets ``(anchor, positive, negative)``. Loss:
    ``max(||a - p|| - ||a - n|| + margin, 0)`` with Euclidean distances: the anchor must be
    closer to the positive than to the negative by at least ``margin``.

    Parameters
    ----------
    margin : float, default=1.0
        Required gap between the two distances (the paper uses 1).

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[0.0, 0.0]])
    >>> p, n = torch.tensor([[1.0, 0.0]]), torch.tensor([[3.0, 0.0]])
    >>> TripletLoss(margin=1.0)(a, p, n)
    tensor(0.)
    """

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        self.margin = margin

    def forward(
        self, anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor
    ) -> torch.Tensor:
        """Mean hinge on the gap between anchor-positive and anchor-negative distances."""
        anchor, positive, negative = anchor.float(), positive.float(), negative.float()
        gap = F.pairwise_distance(anchor, positive) - F.pairwise_distance(anchor, negative)
        return F.relu(gap + self.margin).mean()


def _contrastive_terms(distance: torch.Tensor, same: torch.Tensor, margin: float) -> torch.Tensor:
    """``(y d^2 + (1 - y) max(margin - d, 0)^2) / 2`` per pair."""
    same = same.float()
    return 0.5 * (same * distance.pow(2) + (1 - same) * F.relu(margin - distance).pow(2))


def _cosine_distance(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return 1 - F.cosine_similarity(u.float(), v.float())


class ContrastiveLoss(nn.Module):
    """Contrastive objective (Hadsell, Chopra & LeCun, CVPR 2006), on cosine distance.

    Data: pairs ``(a, b)`` with a binary label ``y``: 1 when the texts belong together
    (same class, paraphrase), 0 when not. With ``d = 1 - cos(u, v)``, the loss is the mean
    of ``(y d^2 + (1 - y) max(margin - d, 0)^2) / 2``: similar pairs are pulled together,
    dissimilar pairs pushed apart until they are ``margin`` apart, then left alone.

    Parameters
    ----------
    margin : float, default=0.5
        Cosine distance beyond which a dissimilar pair no longer contributes.

    Examples
    --------
    >>> import torch
    >>> u, v = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    >>> ContrastiveLoss(margin=0.5)(u, v, torch.tensor([1]))  # d = 1: 0.5 * 1 ** 2
    tensor(0.5000)
    >>> ContrastiveLoss(margin=0.5)(u, v, torch.tensor([0]))  # already beyond the margin
    tensor(0.)
    """

    def __init__(self, margin: float = 0.5) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, u: torch.Tensor, v: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean contrastive term over the pairs; ``labels`` are 1 (similar) or 0."""
        return _contrastive_terms(_cosine_distance(u, v), labels, self.margin).mean()


class OnlineContrastiveLoss(nn.Module):
    """Contrastive objective on the hard pairs of each batch only.

    Data: as :class:`ContrastiveLoss`. Within a batch, a positive pair is hard when it is
    farther apart than the closest negative pair, and a negative pair is hard when it is
    closer than the farthest positive pair; only hard pairs contribute their contrastive
    term, and the sum is divided by the batch size, so the loss never exceeds
    :class:`ContrastiveLoss` on the same batch. Easy pairs, which teach nothing, no longer
    dilute the gradient. A batch without negatives (positives) treats every positive
    (negative) pair as hard. Idea from sentence-transformers' ``OnlineContrastiveLoss``,
    after the hard-pair mining of Hadsell et al. (2006) and Schroff et al. (2015).

    Parameters
    ----------
    margin : float, default=0.5
        Cosine distance beyond which a dissimilar pair no longer contributes.

    Examples
    --------
    >>> import torch
    >>> u = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    >>> v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> OnlineContrastiveLoss()(u, v, torch.tensor([1, 0]))  # both pairs are easy
    tensor(0.)
    """

    def __init__(self, margin: float = 0.5) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, u: torch.Tensor, v: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Contrastive terms of the hard pairs, summed and divided by the batch size."""
        distance = _cosine_distance(u, v)
        positive = labels.bool()
        with torch.no_grad():
            inf = torch.tensor(float("inf"), device=distance.device)
            closest_negative = distance[~positive].min() if (~positive).any() else inf
            farthest_positive = distance[positive].max() if positive.any() else -inf
            hard = torch.where(positive, distance > closest_negative, distance < farthest_positive)
        terms = _contrastive_terms(distance, positive, self.margin)
        return (terms * hard).sum() / len(distance)


def _cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.normalize(a.float(), dim=-1) @ F.normalize(b.float(), dim=-1).T


class MultipleNegativesRankingLoss(nn.Module):
    """In-batch negatives ranking objective (Henderson et al. 2017; van den Oord et al. 2018).

    Data: ``(anchor, positive)`` pairs, optionally with hard-negative columns, optionally with
    the anchors' class labels. For each anchor, its positive must score higher than every
    other candidate of the batch: the other rows' positives and all hard negatives. Loss:
    cross-entropy of ``scale * cos(anchor_i, candidate_j)`` with target ``j = i``. With
    labels, candidates of the anchor's own class (other than its positive) are masked out
    instead of being treated as negatives, so labelled texts never push their own class
    away. SimCSE (Gao et al., EMNLP 2021) is this loss over ``(x, x)`` in training mode: the
    two copies of a text differ only by their dropout masks.

    Parameters
    ----------
    scale : float, default=20.0
        Inverse temperature of the softmax (SimCSE's temperature 0.05).

    Examples
    --------
    >>> import torch
    >>> anchor = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> loss = MultipleNegativesRankingLoss(scale=1.0)
    >>> round(loss(anchor, anchor).item(), 4)  # log(1 + e^-1)
    0.3133
    >>> loss(anchor, anchor, torch.tensor([7, 7])).item()  # same class: nothing to rank
    0.0
    """

    def __init__(self, scale: float = 20.0) -> None:
        super().__init__()
        self.scale = scale

    def forward(
        self, anchor: torch.Tensor, positive: torch.Tensor, *extra: torch.Tensor
    ) -> torch.Tensor:
        """Cross-entropy of each anchor over the batch's candidates.

        Parameters
        ----------
        anchor, positive : Tensor of shape (batch, dim)
            Row ``i`` of ``positive`` is the positive of row ``i`` of ``anchor``.
        *extra : Tensor
            Hard negatives, each of shape ``(batch, dim)``, then optionally the anchors'
            class labels, of shape ``(batch,)``.
        """
        labels = extra[-1] if extra and extra[-1].ndim == 1 else None
        negatives = extra[:-1] if labels is not None else extra
        n = len(anchor)
        scores = self.scale * _cosine_matrix(anchor, torch.cat([positive, *negatives]))
        if labels is not None:
            same = labels[:, None] == labels[None, :]
            same.fill_diagonal_(False)
            masked = scores[:, :n].masked_fill(same, float("-inf"))
            scores = torch.cat([masked, scores[:, n:]], dim=1)
        return F.cross_entropy(scores, torch.arange(n, device=scores.device))


class CoSENTLoss(nn.Module):
    """CoSENT ranking objective (Su 2022; Huang et al. 2024, "AnglE" appendix).

    Data: pairs ``(a, b)`` with real-valued scores (or 0/1 labels). Only the order of the
    scores matters: every pair ``(i, j)`` of rows with ``score_i > score_j`` should have
    ``cos_i > cos_j``. Loss: ``log(1 + sum over those (i, j) of
    exp(scale * (cos_j - cos_i)))``. It trains what Spearman's correlation measures, and
    unlike :class:`CosineSimilarityLoss` never asks for a particular cosine value.

    Parameters
    ----------
    scale : float, default=20.0
        Sharpness of the ranking penalty.

    Examples
    --------
    >>> import torch
    >>> u = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    >>> v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> round(CoSENTLoss(scale=1.0)(u, v, torch.tensor([1.0, 0.0])).item(), 4)  # log(1 + e^-1)
    0.3133
    """

    def __init__(self, scale: float = 20.0) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, u: torch.Tensor, v: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """Log-sum-exp of the scaled cosine gaps of every wrongly ordered row pair."""
        cosine = self.scale * F.cosine_similarity(u.float(), v.float())
        gaps = cosine[None, :] - cosine[:, None]  # gaps[i, j] = cos_j - cos_i
        ordered = scores[:, None] > scores[None, :]
        gaps = gaps.masked_fill(~ordered, float("-inf"))
        return torch.logsumexp(torch.cat([gaps.new_zeros(1), gaps.flatten()]), dim=0)


def _label_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks ``(positive, negative)`` of shape (batch, batch): same label but not self, other."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


class BatchHardTripletLoss(nn.Module):
    """Batch-hard triplet objective (Hermans, Beyer & Leibe 2017: In Defense of the Triplet Loss).

    Data: texts with class labels, batched P classes x K texts. For each anchor of the
    batch, the farthest text of its class and the closest text of another class form its
    triplet: ``max(max_p ||a - p|| - min_n ||a - n|| + margin, 0)``, averaged over the
    anchors that have both a positive and a negative in the batch. Mining the hardest
    triplets in the batch makes each step count, with no pairs to sample up front.

    Parameters
    ----------
    margin : float, default=1.0
        Required gap between the hardest positive and hardest negative distances.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [2.0], [3.0]])
    >>> BatchHardTripletLoss(margin=1.0)(x, torch.tensor([0, 0, 1]))  # (0 + 2) / 2 anchors
    tensor(1.)
    """

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean hinge of each anchor's hardest triplet in the batch."""
        distance = torch.cdist(embeddings.float(), embeddings.float())
        positive, negative = _label_masks(labels)
        hardest_positive = distance.masked_fill(~positive, float("-inf")).amax(dim=1)
        hardest_negative = distance.masked_fill(~negative, float("inf")).amin(dim=1)
        valid = positive.any(dim=1) & negative.any(dim=1)
        hinge = F.relu(hardest_positive - hardest_negative + self.margin)
        return hinge[valid].sum() / valid.sum().clamp(min=1)


class BatchAllTripletLoss(nn.Module):
    """Batch-all triplet objective (Hermans, Beyer & Leibe 2017).

    Data: texts with class labels, batched P classes x K texts. Every valid triplet of the
    batch (anchor, a text of its class, a text of another class) contributes
    ``max(||a - p|| - ||a - n|| + margin, 0)``; the sum is divided by the number of
    triplets with a non-zero loss, so the loss does not fade as most triplets become easy.

    Parameters
    ----------
    margin : float, default=1.0
        Required gap between the two distances of a triplet.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [2.0], [3.0]])
    >>> BatchAllTripletLoss(margin=1.0)(x, torch.tensor([0, 0, 1]))  # one active triplet
    tensor(2.)
    """

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Sum of the hinges of all valid triplets over the number of active ones."""
        distance = torch.cdist(embeddings.float(), embeddings.float())
        positive, negative = _label_masks(labels)
        hinge = F.relu(distance[:, :, None] - distance[:, None, :] + self.margin)
        valid = positive[:, :, None] & negative[:, None, :]
        losses = hinge[valid]
        return losses.sum() / (losses > 0).sum().clamp(min=1)
