"""The training loop: batching, AdamW with linear warm-up and decay, validation, history.

The loop is cut into small steps: a batch plan (:func:`bucketed_batches`, or the class
batches of :mod:`skbert.pairs`) decides which texts go together, :func:`make_optimizer` and
:func:`make_schedule` set up the update, :func:`train` runs it. With an
:class:`EarlyStopping`, held-out data is scored after each epoch (:func:`evaluate`), training
stops by its rule, and the best epoch's weights are restored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from scipy.stats import spearmanr
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


@dataclass(frozen=True)
class Batch:
    """One training step's rows: ``index[r, c]`` is the text in column ``c`` of row ``r``.

    ``target`` holds one score, class index or pair label per row, or is None.
    """

    index: np.ndarray
    target: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.index)


BatchPlan = Callable[[np.random.Generator], list[Batch]]
"""Draws one epoch's batches; called once per epoch with the run's generator."""


@dataclass(frozen=True)
class EarlyStopping:
    """Held-out data scored after every epoch, and the rule that stops training.

    Parameters
    ----------
    tokens : Tokens
        The held-out texts.
    batches : list of Batch
        Drawn once, so every epoch is scored on the same rows.
    metric : {"loss", "spearman"}
        The objective's mean loss (lower is better), or Spearman's correlation between
        the cosine similarity of each pair and its score (higher is better).
    n_iter_no_change : int
        Stop after this many epochs in a row that do not improve on the best value by
        more than ``tol``.
    tol : float
        Smallest change that counts as an improvement.
    """

    tokens: Tokens
    batches: list[Batch]
    metric: Literal["loss", "spearman"]
    n_iter_no_change: int
    tol: float

    @property
    def record_name(self) -> str:
        """Key of the value in the history records."""
        return "validation_loss" if self.metric == "loss" else "validation_score"


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


def row_batches(
    index: np.ndarray,
    target: np.ndarray | None,
    text_lengths: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
) -> list[Batch]:
    """Cut the rows of ``index`` into :func:`bucketed_batches`, each as long as its longest text.

    Parameters
    ----------
    index : ndarray of shape (n_rows, n_columns)
        Text indices of each row.
    target : ndarray of shape (n_rows,) or None
        Per-row target.
    text_lengths : ndarray of shape (n_texts,)
        Token count of each text.
    batch_size : int
        Rows per batch.
    rng : numpy.random.Generator
        Source of every random choice.

    Returns
    -------
    batches : list of Batch
    """
    lengths = text_lengths[index].max(axis=1)
    return [
        Batch(index[rows], None if target is None else target[rows])
        for rows in bucketed_batches(lengths, batch_size, rng)
    ]


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


def _forward(
    encoder: SentenceEncoder,
    tokens: Tokens,
    batch: Batch,
    *,
    pad_id: int,
    device: torch.device,
) -> tuple[torch.Tensor, ...]:
    """Embed every column of ``batch`` in one forward pass; one tensor per column."""
    input_ids, mask = tokens.padded(batch.index.T.ravel(), pad_id)
    embeddings = encoder(input_ids.to(device), mask.to(device))
    return embeddings.split(len(batch))


def _target(batch: Batch, device: torch.device) -> tuple[torch.Tensor, ...]:
    return () if batch.target is None else (torch.from_numpy(batch.target).to(device),)


@torch.no_grad()
def evaluate(
    encoder: SentenceEncoder,
    loss_fn: nn.Module,
    validation: EarlyStopping,
    *,
    pad_id: int,
    device: torch.device,
) -> float:
    """Score the held-out batches in evaluation mode (no dropout): mean loss, or Spearman."""
    training = encoder.training
    encoder.eval()
    loss_fn.eval()
    try:
        if validation.metric == "spearman":
            cosine, gold = [], []
            for batch in validation.batches:
                u, v = _forward(encoder, validation.tokens, batch, pad_id=pad_id, device=device)
                cosine.append(nn.functional.cosine_similarity(u.float(), v.float()).cpu())
                gold.append(batch.target)
            return float(spearmanr(torch.cat(cosine).numpy(), np.concatenate(gold)).statistic)
        total = 0.0
        for batch in validation.batches:
            columns = _forward(encoder, validation.tokens, batch, pad_id=pad_id, device=device)
            total += loss_fn(*columns, *_target(batch, device)).item() * len(batch)
        return total / sum(len(batch) for batch in validation.batches)
    finally:
        encoder.train(training)
        loss_fn.train(training)


class _BestWeights:
    """Keeps a CPU copy of the encoder's weights at its best validation value."""

    def __init__(self, validation: EarlyStopping) -> None:
        self.validation = validation
        self.sign = 1.0 if validation.metric == "loss" else -1.0  # compare as "lower is better"
        self.best = math.inf
        self.state: dict[str, torch.Tensor] | None = None
        self.no_improvement = 0

    def update(self, value: float, encoder: SentenceEncoder) -> bool:
        """Record ``value``; return whether training should stop."""
        value = self.sign * value
        if value > self.best - self.validation.tol:
            self.no_improvement += 1
        else:
            self.no_improvement = 0
        if value < self.best:
            self.best = value
            self.state = {
                k: t.detach().to("cpu", copy=True) for k, t in encoder.state_dict().items()
            }
        return self.no_improvement >= self.validation.n_iter_no_change

    def restore(self, encoder: SentenceEncoder) -> None:
        """Load the best weights seen back into ``encoder``."""
        if self.state is not None:
            encoder.load_state_dict(self.state)


