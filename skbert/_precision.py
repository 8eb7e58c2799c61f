"""Reduced precision: which one pays where, from a measured table, and autocast.

float32 is the default and exact. The faster modes are opt-in through the ``precision``
parameter, and pay only on hardware that computes them natively. On a CPU, what pays is
read from :data:`MEASURED`: ``transform``'s speed relative to float32 and its STSb
Spearman, for each kind of CPU (:attr:`skbert._hardware.CPU.kind`), copied from the
benchmarks page. :func:`resolve_precision` turns ``"auto"`` into the fastest precision
measured faster than float32 at float32's quality (within :data:`QUALITY_BOUND`) on the
device at hand, and warns once per process when an explicit choice was measured slower
there than float32, with the measured ratio. int8 computes on PyTorch's quantized kernels
(:mod:`skbert._quantize`).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

import torch

from ._hardware import CPU, cpu, cuda
from ._messages import warn
from .exceptions import PrecisionWarning

AUTOCAST_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}
FLOAT32_SPEARMAN = 82.03  # all-MiniLM-L6-v2 on STSb test, x100, in float32
QUALITY_BOUND = 0.5  # the largest Spearman loss "auto" accepts for speed


@dataclass(frozen=True)
class Measured:
    """``transform``'s speed relative to float32 on one kind of CPU, and its quality.

    Parameters
    ----------
    low, high : float
        Slowest and fastest ratio to float32 over the runs (equal for one run).
    spearman : float or None
        STSb test Spearman x100 of all-MiniLM-L6-v2 in this precision; None where the
        report gave none.
    where : str
        The CPU it was measured on, and by whom.
    """

    low: float
    high: float
    spearman: float | None
    where: str

    def ratio(self) -> str:
        """Return the ratio as the warnings quote it: ``0.29x`` or ``0.8x to 1.0x``."""
        if self.low == self.high:
            return f"{self.low:g}x"
        return f"{self.low:g}x to {self.high:g}x"

    def keeps_quality(self) -> bool:
        """Within :data:`QUALITY_BOUND` of float32's Spearman."""
        return self.spearman is not None and self.spearman >= FLOAT32_SPEARMAN - QUALITY_BOUND


_SPR = "a 2-core Intel Xeon of the Sapphire Rapids class (AMX), measured by skbert"
_ZEN4 = "a 2-core AMD EPYC Zen 4 (AVX512-BF16, no AMX), measured by skbert"
# transform, 2,552 STSb test sentences, batch 32, cache off: the benchmarks page's tables
# ("Precision on each kind of CPU"; the AMX ratios and Zen 4's int8 ones in CPU time, two
# runs). "onnx int8" is backend="onnx" with precision="int8", against torch's float32. A
# kind or precision missing here was not measured.
MEASURED: dict[str, dict[str, Measured]] = {
    "amx": {
        "bfloat16": Measured(1.72, 1.99, 82.05, _SPR),
        "float16": Measured(0.85, 0.94, 82.03, _SPR),
        "int8": Measured(2.12, 2.47, 81.76, _SPR),
        "onnx int8": Measured(2.53, 2.78, 81.91, _SPR),
    },
    "avx512_bf16": {
        "bfloat16": Measured(1.65, 1.77, 82.05, _ZEN4),
        "float16": Measured(0.2, 0.35, 82.03, _ZEN4),
        "int8": Measured(2.19, 2.76, 81.74, _ZEN4),
        "onnx int8": Measured(2.80, 3.00, 81.88, _ZEN4),
    },
    "vnni": {
        "bfloat16": Measured(
            0.29, 0.29, None, "a 2-core Intel Xeon with AVX-512 VNNI, reported in issue 14"
        ),
    },
    "avx2": {
        "int8": Measured(
            1.4,
            2.9,
            80.14,
            "an AMD EPYC Zen 3, reported in issue 21 for quantize_dynamic's defaults (per-"
            "tensor weights, 7-bit activations)",
        ),
    },
}
# Where a CPU lacks the native arithmetic, the ratio measured on a CPU that lacks it too.
_EMULATED = {
    "bfloat16": MEASURED["vnni"]["bfloat16"],
    "float16": MEASURED["avx512_bf16"]["float16"],
}
_warned: set[tuple[str, str, str]] = set()
_warned_lock = threading.Lock()


