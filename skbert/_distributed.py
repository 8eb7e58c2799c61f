"""Data-parallel fits on a :mod:`torch.distributed` process group.

A fit runs data-parallel whenever the default process group holds several processes: one
that a ``torchrun`` launch set up (joined by :func:`rank_device`), one that the caller
initialised, or one that :func:`skbert.distributed.fit_distributed` started. Every process
is given the whole training set and the same parameters, draws the same batches from the
same seed (rank 0's, see :meth:`World.agree`), and encodes its contiguous share of the rows
of every global batch. :class:`DataParallel` gathers the embeddings of the global batch on
every rank and computes the objective on all of it, so in-batch negatives and batch mining
see the rows one process would see; the gradient reaches the encoder through this rank's
rows only, scaled by the number of processes, so that the average that
:class:`~torch.nn.parallel.DistributedDataParallel` takes over the ranks is the gradient of
one process. Validation values and the decision to stop come from rank 0; only rank 0
writes files. A collective that does not complete within the process group's timeout
raises an error that says what the processes were doing.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
from torch import distributed as dist
from torch import nn
from torch.nn import functional as F

from ._messages import first_line

if TYPE_CHECKING:
    from ._batching import Batch
    from ._encoder import SentenceEncoder, Tokens

if dist.is_available():
    # torch.distributed.nn's functions take group.WORLD as a default argument, evaluated on
    # import. Imported while a process group exists (DistributedDataParallel and transformers
    # import it during a fit), they keep that group forever: destroy_process_group cannot
    # free it, and its gloo threads live on into the interpreter's shutdown, where releasing
    # a finished collective aborts the process now and then (SIGABRT, "terminate called
    # without an active exception", in 5 of 91 torchrun launches of the test script).
    # Imported here, before skbert or torchrun's variables set up any group, they keep None.
    import torch.distributed.nn

logger = logging.getLogger(__name__)

# What a process group that skbert sets up for a torchrun launch waits for a collective.
DEFAULT_TIMEOUT = timedelta(minutes=10)
# The variables of torch's env:// rendezvous, which torchrun sets for every process.
LAUNCHER_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
_T = TypeVar("_T")


class _CollectiveError(RuntimeError):
    """A collective of a data-parallel fit did not complete; the message says which."""


@dataclass(frozen=True)
class World:
    """The processes of a fit: this one's ``rank`` among ``size``; one process by default."""

    rank: int = 0
    size: int = 1

    @classmethod
    def current(cls) -> World:
        """Return the default process group as a world; a world of one process without one."""
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return cls()
        return cls(dist.get_rank(), dist.get_world_size())

    @property
    def main(self) -> bool:
        """Whether this is rank 0, the process that decides and writes."""
        return self.rank == 0

    @contextlib.contextmanager
    def _collective(self, what: str) -> Iterator[None]:
        """Turn the failure of a collective into an error that says what was awaited."""
        try:
            yield
        except RuntimeError as exc:
            raise _CollectiveError(
                f"Rank {self.rank} of the {self.size} processes of a data-parallel fit could "
                f"not complete {what}: {first_line(exc)}. Another process failed, was "
                "stopped, stalled for longer than the process group's timeout, or is not "
                "running the same fit; its log says which."
            ) from exc

    def agree(self, value: _T) -> _T:
        """Return rank 0's ``value`` on every rank (a picklable object)."""
        if self.size == 1:
            return value
        box = [value]
        with self._collective("the exchange of rank 0's decisions"):
            dist.broadcast_object_list(box, src=0)
        return box[0]

    def from_rank_0(self, read: Callable[[], _T]) -> _T:
        """Run ``read`` on rank 0 and return its result, or raise its error, on every rank."""
        if self.size == 1:
            return read()
        result, error = None, None
        if self.main:
            try:
                result = read()
            except Exception as exc:  # raised on every rank below, not only here
                error = exc
        result, error = self.agree((result, error))
        if error is not None:
            raise error
        return result

    def check_same_fit(self, fingerprint: Callable[[], str]) -> None:
        """Check that every rank was given the data and parameters that rank 0 was.

        ``fingerprint`` digests them; it is called only in a fit of several processes.

        Raises
        ------
        ValueError
            On every rank, naming the ranks that differ.
        """
        if self.size == 1:
            return
        fingerprints: list[str | None] = [None] * self.size
        with self._collective("the check that every process fits the same data"):
            dist.all_gather_object(fingerprints, fingerprint())
        others = [rank for rank, f in enumerate(fingerprints) if f != fingerprints[0]]
        if others:
            raise ValueError(
                f"Rank(s) {others} of this data-parallel fit were given other X, y, X_val, "
                "y_val or parameters than rank 0. Pass the whole training set and the same "
                "parameters to fit in every process, and do not shard the data: each "
                "process takes its share of every batch itself."
            )

    def seed_dropout(self, device: torch.device, seed: int, step: int) -> None:
        """Give ranks other than 0 their own dropout stream, so they draw other masks.

        Rank 0 keeps the stream a single process would draw from; rank ``r`` reseeds the
        CPU's and ``device``'s generators from ``(seed, r, step)``, ``step`` being where
        training starts or resumes.
        """
        if self.main:
            return
        derived = int(np.random.SeedSequence([seed, self.rank, step]).generate_state(1)[0])
        torch.default_generator.manual_seed(derived)
        if device.type == "cuda":
            with torch.cuda.device(device):
                torch.cuda.manual_seed(derived)

    def annotate(self, exc: BaseException) -> None:
        """Add to ``exc`` where it was raised, in a fit of several processes.

        For errors such as a failed gradient all-reduce, which torch raises from inside the
        backward pass; the collectives of this module explain their own failures.
        """
        if self.size > 1 and not isinstance(exc, _CollectiveError) and hasattr(exc, "add_note"):
            exc.add_note(
                f"Raised on rank {self.rank} of the {self.size} processes of a data-parallel "
                "fit. A timeout or a lost connection means that another process failed, was "
                "stopped or stalled: its log says which."
            )

    def data_parallel(
        self, encoder: SentenceEncoder, loss_fn: nn.Module, device: torch.device
    ) -> DataParallel | None:
        """Return the training step of a fit of several processes; None in one process."""
        if self.size == 1:
            return None
        return DataParallel(self, encoder, loss_fn, device)


