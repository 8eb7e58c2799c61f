"""Embedding on ONNX Runtime, the optional ``onnx`` extra: the encoder exported, run, quantized.

``backend="onnx"`` runs ``transform`` through an ONNX Runtime session of the fitted encoder
(its transformer and pooling; normalisation stays in torch, so windows can pool before it),
in float32 or, for ``precision="int8"``, quantized by ONNX Runtime's dynamic quantization
(int8 weights per output channel, activations per tensor at run time). Training stays in
torch. The export happens on first use and lives beside the weights it was made from (the
embedder keeps one session per version of them); it is never pickled or saved.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._encoder import SentenceEncoder

ONNX_PRECISIONS = ("float32", "int8")
EXTRA = "pip install 'skbert[onnx]'"


def _import_onnxruntime() -> Any:
    """Return the ``onnxruntime`` module, or say which extra installs it."""
    try:
        import onnx  # noqa: F401  (torch.onnx.export writes through it)
        import onnxruntime
    except ImportError as error:
        raise ImportError(
            f"backend='onnx' needs ONNX Runtime and onnx, which are not installed "
            f"({error}); install the extra with {EXTRA}, or use backend='torch'."
        ) from error
    return onnxruntime


def check_onnx_precision(precision: str) -> None:
    """Raise when ``precision`` has no ONNX Runtime path (bfloat16, float16)."""
    if precision not in ONNX_PRECISIONS:
        raise ValueError(
            f"backend='onnx' runs precision='float32' or 'int8', got "
            f"precision={precision!r}; use one of those, or backend='torch' for "
            f"{precision}."
        )


class _Pooled(nn.Module):
    """The encoder without normalisation: what is exported."""

    def __init__(self, encoder: SentenceEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_ids, attention_mask, False)


class OnnxEncoder:
    """An ONNX Runtime session of an encoder, called like the encoder.

    Parameters
    ----------
    encoder : SentenceEncoder
        A float encoder on the CPU; it is exported, not modified.
    precision : {"float32", "int8"}
        ``"int8"`` quantizes the exported model's linear layers (and every other matrix
        product with a constant operand) with ONNX Runtime's ``quantize_dynamic``.
    threads : int
        Intra-op threads of the session (``transform`` passes torch's thread count).
    """

    def __init__(self, encoder: SentenceEncoder, precision: str, threads: int) -> None:
        check_onnx_precision(precision)
        onnxruntime = _import_onnxruntime()
        self.normalize = encoder.normalize
        with tempfile.TemporaryDirectory(prefix="skbert-onnx-") as folder:
            path = Path(folder) / "float32.onnx"
            _export(encoder, path)
            if precision == "int8":
                path = _quantize(path, Path(folder) / "int8.onnx")
            model = path.read_bytes()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.log_severity_level = 3  # errors only
        self.session = onnxruntime.InferenceSession(
            model, options, providers=["CPUExecutionProvider"]
        )

    def __call__(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, normalize: bool | None
    ) -> torch.Tensor:
        """Embed a padded batch as :meth:`SentenceEncoder.forward` does."""
        feeds = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        pooled = torch.from_numpy(self.session.run(None, feeds)[0])
        if self.normalize if normalize is None else normalize:
            pooled = nn.functional.normalize(pooled, p=2.0, dim=1)
        return pooled


def _export(encoder: SentenceEncoder, path: Path) -> None:
    """Write ``encoder``'s transformer and pooling to ``path`` with dynamic batch and length."""
    ids = torch.ones(2, 8, dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in ("input_ids", "attention_mask")}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's tracer warnings
        torch.onnx.export(
            _Pooled(encoder).eval(),
            (ids, ids),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["pooled"],
            dynamic_axes={**axes, "pooled": {0: "batch"}},
            dynamo=False,
        )


def _quantize(source: Path, target: Path) -> Path:
    """Quantize the model at ``source`` to int8 at ``target``; return ``target``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quiet = logging.getLogger().level  # the quantizer logs advice at WARNING on the root
    logging.getLogger().setLevel(logging.ERROR)
    try:
        quantize_dynamic(source, target, per_channel=True, weight_type=QuantType.QInt8)
    finally:
        logging.getLogger().setLevel(quiet)
    return target
