"""Reading and writing the sentence-transformers folder layout.

A sentence-transformers folder is a Hugging Face model folder plus ``modules.json``, which
lists the modules applied in order: a ``Transformer`` (at ``path``, usually the folder itself,
with ``sentence_bert_config.json``), a ``Pooling`` (``1_Pooling/config.json``) and optionally
a ``Normalize``. skbert reads both the classic layout (sentence-transformers 2 to 5) and the
layout of sentence-transformers 6, and writes the classic one, which every version loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ._model_files import read_json

MODULES_FILE = "modules.json"
_TRANSFORMER_TYPE = "sentence_transformers.models.Transformer"
_POOLING_TYPE = "sentence_transformers.models.Pooling"
_NORMALIZE_TYPE = "sentence_transformers.models.Normalize"
# Classic pooling flags, and the names sentence-transformers 6 writes in "pooling_mode".
_POOLING_FLAGS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


@dataclass(frozen=True)
class SentenceTransformerConfig:
    """What a sentence-transformers folder says about how it embeds.

    ``None`` fields are not stated by the folder (a plain Hugging Face model states none).
    """

    transformer_path: Path
    pooling: str | None = None
    normalize: bool = False
    max_seq_length: int | None = None
    do_lower_case: bool = False


def _module_kind(type_name: str) -> str:
    return type_name.rsplit(".", 1)[-1]


def _read_pooling(path: Path) -> str:
    config = read_json(path / "config.json")
    if isinstance(config.get("pooling_mode"), str):
        return config["pooling_mode"]
    modes = [name for flag, name in _POOLING_FLAGS.items() if config.get(flag)]
    return "+".join(modes) if modes else "mean"


def read_config(folder: Path) -> SentenceTransformerConfig:
    """Read a model folder's sentence-transformers configuration, if it has one.

    Parameters
    ----------
    folder : Path
        A Hugging Face model folder, with or without sentence-transformers files.

    Returns
    -------
    config : SentenceTransformerConfig

    Raises
    ------
    ValueError
        If ``modules.json`` lists a module skbert cannot reproduce (``Dense``, ...), since
        silently skipping it would give different embeddings than sentence-transformers.
    """
    modules_file = folder / MODULES_FILE
    if not modules_file.is_file():
        return SentenceTransformerConfig(transformer_path=folder)
    transformer_path, pooling, normalize = folder, None, False
    for module in read_json(modules_file):
        kind, sub = _module_kind(module.get("type", "")), folder / module.get("path", "")
        if kind == "Transformer":
            transformer_path = sub
        elif kind == "Pooling":
            pooling = _read_pooling(sub)
        elif kind == "Normalize":
            normalize = True
        else:
            raise ValueError(
                f"{folder} is a sentence-transformers model with a {module.get('type')!r} "
                "module; skbert reproduces only Transformer, Pooling and Normalize modules. "
                "Use a model without it, or the plain Hugging Face model underneath."
            )
    bert_config_file = transformer_path / "sentence_bert_config.json"
    bert_config = read_json(bert_config_file) if bert_config_file.is_file() else {}
    return SentenceTransformerConfig(
        transformer_path=transformer_path,
        pooling=pooling,
        normalize=normalize,
        max_seq_length=bert_config.get("max_seq_length"),
        do_lower_case=bool(bert_config.get("do_lower_case", False)),
    )


def write_config(
    folder: Path,
    *,
    pooling: str,
    normalize: bool,
    max_seq_length: int,
    dim: int,
    do_lower_case: bool = False,
) -> None:
    """Write the classic sentence-transformers files for a model saved in ``folder``.

    Parameters
    ----------
    folder : Path
        Folder already holding the Hugging Face model and tokenizer.
    pooling : {"mean", "max", "cls"}
        Pooling of the token embeddings.
    normalize : bool
        Whether a ``Normalize`` module follows the pooling.
    max_seq_length : int
        Longest input, in tokens.
    dim : int
        Embedding dimension.
    do_lower_case : bool, default=False
        Whether texts are lower-cased before tokenization (on top of what the tokenizer does).
    """
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": _TRANSFORMER_TYPE},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": _POOLING_TYPE},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": _NORMALIZE_TYPE})
    flags = {flag: name == pooling for flag, name in _POOLING_FLAGS.items()}
    files = {
        MODULES_FILE: modules,
        "sentence_bert_config.json": {
            "max_seq_length": max_seq_length,
            "do_lower_case": do_lower_case,
        },
        "config_sentence_transformers.json": {"similarity_fn_name": "cosine"},
        "1_Pooling/config.json": {"word_embedding_dimension": dim, **flags},
    }
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(content, indent=2), encoding="utf-8")
