"""The embedder: tokenizer, encoder, pooling, truncation and precision, and how to embed with them.

One :class:`Embedder` serves ``transform``, ``score``, the validation during training and
``save``. It is safe for concurrent callers: tokenization uses a private tokenizer configured
once, the int8 copy, the ONNX Runtime sessions (:mod:`skbert._variants`) and the identity
are built under a lock, and nothing else changes after construction but the encoder's
weights, which only ``fit`` trains, before the vectorizer publishes the embedder.

The embedder's identity is a SHA-256 digest of what decides its output: the weights, the
tokenizer and the pooling, normalisation, truncation (or windows) and lower-casing settings.
It keys the embedding cache (with the device, the precision and, for int8, the kernel), so
two embedders share cached embeddings exactly when they compute the same ones. It is
computed once and recomputed when a weight tensor was changed in place or replaced (torch's
version counters tell) or after training (fused optimizer kernels change weights without
counting).
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ._cache import EMBEDDINGS
from ._devices import resolve_device
from ._encoder import (
    SentenceEncoder,
    Tokens,
    load_encoder,
    quiet_transformers,
    tokenize,
    truncating_backend,
)
from ._messages import warn
from ._onnx import OnnxEncoder
from ._precision import autocast, resolve_precision
from ._st_format import write_config
from ._variants import Variants, Version, weights_version
from ._windows import Windows, char_chunks, embed_windows, make_windows, whole_backend

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

CHUNK = 8192  # texts tokenized at once when embedding: bounds memory on very large inputs


def length_sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Row indices in batches of similar length, longest first, so padding stays small."""
    order = np.argsort(-lengths, kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def digest_tensors(digest: Any, tensors: Mapping[str, torch.Tensor]) -> None:
    """Feed the names, dtypes, shapes and bytes of ``tensors`` to a ``hashlib`` digest."""
    for name, tensor in tensors.items():
        data = tensor.detach().reshape(-1).cpu().contiguous()
        digest.update(f"{name}:{data.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())


class Embedder:
    """A tokenizer and a sentence encoder on a device, and how texts become embeddings.

    Parameters
    ----------
    encoder : SentenceEncoder
        Transformer, pooling and optional normalisation; moved to ``device``.
    tokenizer : transformers.PreTrainedTokenizerBase
        A fast tokenizer; it is never modified.
    max_seq_length : int
        Longest input in tokens, special tokens included; longer texts are cut, or split.
    lowercase : bool
        Lower-case texts before tokenizing (sentence-transformers' ``do_lower_case``).
    device : torch.device
        Where the encoder runs.
    windows : Windows or None, default=None
        Split texts longer than ``max_seq_length`` into these windows and pool them
        (:mod:`skbert._windows`); None cuts them.
    """

    def __init__(
        self,
        encoder: SentenceEncoder,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_seq_length: int,
        lowercase: bool,
        device: torch.device,
        windows: Windows | None = None,
    ) -> None:
        self.encoder = encoder.to(device).eval()
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.lowercase = lowercase
        self.device = device
        self.windows = windows
        self._backend = truncating_backend(tokenizer, max_seq_length)
        self._whole = None if windows is None else whole_backend(self._backend)
        self._lock = threading.Lock()
        self._variants = Variants(self.encoder, device)
        self._identity: tuple[Version, str] | None = None

    @property
    def dim(self) -> int:
        """Width of an embedding."""
        return self.encoder.dim

    @property
    def pad_id(self) -> int:
        """Id of the padding token."""
        return int(self.tokenizer.pad_token_id)

    def tokenize(self, texts: list[str]) -> Tokens:
        """Token ids of ``texts``, each cut to ``max_seq_length``, or whole with windows."""
        return tokenize(
            self._backend if self._whole is None else self._whole, texts, self.lowercase
        )

    # -- state derived from the weights, built once per version of them ---------------------

    def weights_changed(self) -> None:
        """Forget what was derived from the weights (identity, int8 copy, ONNX sessions).

        Version counters catch most in-place changes, but not those of fused kernels such
        as the fused AdamW that training uses: training calls this when it ends.
        """
        with self._lock:
            self._identity = None
        self._variants.clear()

    def identity(self) -> str:
        """SHA-256 of the weights, the tokenizer and every setting that shapes the output."""
        with self._lock:
            version = weights_version(self.encoder)
            if self._identity is None or self._identity[0] != version:
                digest = hashlib.sha256()
                digest_tensors(digest, self.encoder.state_dict())
                digest.update(self._backend.to_str().encode())
                settings = (
                    self.encoder.pooling,
                    self.encoder.normalize,
                    self.lowercase,
                    self.windows,
                )
                digest.update(repr(settings).encode())
                self._identity = (version, digest.hexdigest())
            return self._identity[1]

    def _encoder_for(
        self, precision: str, backend: str = "torch"
    ) -> SentenceEncoder | OnnxEncoder:
        """Return what computes ``precision`` on ``backend`` (:mod:`skbert._variants`)."""
        return self._variants.get(precision, backend)

    # -- embedding ---------------------------------------------------------------------------

    @torch.inference_mode()
    def _encode(
        self, texts: list[str], out: np.ndarray, *, batch_size: int, precision: str, backend: str
    ) -> int:
        """Embed ``texts`` into ``out`` chunk by chunk, in order; return how many were cut.

        With windows, a chunk's texts are split, every window of the chunk is embedded in
        the same length-sorted batches, and each text's windows are pooled.
        """
        encoder = self._encoder_for(precision, backend)

        def encode(tokens: Tokens, into: np.ndarray, normalize: bool) -> None:
            with autocast(self.device, precision):
                for rows in length_sorted_batches(tokens.lengths, batch_size):
                    ids, mask = tokens.padded(rows, self.pad_id)
                    vectors = encoder(ids.to(self.device), mask.to(self.device), normalize)
                    into[rows] = vectors.float().cpu().numpy()

        if self.windows is not None:
            for chunk in char_chunks(texts, CHUNK):
                out[chunk] = embed_windows(
                    self.tokenize(texts[chunk]),
                    self.windows,
                    lambda tokens, into: encode(tokens, into, False),
                    self.dim,
                    self.encoder.normalize,
                )
            return 0
        truncated = 0
        for start in range(0, len(texts), CHUNK):
            tokens = self.tokenize(texts[start : start + CHUNK])
            truncated += tokens.n_truncated
            encode(tokens, out[start : start + len(tokens)], self.encoder.normalize)
        return truncated

    def embed(
        self,
        texts: list[str],
        *,
        batch_size: int,
        precision: str,
        use_cache: bool,
        truncate_dim: int | None = None,
        backend: str = "torch",
    ) -> tuple[np.ndarray, int]:
        """Embeddings of ``texts`` in order, each distinct text encoded once or read from cache.

        Parameters
        ----------
        texts : list of str
            Texts to embed.
        batch_size : int
            Texts per forward pass.
        precision : {"auto", "float32", "bfloat16", "float16", "int8"}
            Arithmetic of the forward passes; ``"auto"`` is chosen for the device once per
            call (:func:`~skbert._precision.resolve_precision`), and keys the cache as
            the precision it chose.
        use_cache : bool
            Read and fill the process-wide embedding cache, under this embedder's identity,
            device and precision.
        truncate_dim : int or None, default=None
            Keep the first ``truncate_dim`` dimensions (rescaled to unit length when the
            encoder normalises).
        backend : {"torch", "onnx"}, default="torch"
            What runs the forward passes: torch, or an ONNX Runtime session of the encoder
            (float32 or int8 only; :mod:`skbert._onnx`).

        Returns
        -------
        embeddings : ndarray of shape (len(texts), dim), float32
        n_truncated : int
            How many distinct texts were longer than ``max_seq_length`` and cut (0 with
            windows, which cut nothing).
        """
        precision = resolve_precision(precision, self.device, inference=True, backend=backend)
        index: dict[str, int] = {}
        rows = np.fromiter((index.setdefault(t, len(index)) for t in texts), np.int64, len(texts))
        unique = list(index)
        out = np.empty((len(unique), self.dim), dtype=np.float32)
        if not use_cache:
            truncated = self._encode(
                unique, out, batch_size=batch_size, precision=precision, backend=backend
            )
        else:
            truncated = self._embed_cached(unique, out, batch_size, precision, backend)
        if truncate_dim is not None and truncate_dim < out.shape[1]:
            out = np.ascontiguousarray(out[:, :truncate_dim])
            if self.encoder.normalize:
                out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return (out if len(unique) == len(texts) else out[rows]), truncated

    def _embed_cached(
        self, texts: list[str], out: np.ndarray, batch_size: int, precision: str, backend: str
    ) -> int:
        """Fill ``out`` from the cache, encode and cache the rest; return how many were cut."""
        kernel = self._variants.kernel(precision, backend)
        key = (self.identity(), str(self.device), precision, kernel)
        found = EMBEDDINGS.lookup(key, texts)
        missing = [i for i, row in enumerate(found) if row is None]
        if len(missing) == len(texts):  # nothing cached: encode straight into the output
            fresh, missing_texts = out, texts
        else:
            for i, row in enumerate(found):
                if row is not None:
                    out[i] = row
            fresh = np.empty((len(missing), out.shape[1]), dtype=np.float32)
            missing_texts = [texts[i] for i in missing]
        truncated = self._encode(
            missing_texts, fresh, batch_size=batch_size, precision=precision, backend=backend
        )
        if fresh is not out:
            out[missing] = fresh
        EMBEDDINGS.store(key, missing_texts, fresh)
        return truncated

    # -- copying, saving, pickling -------------------------------------------------------------

    def copy(
        self, device: torch.device, *, long_texts: str, window_stride: int | None
    ) -> Embedder:
        """Return an independent copy on ``device``, cutting or splitting long texts anew.

        ``long_texts`` and ``window_stride`` are checked as :func:`load_embedder` checks
        them (:func:`skbert._windows.make_windows`).
        """
        return Embedder(
            copy.deepcopy(self.encoder),
            self.tokenizer,
            max_seq_length=self.max_seq_length,
            lowercase=self.lowercase,
            device=device,
            windows=make_windows(long_texts, window_stride, self.max_seq_length, self.tokenizer),
        )

    def save(self, folder: Path) -> None:
        """Write the encoder and tokenizer as a sentence-transformers folder.

        sentence-transformers cuts long texts whatever ``windows`` says: the windows and
        their pooling are skbert's, kept in ``skbert_config.json`` by the vectorizer.
        """
        with quiet_transformers():
            self.encoder.transformer.save_pretrained(folder)
        tokenizer = copy.copy(self.tokenizer)  # shallow: the limit is set on the copy only
        tokenizer.model_max_length = self.max_seq_length
        tokenizer.save_pretrained(folder)
        write_config(
            folder,
            pooling=self.encoder.pooling,
            normalize=self.encoder.normalize,
            max_seq_length=self.max_seq_length,
            dim=self.dim,
            do_lower_case=self.lowercase,
        )

    def __getstate__(self) -> dict[str, Any]:
        # The private tokenizer, the lock, the int8 copy and the ONNX sessions are rebuilt;
        # the device is kept as a name, so a vectorizer fitted on a GPU unpickles on a
        # machine without one.
        return {
            "encoder": self.encoder,
            "tokenizer": self.tokenizer,
            "max_seq_length": self.max_seq_length,
            "lowercase": self.lowercase,
            "device": str(self.device),
            "windows": self.windows,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        try:
            device = resolve_device(state["device"])
        except ValueError:
            warn(
                f"This vectorizer was fitted on {state['device']}, which this machine lacks; "
                "it now runs on the CPU.",
                UserWarning,
            )
            device = torch.device("cpu")
        self.__init__(
            state["encoder"],
            state["tokenizer"],
            max_seq_length=state["max_seq_length"],
            lowercase=state["lowercase"],
            device=device,
            windows=state.get("windows"),  # absent from pickles of skbert before windows
        )


def load_embedder(
    model: str,
    *,
    device: torch.device,
    pooling: str = "auto",
    normalize: bool | str = "auto",
    max_seq_length: int | None = None,
    long_texts: str = "truncate",
    window_stride: int | None = None,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
) -> Embedder:
    """Load ``model`` (a Hub id or a folder) as an :class:`Embedder` on ``device``.

    ``"auto"`` and ``None`` settings take the model's own sentence-transformers settings;
    see :func:`skbert._encoder.load_encoder`. ``long_texts`` and ``window_stride`` are
    checked against the resolved ``max_seq_length`` (:func:`skbert._windows.make_windows`).
    """
    loaded = load_encoder(
        model,
        pooling=pooling,
        normalize=normalize,
        max_seq_length=max_seq_length,
        trust_remote_code=trust_remote_code,
        allow_pickle=allow_pickle,
    )
    windows = make_windows(long_texts, window_stride, loaded.max_seq_length, loaded.tokenizer)
    return Embedder(
        loaded.encoder,
        loaded.tokenizer,
        max_seq_length=loaded.max_seq_length,
        lowercase=loaded.lowercase,
        device=device,
        windows=windows,
    )
