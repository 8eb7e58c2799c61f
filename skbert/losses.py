"""Training objectives: one small module per idea, each taking embeddings, not the model.

Every loss is called with the embeddings of each column of a batch (``u, v`` for pairs,
``anchor, positive, negative`` for triplets) followed by the target when the objective has
one, and returns a scalar. Because no loss sees the encoder, one forward pass serves every
objective, and each loss can be checked on random tensors.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ._features import pair_features

__all__ = ["CosineSimilarityLoss", "SoftmaxLoss", "TripletLoss"]


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
    divided by 5). Loss: mean squared error between ``cos(u, v)`` and the score.

    Examples
    --------
    >>> import torch
    >>> u = torch.tensor([[1.0, 0.0]])
    >>> CosineSimilarityLoss()(u, u, torch.tensor([1.0]))
    tensor(0.)
    """

    def forward(self, u: torch.Tensor, v: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """Mean squared error between the cosine similarity of each pair and its score."""
        return F.mse_loss(F.cosine_similarity(u.float(), v.float()), scores)


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
