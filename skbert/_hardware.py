"""What the hardware can do for each precision: CPU instruction sets, GPU compute capability.

Each question to the machine is asked in one function here, torch's own query first, so
tests can patch it: :func:`_torch_cpu_capabilities` (``torch.cpu.get_capabilities``, torch
2.10 and later), :func:`_cpuinfo` (``/proc/cpuinfo``, the fallback on Linux) and
:func:`_cuda_properties` (``torch.cuda.get_device_capability`` and
``torch.cuda.is_bf16_supported``). ``torch.ops.mkldnn._is_mkldnn_bf16_supported`` is not
used: it is true on every AVX-512 CPU, where oneDNN emulates bfloat16, so it cannot tell a
CPU on which bfloat16 pays from one on which it is three times slower.
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

# /proc/cpuinfo names that torch.cpu.get_capabilities spells otherwise.
_CPUINFO_NAMES = {"avx512f": "avx512_f", "avx512bw": "avx512_bw", "asimddp": "dot"}
# The flags that decide which precision pays; the benchmarks print them beside each table.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
FP16_FLAGS = frozenset({"avx512_fp16", "amx_fp16"})
INT8_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8", "dot", "i8mm"})
AMX_FLAGS = frozenset({"amx_bf16", "amx_int8", "amx_fp16"})
RELEVANT_FLAGS = ("avx2", "avx512_f", *sorted(BF16_FLAGS | FP16_FLAGS | INT8_FLAGS), "amx_tile")


@dataclass(frozen=True)
class CPU:
    """A CPU's name, architecture and instruction-set flags (torch's names)."""

    name: str
    architecture: str
    flags: frozenset[str]

    @property
    def native_bf16(self) -> bool:
        """bfloat16 arithmetic in hardware: AVX512-BF16 or AMX-BF16 (x86), BF16 (ARM)."""
        return bool(self.flags & BF16_FLAGS)

    @property
    def native_fp16(self) -> bool:
        """float16 arithmetic in hardware: AVX512-FP16 or AMX-FP16."""
        return bool(self.flags & FP16_FLAGS)

    @property
    def int8_dot(self) -> bool:
        """int8 dot products: AVX512-VNNI, AVX-VNNI or AMX-INT8 (x86), DOT or I8MM (ARM)."""
        return bool(self.flags & INT8_FLAGS)

    @property
    def x86(self) -> bool:
        return self.architecture in ("x86_64", "amd64", "x86")

    @property
    def kind(self) -> str:
        """Which of the kinds of CPU the measured precision table tells apart.

        ``"amx"`` (x86 with AMX, e.g. Sapphire Rapids), ``"avx512_bf16"`` (x86 with
        AVX512-BF16, no AMX, e.g. Zen 4), ``"vnni"`` (x86 with int8 dot products but no
        native bfloat16, e.g. Cascade Lake), ``"avx2"`` (x86 with AVX2 and neither, e.g.
        Zen 3), ``"other"`` (anything else, ARM included).
        """
        if not self.x86:
            return "other"
        if self.flags & AMX_FLAGS:
            return "amx"
        if self.native_bf16:
            return "avx512_bf16"
        if self.int8_dot:
            return "vnni"
        return "avx2" if "avx2" in self.flags else "other"

    def describe(self) -> str:
        """Return the name and the flags that matter for precision (for benchmark tables)."""
        has = [flag for flag in RELEVANT_FLAGS if flag in self.flags]
        return f"{self.name} ({', '.join(has) or 'none of ' + ', '.join(RELEVANT_FLAGS)})"


@dataclass(frozen=True)
class GPU:
    """A CUDA device's name, compute capability and native bfloat16 support."""

    name: str
    capability: tuple[int, int]
    native_bf16: bool

    @property
    def tensor_cores(self) -> bool:
        """Compute capability 7.0 or newer: float16 matrix products on tensor cores."""
        return self.capability >= (7, 0)

    def describe(self) -> str:
        major, minor = self.capability
        return f"{self.name} (compute capability {major}.{minor})"


def _torch_cpu_capabilities() -> Mapping[str, Any] | None:
    """``torch.cpu.get_capabilities()``, or None where this torch lacks it."""
    query = getattr(torch.cpu, "get_capabilities", None)
    return None if query is None else query()


def _cpuinfo() -> str | None:
    """Return the text of ``/proc/cpuinfo``, or None where there is none."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def _cuda_properties(device: torch.device) -> tuple[str, tuple[int, int], bool]:
    """Name, compute capability and native bfloat16 support of a CUDA device."""
    with torch.cuda.device(device):
        return (
            torch.cuda.get_device_name(),
            torch.cuda.get_device_capability(),
            torch.cuda.is_bf16_supported(including_emulation=False),
        )


def _from_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """Model name and flags from the text of ``/proc/cpuinfo`` (x86 and ARM layouts)."""
    name, flags = "", frozenset[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not name:
            name = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = frozenset(_CPUINFO_NAMES.get(f, f) for f in value.split())
    return name, flags


@functools.cache
def cpu() -> CPU:
    """Describe this machine's CPU; asked once per process."""
    architecture = platform.machine().lower()
    name, flags = platform.processor() or architecture, frozenset[str]()
    capabilities = _torch_cpu_capabilities()
    if capabilities is not None:
        flags = frozenset(key for key, value in capabilities.items() if value is True)
        name = str(capabilities.get("cpu_name") or name)
        architecture = str(capabilities.get("architecture") or architecture)
    text = _cpuinfo()
    if text is not None:
        info_name, info_flags = _from_cpuinfo(text)
        name = info_name or name  # the full model name; torch's is often shortened
        flags = flags or info_flags
    return CPU(name, architecture, flags)


def cuda(device: torch.device) -> GPU:
    """Describe the CUDA device ``device``."""
    return GPU(*_cuda_properties(device))
