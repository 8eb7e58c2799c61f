"""What computes a precision on a backend: the float encoder, its int8 copy, ONNX sessions.

The int8 copy (:mod:`skbert._quantize`) and the ONNX Runtime sessions (:mod:`skbert._onnx`)
are derived from the encoder's weights: each is built on first use, once per version of
the weights (and int8 kernel, or thread count), under a lock, so concurrent ``transform``
calls share one; they are never pickled, and training drops them (:meth:`Variants.clear`).
"""

from __future__ import annotations

import threading

import torch

from ._encoder import SentenceEncoder
from ._onnx import OnnxEncoder
from ._quantize import Int8Kernel, int8_kernel, quantize

Version = tuple[tuple[int, int], ...]


def weights_version(encoder: SentenceEncoder) -> Version:
    """Return a token that changes whenever a weight is replaced or changed in place."""
    tensors = [*encoder.parameters(), *encoder.buffers()]
    return tuple((t.data_ptr(), t._version) for t in tensors)


class Variants:
    """The encoders derived from one float encoder on ``device``, built when first asked."""

    def __init__(self, encoder: SentenceEncoder, device: torch.device) -> None:
        self.encoder = encoder
        self.device = device
        self._lock = threading.Lock()
        self.int8: tuple[Version, Int8Kernel, SentenceEncoder] | None = None
        # Per precision: the version of the weights and the thread count it was built for.
        self.onnx: dict[str, tuple[Version, int, OnnxEncoder]] = {}

    def clear(self) -> None:
        """Forget every derived encoder (the weights changed)."""
        with self._lock:
            self.int8, self.onnx = None, {}

    def kernel(self, precision: str, backend: str) -> str | None:
        """Name what computes ``precision`` beyond the float encoder (for the cache key)."""
        if backend == "onnx":
            return "onnxruntime"
        return int8_kernel().describe() if precision == "int8" else None

    def get(self, precision: str, backend: str) -> SentenceEncoder | OnnxEncoder:
        """Return what computes ``precision`` on ``backend`` (see the module docstring)."""
        if backend == "onnx":
            return self._onnx(precision)
        if precision != "int8":
            return self.encoder
        self._check_cpu(precision, backend)
        kernel = int8_kernel()
        with self._lock:
            version = weights_version(self.encoder)
            if self.int8 is None or self.int8[:2] != (version, kernel):
                self.int8 = (version, kernel, quantize(self.encoder, kernel))
            return self.int8[2]

    def _onnx(self, precision: str) -> OnnxEncoder:
        self._check_cpu(precision, "onnx")
        threads = torch.get_num_threads()
        with self._lock:
            version = weights_version(self.encoder)
            built = self.onnx.get(precision)
            if built is None or built[:2] != (version, threads):
                built = (version, threads, OnnxEncoder(self.encoder, precision, threads))
                self.onnx[precision] = built
            return built[2]

    def _check_cpu(self, precision: str, backend: str) -> None:
        if self.device.type == "cpu":
            return
        if backend == "onnx":
            raise ValueError(
                f"backend='onnx' runs on the CPU only, but this vectorizer is on {self.device}; "
                "use device='cpu', or backend='torch' on a GPU."
            )
        raise ValueError(
            f"precision={precision!r} runs on the CPU only, but this vectorizer is on "
            f"{self.device}; use precision='bfloat16' or 'float16' on a GPU."
        )
