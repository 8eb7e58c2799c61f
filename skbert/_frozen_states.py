"""Partial fine-tuning: the lower layers frozen, their token states computed once per text.

With ``trainable_layers=k`` only the top ``k`` transformer layers train (pooling has no
weights); the embeddings and the lower layers are frozen: no gradient, hence no optimizer
state. What they output for a text cannot change during the fit, so :class:`FrozenStates`
computes it once per distinct row of tokens (no gradient, eval mode, in the fit's
precision), keeps it unpadded in that precision on the fit's device, and each training step
runs only the top layers on the kept states. Rows are keyed by their token ids, so with
``long_texts="windows"`` the key is the window a row actually trains on.

The kept states take ``n_tokens * hidden_size`` values: 4 bytes each in float32, 2 in
bfloat16 or float16 (for all-MiniLM-L6-v2, 1.5 KiB per token in float32).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ._distributed import World
from ._embedder import length_sorted_batches
from ._precision import autocast

if TYPE_CHECKING:
    from ._batching import Batch
    from ._embedder import Embedder
    from ._encoder import SentenceEncoder, Tokens
    from ._plan import FitPlan

# Models whose transformer is embeddings, then ``encoder.layer``, each layer called as
# ``layer(hidden_states, attention_mask)``: the structure the frozen path reproduces.
SUPPORTED_MODELS = ("bert", "roberta", "xlm-roberta")
_STORED = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_BATCH = 64  # texts per forward pass when computing the frozen states


def transformer_layers(encoder: SentenceEncoder) -> nn.ModuleList:
    """Return the transformer's layers, or say why partial fine-tuning cannot run on it."""
    transformer = encoder.transformer
    model_type = transformer.config.model_type
    layers = getattr(getattr(transformer, "encoder", None), "layer", None)
    if model_type not in SUPPORTED_MODELS or not isinstance(layers, nn.ModuleList):
        raise ValueError(
            f"trainable_layers needs a BERT-like model ({', '.join(SUPPORTED_MODELS)}), but "
            f"this model is {model_type!r}; use trainable_layers=None to train all of it."
        )
    return layers


def check_trainable_layers(trainable_layers: int, n_layers: int) -> None:
    """``trainable_layers`` must be at most the model's number of layers."""
    if trainable_layers > n_layers:
        raise ValueError(
            f"trainable_layers={trainable_layers} exceeds the {n_layers} layers of the "
            f"model; use 1 to {n_layers}, or None to train every layer."
        )


