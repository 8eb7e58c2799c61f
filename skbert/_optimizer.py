"""The optimizer and its learning-rate schedule: AdamW, linear warm-up and linear decay."""

from __future__ import annotations

import math

import torch
from torch import nn


def make_optimizer(
    modules: list[nn.Module], learning_rate: float, weight_decay: float, device: torch.device
) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only: biases and LayerNorm weights (1-D) are spared."""
    decay, no_decay = [], []
    for module in modules:
        for param in module.parameters():
            if param.requires_grad:
                (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    fused = device.type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, lr=learning_rate, fused=fused)


def make_schedule(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``W = ceil(warmup_ratio * total_steps)`` steps, then linear decay.

    Step ``s < W`` runs at ``(s + 1) / (W + 1)`` of the peak rate, so even the first step
    learns (a schedule starting at exactly 0 would make a one-step fit a no-op); the peak
    is reached at step ``W`` and the rate then falls linearly to ``1 / (total - W)`` of the
    peak on the last step.
    """
    warmup = math.ceil(warmup_ratio * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
