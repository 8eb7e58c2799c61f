"""The Matryoshka wrapper of a loss: the objective trained on leading slices of embeddings.

Not an objective of its own: ``matryoshka_dims`` wraps the loss of any objective that
compares embeddings. Public as :class:`skbert.losses.MatryoshkaLoss`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


class MatryoshkaLoss(nn.Module):
    """Matryoshka representation learning (Kusupati et al., NeurIPS 2022).

    Wraps any objective that compares embeddings: the base loss is computed on the first
    ``k`` dimensions of every embedding, for each ``k`` in ``dims``, and the weighted sum
    returned. The leading dimensions then carry most of the meaning, so embeddings can be
    truncated afterwards (``truncate_dim``) at little cost. Every 2-D argument is treated
    as embeddings and truncated; 1-D targets pass through.

    Parameters
    ----------
    loss : nn.Module
        The base objective.
    dims : sequence of int
        Leading dimensions to train, e.g. ``(384, 128, 64)``.
    weights : sequence of float or None, default=None
        One weight per entry of ``dims``; None weighs each 1.
    normalize : bool, default=False
        Rescale truncated embeddings to unit length, as a normalising encoder's truncated
        output is.

    Examples
    --------
    >>> import torch
    >>> u, v = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]])
    >>> from skbert.losses import CosineSimilarityLoss
    >>> loss = MatryoshkaLoss(CosineSimilarityLoss(), dims=(2, 1))
    >>> round(loss(u, v, torch.tensor([1.0])).item(), 4)  # (1 - 0.7071)^2 + (1 - 1)^2
    0.0858
    """

    def __init__(
        self,
        loss: nn.Module,
        dims: Sequence[int],
        weights: Sequence[float] | None = None,
        *,
        normalize: bool = False,
    ) -> None:
        super().__init__()
        if weights is not None and len(weights) != len(dims):
            raise ValueError(
                f"MatryoshkaLoss got {len(dims)} dims but {len(weights)} weights; pass one "
                "weight per dimension, or weights=None."
            )
        self.loss = loss
        self.dims = tuple(dims)
        self.weights = tuple(weights) if weights is not None else (1.0,) * len(self.dims)
        self.normalize = normalize

    def _truncate(self, tensor: torch.Tensor, dim: int) -> torch.Tensor:
        if tensor.ndim != 2:
            return tensor
        head = tensor[:, :dim]
        return F.normalize(head, dim=1) if self.normalize else head

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        """Weighted sum of the base loss on each leading slice of the embeddings."""
        return sum(
            weight * self.loss(*(self._truncate(a, dim) for a in args))
            for dim, weight in zip(self.dims, self.weights, strict=True)
        )