def train(
    encoder: SentenceEncoder,
    loss_fn: nn.Module,
    tokens: Tokens,
    plan: BatchPlan,
    config: TrainingConfig,
    *,
    pad_id: int,
    device: torch.device,
    validation: EarlyStopping | None = None,
) -> list[dict[str, float]]:
    """Fine-tune ``encoder`` in place on the batches that ``plan`` draws from ``tokens``.

    Parameters
    ----------
    encoder : SentenceEncoder
        The encoder to train, already on ``device``.
    loss_fn : nn.Module
        Objective called as ``loss_fn(*column_embeddings[, target])``.
    tokens : Tokens
        The tokenized texts that batches index into.
    plan : BatchPlan
        Draws each epoch's batches; every column of a batch is embedded in one forward pass.
    config : TrainingConfig
        Hyper-parameters.
    pad_id : int
        Padding token id.
    device : torch.device
        Where to train.
    validation : EarlyStopping or None, default=None
        Held-out data scored after every epoch; training stops early by its rule, and the
        weights of the best epoch are restored at the end.

    Returns
    -------
    history : list of dict
        One record per step: ``epoch``, ``step``, ``loss``, ``learning_rate``; with
        validation, one record per epoch: ``epoch`` and ``validation_loss`` (or
        ``validation_score``).

    Raises
    ------
    FloatingPointError
        If the loss stops being finite; the message names the step and remedies.
    """
    rng = np.random.default_rng(config.seed)
    epochs = [plan(rng) for _ in range(config.epochs)]
    total = sum(len(batches) for batches in epochs)
    loss_fn.to(device)
    optimizer = make_optimizer(
        [encoder, loss_fn], config.learning_rate, config.weight_decay, device
    )
    schedule = make_schedule(optimizer, total, config.warmup_ratio)
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "float16")
    best = None if validation is None else _BestWeights(validation)
    history: list[dict[str, float]] = []
    bar = _progress(total, config.verbose)
    running = 0.0
    step = 0
    encoder.train()
    loss_fn.train()
    try:
        for epoch, batches in enumerate(epochs):
            for batch in batches:
                with autocast(device, config.precision):
                    columns = _forward(encoder, tokens, batch, pad_id=pad_id, device=device)
                    loss = loss_fn(*columns, *_target(batch, device))
                value = loss.item()
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
                step += 1
            if best is not None:
                score = evaluate(encoder, loss_fn, best.validation, pad_id=pad_id, device=device)
                history.append({"epoch": epoch, best.validation.record_name: score})
                if best.update(score, encoder):
                    break
        if best is not None:
            best.restore(encoder)
    finally:
        if bar is not None:
            bar.close()
        encoder.eval()
    return history
