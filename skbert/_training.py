"""Fine-tuning: the training loop and its history, on the optimizer of :mod:`skbert._optimizer`.

:func:`fine_tune` runs a fit's plan on an :class:`~skbert._embedder.Embedder`: it tokenizes
the training texts, draws every epoch's batches (:mod:`skbert._batching`), builds the loss
(:func:`skbert._objectives.build_loss`) with the CPU's and the device's generators seeded
from the plan, and trains. :func:`train` is the loop: one forward pass per batch embeds every
column, the loss and its gradients follow. With validation rows, the starting weights are
scored, then every ``eval_steps`` steps and at the end of every epoch
(:mod:`skbert._validation`); with early stopping the best weights, the starting ones
included, are kept. The loop stops at a step boundary when the planned steps are done, when
``max_time`` has passed, when early stopping or a callback says so, and writes checkpoints
(:mod:`skbert._checkpoint`) from which a killed fit resumes. In a fit of several processes
(:mod:`skbert._distributed`), each step embeds this process's share of the batch, the loss
covers all of it, and rank 0's values decide (validation, stopping).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ._batching import Batch, Sampling, draw_epochs, training_views
from ._checkpoint import Checkpoints, fingerprint
from ._distributed import World
from ._encoder import SentenceEncoder, Tokens
from ._frozen_states import FrozenStates, partial_fine_tuning
from ._messages import warn
from ._objectives import OBJECTIVES, build_loss
from ._optimizer import make_optimizer, make_schedule
from ._precision import autocast
from ._probe import probe_head
from ._seeding import seeded
from ._validation import EarlyStopping, evaluate
from .exceptions import warn_truncated
from .losses import SoftmaxLoss

if TYPE_CHECKING:
    from ._embedder import Embedder
    from ._plan import FitData, FitPlan
    from ._progress import Progress
    from ._validation_set import ValidationSet


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


@dataclass
class Outcome:
    """What training produced besides the weights: its records and why it stopped.

    ``stop_reason``: completed, max_steps, max_time, early_stopping or callback.
    """

    history: list[dict[str, float]] = field(default_factory=list)
    stop_reason: str = "completed"
    n_truncated: int = 0


def fine_tune(
    embedder: Embedder,
    plan: FitPlan,
    data: FitData,
    *,
    progress: Progress | None = None,
    snapshot: Callable[[list[dict[str, float]]], dict[str, Any]] | None = None,
    cache_states: bool = False,
) -> Outcome:
    """Train ``embedder``'s encoder in place as ``plan`` says, on ``data``.

    ``progress`` and ``snapshot`` go to :func:`train`; ``cache_states`` shares a partial
    fit's frozen states (:mod:`skbert._frozen_states`). With ``plan.checkpoint_dir``, a
    checkpoint is written every ``plan.checkpoint_steps`` steps and one of this very fit
    found there is resumed from (removed when the fit ends; one of another fit is refused).
    In a fit of several processes, every rank must have been given the same plan and data.
    """
    World.current().check_same_fit(lambda: fingerprint(plan, data, ""))
    tokens = embedder.tokenize(data.training.texts)
    warn_truncated(tokens.n_truncated, len(tokens), embedder.max_seq_length)
    lengths = np.minimum(tokens.lengths, embedder.max_seq_length)
    batches = draw_epochs(
        data.training, Sampling.of(plan), lengths, epochs=plan.epochs, seed=plan.seed
    )
    if embedder.windows is not None:  # each text of a row: one of its windows
        tokens, batches = training_views(tokens, embedder.windows, batches, plan.seed)
    checkpoints = None
    if plan.checkpoint_dir is not None:
        assert plan.checkpoint_steps is not None
        made_by = fingerprint(plan, data, embedder.identity())
        checkpoints = Checkpoints(Path(plan.checkpoint_dir), plan.checkpoint_steps, made_by)
    classes = data.training.classes
    assert plan.objective is not None
    with seeded(embedder.device, plan.seed):
        loss_fn = build_loss(
            plan.objective,
            embedder.dim,
            n_classes=None if classes is None else len(classes),
            settings={name: getattr(plan, name) for name in OBJECTIVES[plan.objective].settings},
            matryoshka_dims=plan.matryoshka_dims,
            normalize=embedder.encoder.normalize,
        )
        if isinstance(loss_fn, SoftmaxLoss):
            assert plan.batch_size is not None and plan.precision is not None
            probe_head(
                loss_fn,
                embedder,
                data.training,
                batch_size=plan.batch_size,
                precision=plan.precision,
                seed=plan.seed,
            )
        with partial_fine_tuning(embedder, plan, tokens, batches, cache_states) as frozen:
            outcome = train(
                embedder,
                loss_fn,
                tokens,
                batches,
                plan,
                data.validation,
                progress,
                checkpoints,
                snapshot,
                frozen,
            )
    if checkpoints is not None:
        checkpoints.clear()
    outcome.n_truncated = tokens.n_truncated
    return outcome


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


class _Loop:
    """One run of the training loop, cut into the steps that :func:`train` takes in turn."""

    def __init__(
        self,
        embedder: Embedder,
        loss_fn: nn.Module,
        plan: FitPlan,
        validation: ValidationSet | None,
        checkpoints: Checkpoints | None,
        frozen: FrozenStates | None,
    ) -> None:
        self.embedder, self.loss_fn, self.plan, self.frozen = embedder, loss_fn, plan, frozen
        self.device = embedder.device
        loss_fn.to(self.device)
        self.world = World.current()
        self.data_parallel = self.world.data_parallel(embedder.encoder, loss_fn, self.device)
        self.optimizer = make_optimizer(
            [embedder.encoder, loss_fn], plan.learning_rate, plan.weight_decay, self.device
        )
        self.rates = make_schedule(self.optimizer, plan.total_steps, plan.warmup_ratio)
        self.parameters = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=plan.precision == "float16")
        self.stopping = None
        if validation is not None:
            patience = plan.n_iter_no_change if plan.early_stopping else None
            self.stopping = EarlyStopping(validation, patience, plan.tol or 0.0)
        self.checkpoints = checkpoints
        self.outcome = Outcome()
        self.first_step, self.elapsed = 0, 0.0

    def resume(self) -> bool:
        """Take up this fit's checkpoint, if there is one; return whether there was."""
        state = None if self.checkpoints is None else self.checkpoints.load()
        if state is None:
            return False
        self.embedder.encoder.load_state_dict(state["encoder"])
        self.loss_fn.load_state_dict(state["loss_fn"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rates.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        if self.stopping is not None:
            self.stopping.load_state_dict(state["stopping"])
        _set_rng_state(state["rng"], self.device)
        self.outcome.history = state["history"]
        self.first_step, self.elapsed = state["step"], state["elapsed"]
        return True

    def checkpoint(self, steps_run: int, elapsed: float) -> None:
        assert self.checkpoints is not None
        self.checkpoints.save(
            {
                "step": steps_run,
                "encoder": self.embedder.encoder.state_dict(),
                "loss_fn": self.loss_fn.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "schedule": self.rates.state_dict(),
                "scaler": self.scaler.state_dict(),
                "stopping": None if self.stopping is None else self.stopping.state_dict(),
                "rng": _rng_state(self.device),
                "history": self.outcome.history,
                "elapsed": elapsed,
            }
        )

    def step(self, tokens: Tokens, batch: Batch, epoch: int, step: int) -> float:
        """Train on one batch; return its loss."""
        encoder, device, pad_id = self.embedder.encoder, self.device, self.embedder.pad_id
        with autocast(device, self.plan.precision):
            if self.data_parallel is not None:  # this rank's rows, the loss of all
                loss = self.data_parallel(tokens, batch, _target(batch, device), pad_id)
            elif self.frozen is not None:  # the top layers, on the frozen layers' states
                loss = self.loss_fn(*self.frozen.forward(batch), *_target(batch, device))
            else:
                columns = _forward(encoder, tokens, batch, pad_id=pad_id, device=device)
                loss = self.loss_fn(*columns, *_target(batch, device))
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(
                f"The training loss became {value} at step {step} (epoch {epoch}). Lower "
                "learning_rate, keep max_grad_norm set, or train in full precision."
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.plan.max_grad_norm is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.parameters, self.plan.max_grad_norm)
        learning_rate = self.optimizer.param_groups[0]["lr"]
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.rates.step()
        self.outcome.history.append(
            {"epoch": epoch, "step": step, "loss": value, "learning_rate": learning_rate}
        )
        return value

    def evaluate(self, epoch: int, steps_run: int, progress: Progress | None) -> bool:
        """Score the validation rows; return whether early stopping says stop."""
        stopping = self.stopping
        assert stopping is not None
        value, reason = evaluate(
            self.embedder,
            self.loss_fn,
            stopping.validation,
            batch_size=self.plan.batch_size,
            precision=self.plan.precision,
            seed=self.plan.seed,
        )
        value, reason = self.world.agree((value, reason))  # rank 0's, so all ranks decide alike
        name = stopping.validation.record_name
        self.outcome.history.append({"epoch": epoch, "steps_run": steps_run, name: value})
        if progress is not None:
            progress.evaluated(name, value)
        when = "of the starting weights" if steps_run == 0 else f"after step {steps_run}"
        return stopping.update(value, reason, self.embedder.encoder, steps_run, when)

    def finish(self) -> None:
        """Keep the best weights seen, if early stopping says so."""
        stopping = self.stopping
        if stopping is None or not self.plan.early_stopping:
            return
        stopping.restore(self.embedder.encoder)
        if stopping.best_step == 0 and any("loss" in r for r in self.outcome.history):
            warn(
                "Fine-tuning never improved on the validation score of the starting "
                "weights, so they are kept: the fitted encoder is the one fit started from. "
                "See history_ for the scores.",
                UserWarning,
            )


def train(
    embedder: Embedder,
    loss_fn: nn.Module,
    tokens: Tokens,
    batches: list[list[Batch]],
    plan: FitPlan,
    validation: ValidationSet | None = None,
    progress: Progress | None = None,
    checkpoints: Checkpoints | None = None,
    snapshot: Callable[[list[dict[str, float]]], dict[str, Any]] | None = None,
    frozen: FrozenStates | None = None,
) -> Outcome:
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
        Each epoch's batches; every column of a batch is embedded in one forward pass. The
        first ``plan.total_steps`` of them run.
    plan : FitPlan
        Learning rate, schedule, clipping, precision, budgets, validation rules.
    validation : ValidationSet or None, default=None
        Rows scored before training, every ``plan.eval_steps`` steps and after every epoch;
        with ``plan.early_stopping``, training stops by its rule and the best weights are
        kept.
    progress : Progress or None, default=None
        Receives every step, evaluation and epoch end; a callback may stop training.
    checkpoints : Checkpoints or None, default=None
        Where to write checkpoints, and resume from one.
    snapshot : callable or None, default=None
        Given the history so far, the fitted attributes for callbacks at an epoch's end.
    frozen : FrozenStates or None, default=None
        The frozen lower layers' states of every row: each step runs the top layers only.

    Returns
    -------
    outcome : Outcome
        ``history``: one record per step (``epoch``, ``step``, ``loss``,
        ``learning_rate``) and one per evaluation (``epoch``, ``steps_run`` and
        ``validation_loss`` or ``validation_score``); ``stop_reason``.

    Raises
    ------
    FloatingPointError
        If the loss stops being finite; the message names the step and remedies.
    """
    loop = _Loop(embedder, loss_fn, plan, validation, checkpoints, frozen)
    steps = [(epoch, batch) for epoch, part in enumerate(batches) for batch in part]
    steps = steps[: plan.total_steps]
    resumed = loop.resume()
    loop.world.seed_dropout(embedder.device, plan.seed, loop.first_step)
    outcome = loop.outcome
    if len(steps) < sum(len(part) for part in batches):
        outcome.stop_reason = "max_steps"
    if loop.stopping is not None and not resumed and steps:
        loop.evaluate(0, 0, progress)  # the starting weights: fine-tuning must beat them
    started = time.monotonic() - loop.elapsed
    if progress is not None:
        progress.start(plan, loop.first_step)
    embedder.encoder.train()
    loss_fn.train()
    try:
        for step in range(loop.first_step, len(steps)):
            epoch, batch = steps[step]
            if progress is not None and (step == loop.first_step or steps[step - 1][0] != epoch):
                progress.epoch_begin(sum(1 for e, _ in steps[step:] if e == epoch))
            value = loop.step(tokens, batch, epoch, step)
            if progress is not None:
                progress.step(value)
            epoch_ends = step + 1 == len(steps) or steps[step + 1][0] != epoch
            every = plan.eval_steps
            stop = None
            if loop.stopping is not None and (epoch_ends or (every and (step + 1) % every == 0)):
                stop = "early_stopping" if loop.evaluate(epoch, step + 1, progress) else None
            if (
                epoch_ends
                and progress is not None
                and snapshot is not None
                and progress.epoch_end(embedder.encoder, lambda: snapshot(outcome.history))
            ):
                stop = stop or "callback"
            elapsed = time.monotonic() - started
            if stop is None and plan.max_time is not None and elapsed >= plan.max_time:
                stop = "max_time"
            stop = loop.world.agree(stop)  # clocks and callbacks may differ between ranks
            if stop is not None:
                outcome.stop_reason = stop
                break
            if checkpoints is not None and checkpoints.due(step) and step + 1 < len(steps):
                loop.checkpoint(step + 1, elapsed)
        loop.finish()
    except RuntimeError as exc:
        loop.world.annotate(exc)
        raise
    finally:
        embedder.encoder.eval()
        embedder.weights_changed()
    return outcome
