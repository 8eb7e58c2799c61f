"""Reduced precision: autocast for bfloat16 / float16, and int8 linear layers for CPU inference.

float32 is the default and exact. The faster modes are opt-in through the ``precision``
parameter; their measured quality cost is in the benchmarks page of the docs.

The int8 mode quantizes every linear layer of the transformer: weights per output channel,
activations per token at run time (``scale = max|x_token| / 127``), multiplied as int8 with
int32 accumulation (``torch._int_mm``). Per-token scales keep the few tokens with very large
activations that BERT-style models produce ([CLS], [SEP]) from flattening the resolution of
every other token, which per-tensor dynamic quantization (``torch.ao``) suffers from.
"""

from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn

from ._encoder import SentenceEncoder

AUTOCAST_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[None]:
    """Autocast context for ``precision`` on ``device``; a no-op for float32 and int8."""
    dtype = AUTOCAST_DTYPES.get(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


class Int8Linear(nn.Module):
    """A linear layer computed in int8: per-channel weights, per-token activation scales.

    Parameters
    ----------
    linear : nn.Linear
        The float layer to quantize (left untouched).
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127
        quantized = torch.round(weight / scale[:, None]).to(torch.int8)
        # (in, out) in column-major order: the layout the int8 matmul reads fastest.
        self.register_buffer("weight_t", quantized.t())
        self.register_buffer("weight_scale", scale)
        bias = linear.bias.detach().float() if linear.bias is not None else torch.zeros(len(scale))
        self.register_buffer("bias", bias.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Quantize each row of ``x`` to int8, multiply, rescale, add the bias."""
        shape = x.shape
        rows = x.reshape(-1, shape[-1]).float()
        scale = rows.abs().amax(dim=-1, keepdim=True).clamp_(min=1e-8) / 127
        accumulated = torch._int_mm(torch.round(rows / scale).to(torch.int8), self.weight_t)
        out = torch.addcmul(self.bias, accumulated * self.weight_scale, scale)
        return out.reshape(*shape[:-1], -1)


def _replace_linears(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            setattr(module, name, Int8Linear(child))
        else:
            _replace_linears(child)


def quantize_int8(encoder: SentenceEncoder) -> SentenceEncoder:
    """Return a copy of ``encoder`` whose linear layers run in int8 on the CPU.

    Parameters
    ----------
    encoder : SentenceEncoder
        A float encoder on the CPU; it is not modified.

    Returns
    -------
    quantized : SentenceEncoder
        For inference only (no gradients flow through int8 layers).
    """
    quantized = copy.deepcopy(encoder).eval()
    _replace_linears(quantized.transformer)
    return quantized