def measured(precision: str, processor: CPU) -> Measured | None:
    """Return what ``precision`` measured on ``processor``'s kind of CPU, or None."""
    found = MEASURED.get(processor.kind, {}).get(precision)
    if found is None and precision == "bfloat16" and not processor.native_bf16:
        return _EMULATED["bfloat16"]
    if found is None and precision == "float16" and not processor.native_fp16:
        return _EMULATED["float16"]
    return found


def auto_precision(
    device: torch.device, *, inference: bool = False, backend: str = "torch"
) -> str:
    """Choose the fastest precision that keeps quality on ``device``.

    On a CPU: the fastest in :data:`MEASURED` for its kind that ran faster than float32 in
    every run at a Spearman within :data:`QUALITY_BOUND` of float32's, else float32; int8
    only for ``inference`` (``transform``; ``fit`` cannot train in int8). With
    ``backend="onnx"`` the candidates are ONNX Runtime's (the table's ``"onnx int8"``),
    against torch's float32. On CUDA: bfloat16 where native, float16 on older devices
    with tensor cores. float32 elsewhere (MPS).
    """
    if device.type == "cpu":
        table = MEASURED.get(cpu().kind, {})
        onnx = backend == "onnx"
        paying = [
            (found.low, name.removeprefix("onnx "))
            for name, found in table.items()
            if name.startswith("onnx ") == onnx
            and found.low > 1
            and found.keeps_quality()
            and (inference or not name.endswith("int8"))
        ]
        return max(paying)[1] if paying else "float32"
    if device.type == "cuda":
        gpu = cuda(device)
        if gpu.native_bf16:
            return "bfloat16"
        return "float16" if gpu.tensor_cores else "float32"
    return "float32"


_NATIVE = {
    "bfloat16": "no native bfloat16 (AVX512-BF16, AMX-BF16 or ARM's BF16), so bfloat16 matrix "
    "products are emulated",
    "float16": "no native float16 (AVX512-FP16 or AMX-FP16), so float16 matrix products are "
    "emulated",
}


def slower_than_float32(
    precision: str, device: torch.device, backend: str = "torch"
) -> str | None:
    """Why ``precision`` runs slower than float32 on ``device``, with the measured ratio.

    None where it was not measured slower (faster, or not measured on such hardware).
    """
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
    found = measured(f"onnx {precision}" if backend == "onnx" else precision, processor)
    if found is None or found.high >= 1:
        return None
    why = f" has {_NATIVE[precision]}, and" if found is _EMULATED.get(precision) else ""
    return (
        f"this CPU, {processor.describe()},{why} on such a CPU ({found.where}) transform "
        f"ran at {found.ratio()} the speed of float32"
    )


def resolve_precision(
    precision: str, device: torch.device, *, inference: bool = False, backend: str = "torch"
) -> str:
    """Return the precision to run on ``device``: ``"auto"`` chosen, any other as it is.

    A choice measured slower than float32 there warns once per process and device type
    (:class:`~skbert.exceptions.PrecisionWarning`), with the measured ratio, and still
    runs: it is the user's.

    Parameters
    ----------
    precision : {"auto", "float32", "bfloat16", "float16", "int8"}
        The ``precision`` parameter.
    device : torch.device
        Where the encoder runs.
    inference : bool, default=False
        For ``transform``: ``"auto"`` may choose int8 (see :func:`auto_precision`).
    backend : {"torch", "onnx"}, default="torch"
        What runs ``transform`` (ONNX Runtime has its own measurements).

    Returns
    -------
    precision : {"float32", "bfloat16", "float16", "int8"}
    """
    if precision == "auto":
        return auto_precision(device, inference=inference, backend=backend)
    key = (precision, device.type, backend)
    if precision == "float32" or key in _warned:
        return precision
    reason = slower_than_float32(precision, device, backend)
    with _warned_lock:
        if reason is None or key in _warned:
            return precision
        _warned.add(key)
    chosen = auto_precision(device, inference=inference, backend=backend)
    warn(
        f"precision={precision!r} is slower than float32 here: {reason}. Use "
        f"precision='float32', or 'auto' (here {chosen!r}); "
        "the benchmarks page has the measurements. Shown once per process.",
        PrecisionWarning,
    )
    return precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[None]:
    """Autocast context for ``precision`` on ``device``; a no-op for float32 and int8."""
    dtype = AUTOCAST_DTYPES.get(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
