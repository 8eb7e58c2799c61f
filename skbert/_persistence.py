"""Saving a fitted vectorizer as a sentence-transformers folder, atomically, and loading it.

The folder is a Hugging Face model folder (``config.json``, ``model.safetensors``, tokenizer
files), the sentence-transformers files that describe pooling and normalisation, and
``skbert_config.json`` with the estimator's parameters and fitted metadata.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import __version__
from ._encoder import quiet_transformers
from ._st_format import write_config

if TYPE_CHECKING:
    from .vectorizer import SBERTVectorizer

SKBERT_CONFIG = "skbert_config.json"
_FITTED = ("loss_", "input_kind_", "history_", "classes_", "score_range_")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool, dict)):
        return value
    return None  # e.g. a RandomState instance: not restorable from JSON


def _write(vectorizer: SBERTVectorizer, folder: Path) -> None:
    encoder, tokenizer = vectorizer.encoder_, vectorizer.tokenizer_
    with quiet_transformers():
        encoder.transformer.save_pretrained(folder)
    limit = tokenizer.model_max_length
    tokenizer.model_max_length = vectorizer.max_seq_length_
    try:
        tokenizer.save_pretrained(folder)
    finally:
        tokenizer.model_max_length = limit
    write_config(
        folder,
        pooling=vectorizer.pooling_,
        normalize=vectorizer.normalize_,
        max_seq_length=vectorizer.max_seq_length_,
        dim=encoder.dim,
        do_lower_case=vectorizer.lowercase_,
    )
    params = {k: _jsonable(v) for k, v in vectorizer.get_params().items()}
    params["model"] = str(vectorizer.model)
    fitted = {k: _jsonable(getattr(vectorizer, k)) for k in _FITTED if hasattr(vectorizer, k)}
    content = {"skbert_version": __version__, "params": params, "fitted": fitted}
    (folder / SKBERT_CONFIG).write_text(json.dumps(content, indent=2), encoding="utf-8")


def save(vectorizer: SBERTVectorizer, path: Path, *, overwrite: bool) -> Path:
    """Write ``vectorizer`` to ``path`` through a temporary sibling folder and a rename.

    Parameters
    ----------
    vectorizer : SBERTVectorizer
        A fitted vectorizer.
    path : Path
        Destination folder.
    overwrite : bool
        Replace an existing non-empty folder.

    Returns
    -------
    path : Path
    """
    path = path.expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} is a file; pass a folder path to save to.")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{path} already exists and is not empty; pass overwrite=True to replace it."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        _write(vectorizer, staging)
        if path.exists():
            old = path.with_name(f".{path.name}.{uuid.uuid4().hex}.old")
            path.rename(old)
            try:
                staging.rename(path)
            except BaseException:
                old.rename(path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return path


def read(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read the parameters and fitted metadata that :func:`save` wrote to ``path``.

    A sentence-transformers or Hugging Face folder without ``skbert_config.json`` reads as
    a vectorizer of that model that was not fine-tuned.
    """
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a folder; pass the folder written by save().")
    config_file = path / SKBERT_CONFIG
    if not config_file.is_file():
        return {"model": str(path)}, {"loss_": None, "input_kind_": "texts", "history_": []}
    try:
        saved = json.loads(config_file.read_text(encoding="utf-8"))
        params, fitted = saved["params"], saved["fitted"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{config_file} is corrupt ({exc}); save the vectorizer again.") from exc
    for name in ("pair_features", "score_range", "matryoshka_dims"):
        if params.get(name) is not None:
            params[name] = tuple(params[name])
    if "classes_" in fitted:
        fitted["classes_"] = np.asarray(fitted["classes_"])
    if "score_range_" in fitted:
        fitted["score_range_"] = tuple(fitted["score_range_"])
    return params, fitted
