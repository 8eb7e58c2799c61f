"""Fine-tuning: AdamW with linear warm-up and decay, the training loop, and its history.

:func:`fine_tune` runs a fit's plan on an :class:`~skbert._embedder.Embedder`: it tokenizes
the training texts, draws every epoch's batches (:mod:`skbert._batching`), builds the loss
(:func:`skbert._objectives.build_loss`) with the CPU's and the device's generators seeded
from the plan, and trains. :func:`train` is the loop: one forward pass per batch embeds every
column, the loss and its gradients follow, and with held-out rows each epoch ends with an
evaluation (:mod:`skbert._validation`) that may stop training and restores the best weights.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ._batching import Batch, schedule
from ._devices import seeded
from ._encoder import SentenceEncoder, Tokens
from ._objectives import build_loss
from ._precision import autocast
from ._validation import EarlyStopping, ValidationSet, evaluate
from .exceptions import warn_truncated

if TYPE_CHECKING:
    from ._embedder import Embedder
    from ._plan import FitData, FitPlan


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


def fine_tune(
    embedder: Embedder, plan: FitPlan, data: FitData, *, verbose: bool = False
) -> tuple[list[dict[str, float]], int]:
    """Train ``embedder``'s encoder in place as ``plan`` says, on ``data``.

    Returns
    -------
    history : list of dict
        See :func:`train`.
    n_truncated : int
        Training texts longer than the embedder's ``max_seq_length``, which were cut.
    """
    tokens = embedder.tokenize(data.training.texts)
    warn_truncated(tokens.n_truncated, len(tokens), embedder.max_seq_length, stacklevel=5)
    batches = schedule(data.training, plan, tokens.lengths)
    classes = data.training.classes
    with seeded(embedder.device, plan.seed):
        loss_fn = build_loss(
            plan,
            embedder.dim,
            n_classes=None if classes is None else len(classes),
            normalize=embedder.encoder.normalize,
        )
        history = train(embedder, loss_fn, tokens, batches, plan, data.validation, verbose)
    return history, tokens.n_truncated


def train(
    embedder: Embedder,
    loss_fn: nn.Module,
    tokens: Tokens,
    batches: list[list[Batch]],
    plan: FitPlan,
    validation: ValidationSet | None = None,
    verbose: bool = False,
) -> list[dict[str, float]]:
    """Fine-tune ``embedder.encoder`` in place on ``batches``, one list per epoch.

    Parameters
    ----------
    embedder : Embedder
        Holds the encoder to train, on its device.
    loss_fn : nn.Module
        Objective called as ``loss_fn(*column_embeddings[, target])``.
    tokens : Tokens
        The tokenized texts that batches index into.
    batches : list of list of Batch
        Each epoch's batches; every column of a batch is embedded in one forward pass.
    plan : FitPlan
        Learning rate, schedule, clipping, precision, early-stopping rule.
    validation : ValidationSet or None, default=None
        Held-out rows scored after every epoch; training stops early by the plan's rule,
        and the weights of the best epoch are restored at the end.
    verbose : bool, default=False
        Show a progress bar with the running loss.

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
    encoder, device = embedder.encoder, embedder.device
    total = sum(len(epoch) for epoch in batches)
    loss_fn.to(device)
    optimizer = make_optimizer([encoder, loss_fn], plan.learning_rate, plan.weight_decay, device)
    rates = make_schedule(optimizer, total, plan.warmup_ratio)
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    scaler = torch.amp.GradScaler(device.type, enabled=plan.precision == "float16")
    stopping = None
    if validation is not None:
        stopping = EarlyStopping(validation, plan.n_iter_no_change, plan.tol)
    history: list[dict[str, float]] = []
    bar = _progress(total, verbose)
    running = 0.0
    step = 0
    encoder.train()
    loss_fn.train()
    try:
        for epoch, epoch_batches in enumerate(batches):
            for batch in epoch_batches:
                with autocast(device, plan.precision):
                    columns = _forward(
                        encoder, tokens, batch, pad_id=embedder.pad_id, device=device
                    )
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
                if plan.max_grad_norm is not None:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(parameters, plan.max_grad_norm)
                learning_rate = optimizer.param_groups[0]["lr"]
                scaler.step(optimizer)
                scaler.update()
                rates.step()
                history.append(
                    {"epoch": epoch, "step": step, "loss": value, "learning_rate": learning_rate}
                )
                if bar is not None:
                    running = value if step == 0 else 0.9 * running + 0.1 * value
                    bar.update()
                    bar.set_postfix(loss=f"{running:.4f}")
                step += 1
            if stopping is not None:
                value, reason = evaluate(
                    embedder,
                    loss_fn,
                    stopping.validation,
                    batch_size=plan.batch_size,
                    precision=plan.precision,
                )
                history.append({"epoch": epoch, stopping.validation.record_name: value})
                if stopping.update(value, reason, encoder, f"after epoch {epoch}"):
                    break
        if stopping is not None:
            stopping.restore(encoder)
    finally:
        if bar is not None:
            bar.close()
        encoder.eval()
    return history