def _launched_by_torchrun() -> bool:
    """Whether this process is a rank that a launcher such as torchrun started.

    A process that ``multiprocessing`` started (a joblib or DataLoader worker) inherits the
    launcher's variables but is not one of its ranks.
    """
    return (
        all(name in os.environ for name in LAUNCHER_VARIABLES)
        and int(os.environ["WORLD_SIZE"]) > 1
        and multiprocessing.parent_process() is None
    )


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def rank_device(device: torch.device) -> torch.device:
    """Join a launcher's process group if there is one; return the device this rank trains on.

    In a process that ``torchrun`` started and that has no process group yet, the default
    process group is initialised from torchrun's variables: NCCL for a CUDA ``device``, gloo
    otherwise, with :data:`DEFAULT_TIMEOUT`. In a group of several processes, ``"cuda"``
    without an index becomes the GPU of the process's ``LOCAL_RANK``.

    Raises
    ------
    ValueError
        If the process group's backend is NCCL and ``device`` is not a CUDA device.
    """
    if not dist.is_available():
        return device
    if not dist.is_initialized() and _launched_by_torchrun():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=DEFAULT_TIMEOUT)
        atexit.register(_leave)
        logger.info("Joined torchrun's process group as rank %d (%s).", dist.get_rank(), backend)
    world = World.current()
    if world.size == 1:
        return device
    if device.type == "cuda":
        if device.index is None:
            local_rank = int(os.environ.get("LOCAL_RANK", world.rank))
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    elif dist.get_backend() == "nccl":
        raise ValueError(
            f"device={str(device)!r}, but this process group's backend is NCCL, which "
            "exchanges CUDA tensors only; use device='cuda' (each process takes the GPU of "
            "its LOCAL_RANK) or 'auto', or initialise a 'gloo' process group to train on "
            f"{device.type}."
        )
    return device


def shares(n_rows: int, size: int) -> list[int]:
    """Rows of a global batch of ``n_rows`` that each of ``size`` ranks encodes, in order.

    Contiguous chunks whose sizes differ by one at most, the first ones larger: rank ``r``
    takes the rows after those of ranks ``0..r-1``. A rank may get none when the batch has
    fewer rows than there are ranks.
    """
    base, extra = divmod(n_rows, size)
    return [base + (rank < extra) for rank in range(size)]