def _mask(encoder: SentenceEncoder, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Build the attention mask the model's layers take, as the model builds it."""
    from transformers.masking_utils import create_bidirectional_mask

    return create_bidirectional_mask(
        config=encoder.transformer.config, inputs_embeds=hidden, attention_mask=mask
    )


def _distinct(tokens: Tokens, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the first of ``rows`` of each distinct token ids, and each token row's slot.

    Slot ``s`` is the ``s``-th distinct token ids met in ``rows``; other token rows get -1.
    """
    ids, offsets = tokens.ids, tokens.offsets
    distinct: dict[bytes, int] = {}
    slots = np.full(len(tokens), -1, dtype=np.int64)
    for r in rows:
        slots[r] = distinct.setdefault(ids[offsets[r] : offsets[r + 1]].tobytes(), len(distinct))
    firsts = np.zeros(len(distinct), dtype=np.int64)
    firsts[slots[rows][::-1]] = rows[::-1]  # the first row of each slot wins
    return firsts, slots


@dataclass(frozen=True)
class FrozenStates:
    """The frozen layers' output of every training row, and the top layers that train on it.

    ``states[starts[s]:starts[s] + lengths[s]]`` are the token states of distinct row ``s``;
    ``slots[r]`` is the distinct row of token row ``r``.
    """

    encoder: SentenceEncoder
    top: nn.ModuleList
    states: torch.Tensor
    starts: torch.Tensor
    lengths: np.ndarray
    slots: np.ndarray

    @classmethod
    def compute(
        cls,
        encoder: SentenceEncoder,
        tokens: Tokens,
        rows: np.ndarray,
        trainable_layers: int,
        *,
        pad_id: int,
        device: torch.device,
        precision: str,
    ) -> FrozenStates:
        """Run the embeddings and the frozen layers once on each distinct row of ``rows``."""
        layers = transformer_layers(encoder)
        check_trainable_layers(trainable_layers, len(layers))
        n_frozen = len(layers) - trainable_layers
        firsts, slots = _distinct(tokens, rows)
        lengths = tokens.lengths[firsts]
        starts = np.zeros(len(firsts), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        states = torch.empty(
            (int(lengths.sum()), encoder.dim), dtype=_STORED[precision], device=device
        )
        was_training = encoder.training
        encoder.eval()  # deterministic states: no dropout in the frozen layers
        try:
            with torch.no_grad(), autocast(device, precision):
                for batch in length_sorted_batches(lengths, _BATCH):
                    input_ids, mask = tokens.padded(firsts[batch], pad_id)
                    input_ids, mask = input_ids.to(device), mask.to(device)
                    hidden = encoder.transformer.embeddings(input_ids=input_ids)
                    attention = _mask(encoder, hidden, mask)
                    for layer in layers[:n_frozen]:
                        hidden = layer(hidden, attention)
                    index = torch.from_numpy(
                        np.concatenate([starts[s] + np.arange(lengths[s]) for s in batch])
                    ).to(device)
                    states[index] = hidden[mask.bool()].to(states.dtype)  # unpadded, in order
        finally:
            encoder.train(was_training)
        return cls(
            encoder,
            layers[n_frozen:],
            states,
            torch.from_numpy(starts).to(device),
            lengths,
            slots,
        )

    @property
    def nbytes(self) -> int:
        """Memory the kept states take."""
        return self.states.numel() * self.states.element_size()

    def forward(self, batch: Batch) -> tuple[torch.Tensor, ...]:
        """Embed every column of ``batch`` from the kept states; one tensor per column."""
        slots = self.slots[batch.index.T.ravel()]
        lengths = self.lengths[slots]
        positions = np.arange(lengths.max())
        mask = torch.from_numpy((positions[None, :] < lengths[:, None]).astype(np.int64))
        mask = mask.to(self.states.device)
        index = self.starts[torch.from_numpy(slots).to(self.states.device)][:, None]
        index = index + torch.arange(len(positions), device=self.states.device)
        index = index.clamp_(max=len(self.states) - 1)  # padding: any row, masked out
        hidden = self.states[index].float()
        attention = _mask(self.encoder, hidden, mask)
        for layer in self.top:
            hidden = layer(hidden, attention)
        return self.encoder.pool(hidden, mask).split(len(batch))


def _frozen_parameters(encoder: SentenceEncoder, trainable_layers: int) -> list[nn.Parameter]:
    """Return the weights of the embeddings and of all but the top layers that train now."""
    layers = transformer_layers(encoder)
    check_trainable_layers(trainable_layers, len(layers))
    modules = [encoder.transformer.embeddings, *layers[: len(layers) - trainable_layers]]
    return [p for module in modules for p in module.parameters() if p.requires_grad]


@contextlib.contextmanager
def partial_fine_tuning(
    embedder: Embedder, plan: FitPlan, tokens: Tokens, batches: list[list[Batch]]
) -> Iterator[FrozenStates | None]:
    """Freeze the lower layers as ``plan.trainable_layers`` says, and compute their states.

    Yields None when every layer trains. The frozen weights get ``requires_grad`` back when
    the block ends, so a later fit (a warm start) trains them again if it asks to.
    """
    k = plan.trainable_layers
    if k is None:
        yield None
        return
    if World.current().size > 1:
        raise ValueError(
            f"trainable_layers={k} is not supported in a fit of several processes; use "
            "trainable_layers=None there, or fit in one process."
        )
    assert plan.precision is not None
    frozen = _frozen_parameters(embedder.encoder, k)
    for param in frozen:
        param.requires_grad_(False)
    try:
        steps = [batch for epoch in batches for batch in epoch][: plan.total_steps]
        rows = np.unique(np.concatenate([batch.index.ravel() for batch in steps]))
        yield FrozenStates.compute(
            embedder.encoder,
            tokens,
            rows,
            k,
            pad_id=embedder.pad_id,
            device=embedder.device,
            precision=plan.precision,
        )
    finally:
        for param in frozen:
            param.requires_grad_(True)
