"""The head objective's loss, public as :class:`skbert.losses.HeadLoss`."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class HeadLoss(nn.Module):
    """A linear head on the embedding, trained with the encoder: the supervised baseline.

    Data: single texts with a real-valued target (standardised; mean squared error of a
    one-output head) or with a label set (a 0/1 row; binary cross-entropy of one logit per
    label), as a model with a regression or multi-label classification head is fine-tuned.
    The head is dropped after training: ``transform`` returns the embeddings.

    Parameters
    ----------
    dim : int
        Embedding size.
    n_outputs : int
        1 for a real-valued target, the number of labels for label sets.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> loss = HeadLoss(4, n_outputs=3)
    >>> loss(torch.randn(2, 4), torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])).shape
    torch.Size([])
    """

    def __init__(self, dim: int, n_outputs: int) -> None:
        super().__init__()
        self.head = nn.Linear(dim, n_outputs)

    def forward(self, embeddings: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy for label sets (a 2-D target), squared error for scores."""
        outputs = self.head(embeddings.float())
        if target.ndim == 2:
            return F.binary_cross_entropy_with_logits(outputs, target.float())
        return F.mse_loss(outputs[:, 0], target.float())