class _Gather(torch.autograd.Function):
    """Every rank's rows of each column, in rank order; the gradient flows to this rank's.

    Forward: ``local`` of shape ``(columns, most, dim)`` holds this rank's ``counts[rank]``
    rows (then padding); the output ``(columns, sum(counts), dim)`` stacks every rank's.
    Backward: the gradient of this rank's rows, times the number of ranks. Every rank
    computes the same loss from the same gathered rows, so the gradient that rank ``r``'s
    rows receive on rank ``r`` is the one they receive on any rank; summed over the ranks it
    is the single-process gradient, and DistributedDataParallel's average over ranks undoes
    the factor.
    """

    @staticmethod
    def forward(ctx: Any, local: torch.Tensor, counts: tuple[int, ...], world: World) -> Any:
        parts = [torch.empty_like(local) for _ in counts]
        with world._collective("the gathering of the batch's embeddings"):
            dist.all_gather(parts, local.contiguous())
        ctx.counts, ctx.rank = counts, world.rank
        return torch.cat([part[:, :n] for part, n in zip(parts, counts, strict=True)], dim=1)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        counts, rank = ctx.counts, ctx.rank
        start = sum(counts[:rank])
        local = grad.new_zeros(grad.shape[0], max(counts), grad.shape[2])
        local[:, : counts[rank]] = grad[:, start : start + counts[rank]] * len(counts)
        return local, None, None


class _GlobalBatchLoss(nn.Module):
    """The encoder and the objective as one module, for DistributedDataParallel to wrap.

    Its forward embeds this rank's rows and returns the objective's loss on the whole
    global batch; the objective's own weights (the softmax classifier) are averaged over
    the ranks with the encoder's.
    """

    def __init__(self, encoder: SentenceEncoder, loss_fn: nn.Module, world: World) -> None:
        super().__init__()
        self.encoder, self.loss_fn, self.world = encoder, loss_fn, world

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        n_columns: int,
        counts: tuple[int, ...],
        *target: torch.Tensor,
    ) -> torch.Tensor:
        embeddings = self.encoder(input_ids, attention_mask)
        columns = embeddings.view(n_columns, -1, embeddings.shape[1])
        columns = columns[:, : counts[self.world.rank]]  # a stand-in row is not this rank's
        padded = F.pad(columns, (0, 0, 0, max(counts) - columns.shape[1]))
        return self.loss_fn(*_Gather.apply(padded, counts, self.world).unbind(0), *target)


class DataParallel:
    """One data-parallel training step: this rank's share of a global batch, the loss of all.

    The encoder and the objective are wrapped in
    :class:`~torch.nn.parallel.DistributedDataParallel`, which makes rank 0's weights every
    rank's and averages the gradients during the backward pass. Parameters that a step does
    not reach (a model's unused pooler) are allowed. A rank whose share of a small batch is
    empty encodes a copy of the batch's first row, left out of the loss, so every rank runs
    the same steps.

    Parameters
    ----------
    world : World
        The processes of the fit.
    encoder : SentenceEncoder
        The encoder to train, on ``device``.
    loss_fn : nn.Module
        The objective, on ``device``.
    device : torch.device
        This rank's device.
    """

    def __init__(
        self, world: World, encoder: SentenceEncoder, loss_fn: nn.Module, device: torch.device
    ) -> None:
        self.world, self.device = world, device
        with world._collective("the start of training (DistributedDataParallel)"):
            self.module = nn.parallel.DistributedDataParallel(
                _GlobalBatchLoss(encoder, loss_fn, world),
                device_ids=[device] if device.type == "cuda" else None,
                find_unused_parameters=True,
            )

    def __call__(
        self, tokens: Tokens, batch: Batch, target: tuple[torch.Tensor, ...], pad_id: int
    ) -> torch.Tensor:
        """Return the loss of the global ``batch``, of which this rank embeds its share."""
        counts = tuple(shares(len(batch), self.world.size))
        start = sum(counts[: self.world.rank])
        rows = batch.index[start : start + counts[self.world.rank]]
        if len(rows) == 0:  # fewer rows than ranks: encode a stand-in, left out of the loss
            rows = batch.index[:1]
        input_ids, mask = tokens.padded(rows.T.ravel(), pad_id)
        return self.module(
            input_ids.to(self.device), mask.to(self.device), rows.shape[1], counts, *target
        )
