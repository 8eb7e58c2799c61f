"""Pooling: token embeddings and attention mask in, one vector per sentence out.

Each function takes ``token_embeddings`` of shape ``(batch, seq_len, dim)`` and an
``attention_mask`` of shape ``(batch, seq_len)`` (1 for real tokens, 0 for padding) and
returns ``(batch, dim)``. Padding never contributes: a sentence pools to the same vector
however much padding its batch adds.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["POOLINGS", "cls_pooling", "max_pooling", "mean_pooling"]


def mean_pooling(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the real tokens' embeddings (Reimers & Gurevych 2019: the best pooling).

    Parameters
    ----------
    token_embeddings : Tensor of shape (batch, seq_len, dim)
        Last hidden state of the encoder.
    attention_mask : Tensor of shape (batch, seq_len)
        1 for real tokens, 0 for padding.

    Returns
    -------
    pooled : Tensor of shape (batch, dim)

    Examples
    --------
    >>> import torch
    >>> tokens = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> mean_pooling(tokens, torch.tensor([[1, 1, 0]]))
    tensor([[2.]])
    """
    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)
    summed = (token_embeddings * mask).sum(dim=1)
    counts = mask.sum(dim=1).clamp(min=1e-9)
    return summed / counts


def max_pooling(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Element-wise maximum over the real tokens' embeddings.

    Parameters
    ----------
    token_embeddings : Tensor of shape (batch, seq_len, dim)
        Last hidden state of the encoder.
    attention_mask : Tensor of shape (batch, seq_len)
        1 for real tokens, 0 for padding.

    Returns
    -------
    pooled : Tensor of shape (batch, dim)

    Examples
    --------
    >>> import torch
    >>> tokens = torch.tensor([[[1.0], [-3.0], [100.0]]])
    >>> max_pooling(tokens, torch.tensor([[1, 1, 0]]))
    tensor([[1.]])
    """
    padding = attention_mask.unsqueeze(-1) == 0
    lowest = torch.finfo(token_embeddings.dtype).min
    return token_embeddings.masked_fill(padding, lowest).max(dim=1).values


def cls_pooling(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Embedding of the first token (``[CLS]`` for BERT-style tokenizers).

    Parameters
    ----------
    token_embeddings : Tensor of shape (batch, seq_len, dim)
        Last hidden state of the encoder.
    attention_mask : Tensor of shape (batch, seq_len)
        Unused: the first token is never padding with right-padding tokenizers. Kept so
        every pooling has the same signature.

    Returns
    -------
    pooled : Tensor of shape (batch, dim)

    Examples
    --------
    >>> import torch
    >>> tokens = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> cls_pooling(tokens, torch.tensor([[1, 1, 0]]))
    tensor([[1.]])
    """
    return token_embeddings[:, 0]


POOLINGS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mean": mean_pooling,
    "max": max_pooling,
    "cls": cls_pooling,
}
