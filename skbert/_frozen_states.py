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

The clones of a search (``GridSearchCV`` over pooling and loss, the folds of
``cross_val_score``) freeze the same layers of the same weights, so their states of a text
are equal: with ``cache_embeddings`` (on by default) each text's states are also kept in
the process-wide :data:`skbert._cache.FROZEN_STATES` (least recently used first out past
1 GiB, on the fit's device), keyed by a SHA-256 of the model's configuration and frozen
weights, the device, the precision and the text's token ids, and a later fit reads them
there instead of computing them again.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ._cache import FROZEN_STATES
from ._distributed import World
from ._embedder import digest_tensors, length_sorted_batches
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


def frozen_identity(encoder: SentenceEncoder, n_frozen: int) -> str:
    """SHA-256 of the model's configuration and the weights of its frozen part."""
    transformer = encoder.transformer
    digest = hashlib.sha256(transformer.config.to_json_string().encode())
    digest_tensors(digest, transformer.embeddings.state_dict(prefix="embeddings."))
    for i, layer in enumerate(transformer_layers(encoder)[:n_frozen]):
        digest_tensors(digest, layer.state_dict(prefix=f"layer.{i}."))
    return digest.hexdigest()


def _mask(encoder: SentenceEncoder, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Build the attention mask the model's layers take, as the model builds it."""
    from transformers.masking_utils import create_bidirectional_mask

    return create_bidirectional_mask(
        config=encoder.transformer.config, inputs_embeds=hidden, attention_mask=mask
    )


def _distinct(tokens: Tokens, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    """Return the first of ``rows`` per distinct token ids, each row's slot, each slot's ids.

    Slot ``s`` is the ``s``-th distinct token ids met in ``rows``; other token rows get -1.
    The ids are bytes: the key of the slot's states in the cache.
    """
    ids, offsets = tokens.ids, tokens.offsets
    distinct: dict[bytes, int] = {}
    slots = np.full(len(tokens), -1, dtype=np.int64)
    for r in rows:
        slots[r] = distinct.setdefault(ids[offsets[r] : offsets[r + 1]].tobytes(), len(distinct))
    firsts = np.zeros(len(distinct), dtype=np.int64)
    firsts[slots[rows][::-1]] = rows[::-1]  # the first row of each slot wins
    return firsts, slots, list(distinct)


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
        use_cache: bool = False,
    ) -> FrozenStates:
        """Run the embeddings and the frozen layers once on each distinct row of ``rows``.

        With ``use_cache``, rows whose states another fit computed from the same frozen
        weights (same digest, device and precision) are read from
        :data:`skbert._cache.FROZEN_STATES`, and the states computed here are stored there.
        """
        layers = transformer_layers(encoder)
        check_trainable_layers(trainable_layers, len(layers))
        n_frozen = len(layers) - trainable_layers
        firsts, slots, ids = _distinct(tokens, rows)
        lengths = tokens.lengths[firsts]
        starts = np.zeros(len(firsts), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        states = torch.empty(
            (int(lengths.sum()), encoder.dim), dtype=_STORED[precision], device=device
        )
        todo = np.arange(len(firsts))
        if use_cache:
            key = (frozen_identity(encoder, n_frozen), str(device), precision)
            for s, kept in enumerate(FROZEN_STATES.lookup(key, ids)):
                if kept is not None:
                    states[starts[s] : starts[s] + lengths[s]] = kept
                    todo[s] = -1
            todo = todo[todo >= 0]
        was_training = encoder.training
        encoder.eval()  # deterministic states: no dropout in the frozen layers
        try:
            with torch.no_grad(), autocast(device, precision):
                for batch in length_sorted_batches(lengths[todo], _BATCH):
                    chosen = todo[batch]
                    input_ids, mask = tokens.padded(firsts[chosen], pad_id)
                    input_ids, mask = input_ids.to(device), mask.to(device)
                    hidden = encoder.transformer.embeddings(input_ids=input_ids)
                    attention = _mask(encoder, hidden, mask)
                    for layer in layers[:n_frozen]:
                        hidden = layer(hidden, attention)
                    index = torch.from_numpy(
                        np.concatenate([starts[s] + np.arange(lengths[s]) for s in chosen])
                    ).to(device)
                    states[index] = hidden[mask.bool()].to(states.dtype)  # unpadded, in order
        finally:
            encoder.train(was_training)
        if use_cache:
            kept = [states[starts[s] : starts[s] + lengths[s]] for s in todo]
            FROZEN_STATES.store(key, [ids[s] for s in todo], kept)
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
    embedder: Embedder,
    plan: FitPlan,
    tokens: Tokens,
    batches: list[list[Batch]],
    use_cache: bool = False,
) -> Iterator[FrozenStates | None]:
    """Freeze the lower layers as ``plan.trainable_layers`` says, and compute their states.

    Yields None when every layer trains. The frozen weights get ``requires_grad`` back when
    the block ends, so a later fit (a warm start) trains them again if it asks to.
    ``use_cache``: share the states through :data:`skbert._cache.FROZEN_STATES`.
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
            use_cache=use_cache,
        )
    finally:
        for param in frozen:
            param.requires_grad_(True)
