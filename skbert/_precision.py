"""Reduced precision: which one pays where, autocast for bfloat16 / float16, and int8 layers.

float32 is the default and exact. The faster modes are opt-in through the ``precision``
parameter, and pay only on hardware that computes them natively (the user guide tables
where; the benchmarks page has the measurements). :func:`resolve_precision` turns
``"auto"`` into the fastest precision that keeps quality on the device at hand, and warns
once per process when an explicit choice would be slower there than float32.

The int8 mode quantizes every linear layer of the transformer: weights per output channel,
activations per token at run time (``scale = max|x_token| / 127``), multiplied as int8 with
int32 accumulation (``torch._int_mm``). Per-token scales keep the few tokens with very large
activations that BERT-style models produce ([CLS], [SEP]) from flattening the resolution of
every other token, which per-tensor dynamic quantization (``torch.ao``) suffers from.
"""

from __future__ import annotations

import contextlib
import copy
import threading

import torch
from torch import nn

from ._encoder import SentenceEncoder
from ._hardware import cpu, cuda
from ._messages import warn
from .exceptions import PrecisionWarning

AUTOCAST_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


# What an explicit choice costs where it does not pay: ratios to float32, from the benchmarks
# page of the docs ("reported" where a user measured it and skbert could not).
_SLOWER = {
    "bfloat16": "has no native bfloat16 (AVX512-BF16, AMX-BF16 or ARM's BF16), so bfloat16 "
    "matrix products are emulated: transform ran at 0.29x the speed of float32 on such a CPU "
    "(an AVX-512 Xeon, reported)",
    "float16": "has no native float16 (AVX512-FP16 or AMX-FP16), so float16 matrix products "
    "are emulated: transform ran at 0.2x to 0.4x the speed of float32 on such a CPU (AMD "
    "Zen 4)",
    "int8": "has no int8 dot-product instructions (VNNI, AMX-INT8 or ARM's DOT), so int8 "
    "products are not expected to be faster than float32 (not measured)",
    "int8-no-bf16": "has VNNI but no AVX512-BF16 or AMX: on such a CPU (an AVX-512 Xeon) "
    "transform ran at 0.8x to 1.0x the speed of float32 (reported); int8 paid only where "
    "measured on a CPU with AVX512-BF16",
}
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def auto_precision(device: torch.device) -> str:
    """Choose the fastest precision that keeps quality on ``device``, for fit and transform.

    bfloat16 on x86 CPUs with native bfloat16 and on CUDA devices that have it, float16 on
    older CUDA devices with tensor cores, float32 everywhere else (other CPUs, ARM, MPS).
    int8 is never chosen: it costs quality (see the benchmarks page).
    """
    if device.type == "cpu":
        processor = cpu()
        return "bfloat16" if processor.native_bf16 and processor.x86 else "float32"
    if device.type == "cuda":
        gpu = cuda(device)
        if gpu.native_bf16:
            return "bfloat16"
        return "float16" if gpu.tensor_cores else "float32"
    return "float32"


def slower_than_float32(precision: str, device: torch.device) -> str | None:
    """Why ``precision`` would run slower than float32 on ``device``; None if not known to."""
    if device.type == "cuda" and precision == "bfloat16":
        gpu = cuda(device)
        if not gpu.native_bf16:
            return (
                f"{gpu.describe()} has no native bfloat16 (compute capability 8.0 or "
                "newer), so torch emulates it (not measured by skbert)"
            )
    if device.type != "cpu":
        return None
    processor = cpu()
    reason = None
    if precision == "bfloat16" and not processor.native_bf16:
        reason = _SLOWER["bfloat16"]
    elif precision == "float16" and not processor.native_fp16:
        reason = _SLOWER["float16"]
    elif precision == "int8" and not processor.int8_dot:
        reason = _SLOWER["int8"]
    elif precision == "int8" and processor.x86 and not processor.native_bf16:
        reason = _SLOWER["int8-no-bf16"]
    return None if reason is None else f"this CPU, {processor.describe()}, {reason}"


def resolve_precision(precision: str, device: torch.device) -> str:
    """Return the precision to run on ``device``: ``"auto"`` chosen, any other as it is.

    A choice that would be slower than float32 there warns once per process and device
    type (:class:`~skbert.exceptions.PrecisionWarning`) and still runs: it is the user's.

    Parameters
    ----------
    precision : {"auto", "float32", "bfloat16", "float16", "int8"}
        The ``precision`` parameter.
    device : torch.device
        Where the encoder runs.

    Returns
    -------
    precision : {"float32", "bfloat16", "float16", "int8"}
    """
    if precision == "auto":
        return auto_precision(device)
    key = (precision, device.type)
    if precision == "float32" or key in _warned:
        return precision
    reason = slower_than_float32(precision, device)
    with _warned_lock:
        if reason is None or key in _warned:
            return precision
        _warned.add(key)
    warn(
        f"precision={precision!r} is likely slower than float32 here: {reason}. Use "
        f"precision='float32', or 'auto' (here {auto_precision(device)!r}); the user guide "
        "says which precision pays on which hardware. Shown once per process.",
        PrecisionWarning,
    )
    return precision


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
        # In place where the result is the same: fewer activation-sized temporaries to allocate.
        accumulated = torch._int_mm(torch.div(rows, scale).round_().to(torch.int8), self.weight_t)
        out = torch.addcmul(self.bias, accumulated.float().mul_(self.weight_scale), scale)
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
