"""Checkpoints of a fit in progress, so a fit that was killed resumes where it stopped.

A checkpoint holds everything the rest of the fit depends on: the step reached, the weights
of the encoder and of the objective's head, the optimizer's, the schedule's and the loss
scaler's states, the torch generators' states, the early-stopping state with its best
weights, the history so far and the training time spent. The batches need no saving: they
are drawn again from the plan's seed. Running the same ``fit`` again finds the checkpoint
and continues from it, and on the CPU ends with the same weights, bit for bit, as a fit that
was never interrupted.

Each checkpoint is written to a temporary file, flushed, and renamed over the previous one,
so a kill at any moment leaves the last complete checkpoint. It carries a fingerprint of the
fit (the plan, the data, the starting weights): a checkpoint of another fit is refused.
Files are read with ``torch.load(weights_only=True)``, which unpickles tensors and plain
containers only.

In a fit of several processes (:mod:`skbert._distributed`), rank 0 alone writes, reads and
clears the checkpoint, and sends what it read to the other ranks, so the folder need not be
shared between machines.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ._distributed import World

if TYPE_CHECKING:
    from ._plan import FitData, FitPlan

FILE = "skbert_checkpoint.pt"
_WHERE_AND_WHEN = frozenset({"max_time", "device", "checkpoint_dir", "checkpoint_steps"})
_FORMAT = 1


def fingerprint(plan: FitPlan, data: FitData, identity: str) -> str:
    """Digest of what decides a fit's course: its plan, its rows, its starting weights.

    ``max_time``, the device and the checkpointing are left out: they decide where and when
    a fit runs and stops, not what its steps compute, so a fit resumed with more time, on
    another device or with checkpoints written at other steps goes on.
    """
    digest = hashlib.sha256()
    settings = {k: v for k, v in dataclasses.asdict(plan).items() if k not in _WHERE_AND_WHEN}
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    digest.update(identity.encode())
    training = [getattr(data.training, f.name) for f in dataclasses.fields(data.training)]
    for texts, arrays in (
        (data.training.texts, training[1:]),
        (
            [] if data.validation is None else data.validation.texts,
            [] if data.validation is None else [b.index for b in data.validation.batches],
        ),
    ):
        digest.update("\x00".join(texts).encode())
        for array in arrays:
            if isinstance(array, np.ndarray):
                digest.update(np.ascontiguousarray(array).tobytes())
            elif array is not None:
                digest.update(repr(array).encode())
    return digest.hexdigest()


class Checkpoints:
    """The checkpoint of one fit in ``folder``, written every ``every`` steps.

    Parameters
    ----------
    folder : Path
        Where the checkpoint lives; created when the first one is written.
    every : int
        Steps between checkpoints.
    fingerprint : str
        The fit's :func:`fingerprint`.
    """

    def __init__(self, folder: Path, every: int, fingerprint: str) -> None:
        self.folder = folder
        self.every = every
        self.fingerprint = fingerprint

    @property
    def path(self) -> Path:
        """The checkpoint file."""
        return self.folder / FILE

    def due(self, step: int) -> bool:
        """Whether a checkpoint is written after ``step`` (0-based) steps have run."""
        return (step + 1) % self.every == 0

    def load(self) -> dict[str, Any] | None:
        """Return the checkpoint of this fit, or None when there is none; rank 0 reads it.

        Raises
        ------
        ValueError
            If the folder holds the checkpoint of another fit, or an unreadable file.
        """
        return World.current().from_rank_0(self._read)

    def _read(self) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            made_by = state["fingerprint"], state["format"]
        except Exception as exc:  # torch.load raises many types for a damaged file
            raise ValueError(
                f"{self.path} is not a readable skbert checkpoint ({exc}); delete it, or pass "
                "another checkpoint_dir."
            ) from exc
        if made_by != (self.fingerprint, _FORMAT):
            raise ValueError(
                f"{self.path} is the checkpoint of another fit: other parameters, other data, "
                "another starting model or another random_state (every change but verbose, "
                "max_time, checkpoint_dir and checkpoint_steps). Pass another "
                "checkpoint_dir, or delete the file to start afresh."
            )
        return state

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` as this fit's checkpoint, replacing the previous one atomically."""
        if not World.current().main:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{FILE}.{os.getpid()}.partial")
        try:
            torch.save({**state, "fingerprint": self.fingerprint, "format": _FORMAT}, partial)
            with partial.open("rb") as file:
                os.fsync(file.fileno())
            os.replace(partial, self.path)
        finally:
            partial.unlink(missing_ok=True)

    def clear(self) -> None:
        """Empty the folder of this module's files after a successful fit."""
        if not World.current().main:
            return
        for path in [self.path, *self.folder.glob(f".{FILE}.*.partial")]:
            path.unlink(missing_ok=True)
