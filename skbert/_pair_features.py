"""Pair features: two sentence embeddings ``u`` and ``v`` combined into one vector.

Reimers & Gurevych (2019) feed ``(u, v, |u - v|)`` to the softmax classifier of the
classification objective; ``u * v`` is the other combination the paper tried.
"""

from __future__ import annotations

import torch

PAIR_PARTS = ("u", "v", "abs_diff", "product")


def pair_features(u: torch.Tensor, v: torch.Tensor, parts: tuple[str, ...]) -> torch.Tensor:
    """Concatenate the chosen combinations of ``u`` and ``v`` along the last axis.

    Parameters
    ----------
    u, v : Tensor of shape (n, dim)
        Embeddings of the first and second sentence of each pair.
    parts : tuple of {"u", "v", "abs_diff", "product"}
        Which combinations, in order: ``u``, ``v``, ``|u - v|``, ``u * v``.

    Returns
    -------
    features : Tensor of shape (n, len(parts) * dim)

    Examples
    --------
    >>> import torch
    >>> pair_features(torch.tensor([[1.0]]), torch.tensor([[3.0]]), ("u", "v", "abs_diff"))
    tensor([[1., 3., 2.]])
    """
    combine = {
        "u": lambda: u,
        "v": lambda: v,
        "abs_diff": lambda: (u - v).abs(),
        "product": lambda: u * v,
    }
    return torch.cat([combine[part]() for part in parts], dim=-1)
