"""int8 embedding on PyTorch's quantized CPU kernels: which engine, and the quantized copy.

``precision="int8"`` runs every linear layer of the transformer through PyTorch's dynamic
int8 linear operator (``torch.ops.quantized.linear_dynamic``, the operator behind
``torch.ao.quantization.quantize_dynamic``): weights quantized once per output channel,
activations per tensor at run time, products in int8 with int32 accumulation by the
engine the weights were packed for, oneDNN or fbgemm (``x86`` picks between the two).
Attention, layer norm, GELU and pooling stay in float32.

Two choices differ from ``quantize_dynamic``'s defaults, each measured on STSb (the
benchmarks page): weights per output channel rather than per tensor, and activations over
the full 8-bit range where the CPU has int8 dot products (VNNI, AMX-INT8), where
``quantize_dynamic`` always gives up a bit (``reduce_range``) to avoid an int16
overflow that only CPUs without them have. The engine is the one measured fastest on the
kind of CPU at hand (:data:`ENGINES`), else PyTorch's own choice
(``torch.backends.quantized.engine``, ``x86`` by default).
"""

from __future__ import annotations

import contextlib
import copy
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from ._encoder import SentenceEncoder
from ._hardware import CPU, cpu

# The engine measured fastest for int8 transform on each kind of CPU (CPU.kind); the
# benchmarks page has the table. Kinds not listed keep PyTorch's engine.
ENGINES = {"amx": "onednn"}
# The engine is a process-wide setting: one packing at a time, whichever embedder asks.
_packing = threading.RLock()


@dataclass(frozen=True)
class Int8Kernel:
    """How the int8 copy computes: PyTorch's quantized engine and the activation range.

    Parameters
    ----------
    engine : str
        A name in ``torch.backends.quantized.supported_engines``.
    reduce_range : bool
        Quantize activations to 7 bits instead of 8: needed where the CPU multiplies int8
        without int32 dot products (the products of pairs overflow int16 otherwise).
    """

    engine: str
    reduce_range: bool

    def describe(self) -> str:
        """Return a short name, for the embedding cache's key and the benchmark tables."""
        bits = "7-bit" if self.reduce_range else "8-bit"
        return f"{self.engine}, per-channel weights, {bits} activations"


def int8_kernel(processor: CPU | None = None) -> Int8Kernel:
    """Return the kernel that int8 runs on ``processor`` (default: this machine's CPU)."""
    processor = cpu() if processor is None else processor
    with _packing:  # not the engine another thread is packing for
        default = torch.backends.quantized.engine
    engine = ENGINES.get(processor.kind, default)
    return Int8Kernel(engine, reduce_range=not processor.int8_dot)


@contextlib.contextmanager
def quantized_engine(name: str) -> Iterator[None]:
    """Pack weights for engine ``name``; the packed weights keep it when they run.

    The process-wide engine is set for the duration and restored, under a lock.
    """
    if name not in torch.backends.quantized.supported_engines:
        raise ValueError(
            f"PyTorch's quantized engine {name!r} is not available in this build of torch "
            f"(available: {torch.backends.quantized.supported_engines}); use "
            "precision='float32'."
        )
    with _packing:
        previous = torch.backends.quantized.engine
        torch.backends.quantized.engine = name
        try:
            # torch 2.13 marks its quantized tensors as deprecated (the operators remain).
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore", message=".*quantized tensor creation", category=UserWarning
                )
                yield
        finally:
            torch.backends.quantized.engine = previous


class QuantizedLinear(nn.Module):
    """A linear layer in int8 on PyTorch's dynamic quantized operator.

    Weights are quantized symmetrically per output channel (``scale = max|w| / 127``) and
    packed for the current quantized engine; each call quantizes its input per tensor.

    Parameters
    ----------
    linear : nn.Linear
        The float layer to quantize (left untouched).
    reduce_range : bool
        Quantize activations to 7 bits (see :class:`Int8Kernel`).
    """

    def __init__(self, linear: nn.Linear, *, reduce_range: bool) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127
        zero = torch.zeros(len(scale), dtype=torch.long)
        quantized = torch.quantize_per_channel(weight, scale.double(), zero, 0, torch.qint8)
        bias = None if linear.bias is None else linear.bias.detach().float()
        self.packed = torch.ops.quantized.linear_prepack(quantized, bias)
        self.reduce_range = reduce_range
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Quantize ``x``, multiply in int8, return float32."""
        return torch.ops.quantized.linear_dynamic(x, self.packed, self.reduce_range)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, reduce_range={self.reduce_range}"


def _replace_linears(module: nn.Module, reduce_range: bool) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            setattr(module, name, QuantizedLinear(child, reduce_range=reduce_range))
        else:
            _replace_linears(child, reduce_range)


def quantize(encoder: SentenceEncoder, kernel: Int8Kernel) -> SentenceEncoder:
    """Return a copy of ``encoder`` whose linear layers run in int8 on ``kernel``.

    Parameters
    ----------
    encoder : SentenceEncoder
        A float encoder on the CPU; it is not modified.
    kernel : Int8Kernel
        The engine to pack the weights for and the activation range.

    Returns
    -------
    quantized : SentenceEncoder
        For inference only: no gradients flow through the int8 layers, and it cannot be
        pickled (packed weights are not portable; embedders rebuild it).
    """
    quantized = copy.deepcopy(encoder).eval()
    with quantized_engine(kernel.engine):
        _replace_linears(quantized.transformer, kernel.reduce_range)
    return quantized
