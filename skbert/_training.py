"""The training loop: batching, AdamW with linear warm-up and decay, history records.

The loop is cut into small steps: :func:`bucketed_batches` decides which rows go together,
:func:`make_optimizer` and :func:`make_schedule` set up the update, :func:`train` runs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ._encoder import SentenceEncoder, Tokens
from ._precision import autocast

_MEGABATCH = 64  # batches sorted together; larger means less padding, less randomness


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of one fine-tuning run."""

    epochs: int
    batch_size: int
    learning_rate: float
    warmup_ratio: float
    weight_decay: float
    max_grad_norm: float | None
    seed: int
    verbose: bool
    precision: str = "float32"


def bucketed_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffled batches of rows of similar length.

    Rows are shuffled, cut into mega-batches of ``64 * batch_size`` rows, sorted by length
    inside each, cut into batches, and the batches shuffled. Padding then adds only a few
    percent to the tokens of a random batch's text, while every epoch still sees a different,
    reproducible order.

    Parameters
    ----------
    lengths : ndarray of shape (n_rows,)
        Length of each row (for pairs, the longer of the two texts).
    batch_size : int
        Rows per batch; the last batch of a mega-batch may be smaller.
    rng : numpy.random.Generator
        Source of every random choice.

    Returns
    -------
    batches : list of ndarray of row indices
    """
    order = rng.permutation(len(lengths))
    batches = []
    step = batch_size * _MEGABATCH
    for start in range(0, len(order), step):
        chunk = order[start : start + step]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


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


def _progress(total: int, verbose: bool) -> Any:
    if not verbose:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="fit", unit="step")


def train(
    encoder: SentenceEncoder,
    loss_fn: nn.Module,
    tokens: Tokens,
    n_columns: int,
    target: torch.Tensor | None,
    config: TrainingConfig,
    *,
    pad_id: int,
    device: torch.device,
) -> list[dict[str, float]]:
    """Fine-tune ``encoder`` in place on ``n_columns`` columns of tokenized texts.

    Parameters
    ----------
    encoder : SentenceEncoder
        The encoder to train, already on ``device``.
    loss_fn : nn.Module
        Objective called as ``loss_fn(*column_embeddings[, target])``.
    tokens : Tokens
        Every column's texts, column after column: row ``r`` of column ``c`` is text
        ``c * n_rows + r``.
    n_columns : int
        Texts per row: 1, 2 (pairs) or 3 (triplets).
    target : Tensor of shape (n_rows,) or None
        Per-row scores or class indices.
    config : TrainingConfig
        Hyper-parameters.
    pad_id : int
        Padding token id.
    device : torch.device
        Where to train.

    Returns
    -------
    history : list of dict
        One record per step: ``epoch``, ``step``, ``loss``, ``learning_rate``.

    Raises
    ------
    FloatingPointError
        If the loss stops being finite; the message names the step and remedies.
    """
    n_rows = len(tokens) // n_columns
    row_lengths = tokens.lengths.reshape(n_columns, n_rows).max(axis=0)
    rng = np.random.default_rng(config.seed)
    steps_per_epoch = math.ceil(n_rows / config.batch_size)
    total = steps_per_epoch * config.epochs
    loss_fn.to(device)
    optimizer = make_optimizer(
        [encoder, loss_fn], config.learning_rate, config.weight_decay, device
    )
    schedule = make_schedule(optimizer, total, config.warmup_ratio)
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "float16")
    column_offsets = np.arange(n_columns)[:, None] * n_rows
    history: list[dict[str, float]] = []
    bar = _progress(total, config.verbose)
    running = 0.0
    encoder.train()
    loss_fn.train()
    try:
        for epoch in range(config.epochs):
            for rows in bucketed_batches(row_lengths, config.batch_size, rng):
                input_ids, mask = tokens.padded((column_offsets + rows).ravel(), pad_id)
                extra = () if target is None else (target[torch.from_numpy(rows)].to(device),)
                with autocast(device, config.precision):
                    embeddings = encoder(input_ids.to(device), mask.to(device))
                    loss = loss_fn(*embeddings.split(len(rows)), *extra)
                value = loss.item()
                step = len(history)
                if not math.isfinite(value):
                    raise FloatingPointError(
                        f"The training loss became {value} at step {step} (epoch {epoch}). "
                        "Lower learning_rate, keep max_grad_norm set, or train in full "
                        "precision."
                    )
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if config.max_grad_norm is not None:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
                learning_rate = optimizer.param_groups[0]["lr"]
                scaler.step(optimizer)
                scaler.update()
                schedule.step()
                history.append(
                    {"epoch": epoch, "step": step, "loss": value, "learning_rate": learning_rate}
                )
                if bar is not None:
                    running = value if step == 0 else 0.9 * running + 0.1 * value
                    bar.update()
                    bar.set_postfix(loss=f"{running:.4f}")
    finally:
        if bar is not None:
            bar.close()
        encoder.eval()
    return history
