"""Saving a fitted vectorizer as a sentence-transformers folder, atomically, and loading it.

:class:`PersistenceMixin` gives ``SBERTVectorizer`` its ``save`` and ``load``.

The folder is a Hugging Face model folder (``config.json``, ``model.safetensors``, tokenizer
files), the sentence-transformers files that describe pooling and normalisation, and
``skbert_config.json`` with the estimator's parameters, fitted metadata, and the size and
SHA-256 of every other file, so that loading finds a file damaged or changed since.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from . import __version__
from ._devices import resolve_device
from ._distributed import World
from ._embedder import load_embedder
from ._messages import warn
from ._model_files import check_manifest, manifest
from ._state import FittedState, frozen_state, state_from_json, state_to_json

SKBERT_CONFIG = "skbert_config.json"
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2  # from Linux <fcntl.h> and <linux/fs.h>
_TUPLE_PARAMS = ("pair_features", "score_range", "matryoshka_dims")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool, dict)):
        return value
    return None  # e.g. a RandomState instance: not restorable from JSON


def _write(params: dict[str, Any], state: FittedState, folder: Path) -> None:
    state.embedder.save(folder)
    content = {
        "skbert_version": __version__,
        "params": {k: _jsonable(v) for k, v in params.items()},
        "fitted": state_to_json(state),
        "files": manifest(folder),
    }
    (folder / SKBERT_CONFIG).write_text(json.dumps(content, indent=2), encoding="utf-8")


def _fsync(path: Path) -> None:
    """Flush ``path`` to disk; a folder too on POSIX, which makes a rename in it durable."""
    if path.is_dir() and os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one atomic step (Linux ``renameat2``); False where unsupported."""
    if sys.platform != "linux":
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # e.g. a network filesystem
        return False
    raise OSError(code, os.strerror(code), str(b))


def _replace(staging: Path, path: Path) -> None:
    """Put ``staging`` in place of the folder ``path``; ``staging`` then holds the old one.

    One atomic exchange where the system offers it; otherwise two renames, between which
    a killed process leaves the old folder at ``.NAME.<id>.old`` (``read`` points to it).
    """
    if _exchange(staging, path):
        return
    old = path.with_name(f".{path.name}.{uuid.uuid4().hex}.old")
    path.rename(old)
    try:
        staging.rename(path)
    except BaseException:
        old.rename(path)
        raise
    old.rename(staging)


def save(params: dict[str, Any], state: FittedState, path: Path, *, overwrite: bool) -> Path:
    """Write a fitted vectorizer to ``path`` through a temporary sibling folder and a rename.

    The files are flushed to disk before the folder takes the place of ``path``, so
    ``path`` holds either the previous folder or the complete new one, whenever the
    process is stopped. A killed process may leave a hidden ``.NAME.*.partial`` folder
    beside ``path``, safe to delete.

    Parameters
    ----------
    params : dict
        The vectorizer's parameters.
    state : FittedState
        Its fitted state.
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
        _write(params, state, staging)
        for item in [*staging.rglob("*"), staging]:
            _fsync(item)
        if path.exists():
            _replace(staging, path)
        else:
            staging.rename(path)
        _fsync(path.parent)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return path


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


def _read_config(config_file: Path) -> tuple[dict[str, Any], dict[str, Any], dict]:
    try:
        saved = json.loads(config_file.read_text(encoding="utf-8"))
        params, fitted = saved["params"], saved["fitted"]
        files = {name: (int(f["bytes"]), str(f["sha256"])) for name, f in saved["files"].items()}
        if any(Path(name).is_absolute() or ".." in Path(name).parts for name in files):
            raise ValueError("its file list names files outside the folder")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{config_file} is corrupt ({exc}); save the vectorizer again.") from exc
    return params, fitted, files


def _known(params: dict[str, Any], known: Collection[str], path: Path) -> dict[str, Any]:
    unknown = sorted(set(params) - set(known))
    if unknown:
        warn(
            f"{path} sets parameters this version of skbert does not know, {unknown}; they "
            "are ignored.",
            UserWarning,
        )
    kept = {k: v for k, v in params.items() if k in known}
    for name in _TUPLE_PARAMS:
        if kept.get(name) is not None:
            kept[name] = tuple(kept[name])
    return kept


def load(
    path: Path,
    *,
    known: Collection[str],
    device: torch.device,
    trust_remote_code: bool,
    allow_pickle: bool,
) -> tuple[dict[str, Any], FittedState]:
    """Read the parameters and the fitted state that :func:`save` wrote to ``path``.

    Every file :func:`save` wrote is checked to be there, unchanged. A sentence-transformers
    or Hugging Face folder without ``skbert_config.json`` reads as a vectorizer of that model
    that was not fine-tuned. Parameters outside ``known`` are dropped with a warning.
    """
    if not path.is_dir():
        stranded = max(path.parent.glob(f".{path.name}.*.old"), key=_mtime, default=None)
        hint = (
            f" A save that was killed left the previous version at {stranded}: rename it "
            f"to {path.name}."
            if stranded
            else ""
        )
        raise FileNotFoundError(
            f"{path} is not a folder; pass the folder written by save().{hint}"
        )
    config_file = path / SKBERT_CONFIG
    fitted = None
    params: dict[str, Any] = {"model": str(path)}
    if config_file.is_file():
        params, fitted, files = _read_config(config_file)
        check_manifest(path, files)
    embedder = load_embedder(
        str(path),
        device=device,
        long_texts=params.get("long_texts", "truncate"),  # absent before skbert had windows
        window_stride=params.get("window_stride"),
        trust_remote_code=trust_remote_code,
        allow_pickle=allow_pickle,
    )
    if fitted is None:
        return params, frozen_state(embedder)
    try:
        state = state_from_json(fitted, embedder)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"{config_file} does not describe a fit this version of skbert ({__version__}) can "
            f"read ({type(exc).__name__}: {exc}); load it with the skbert version that saved "
            "it and save it again."
        ) from exc
    return _known(params, known, path), state


class PersistenceMixin:
    """``save`` and ``load`` of a fitted vectorizer, as a sentence-transformers folder."""

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Save the fitted vectorizer as a sentence-transformers folder.

        The folder loads with :meth:`load` and with
        ``sentence_transformers.SentenceTransformer(path)`` to the same embeddings. It is
        written to a temporary folder first and renamed into place, so an interrupted save
        never leaves a half-written model. In a :mod:`torch.distributed` process group of
        several processes, only rank 0 writes; the others return ``path`` at once.

        Parameters
        ----------
        path : str or os.PathLike
            Folder to write.
        overwrite : bool, default=False
            Replace an existing non-empty folder.

        Returns
        -------
        path : Path
        """
        check_is_fitted(self)
        if not World.current().main:
            return Path(path).expanduser().absolute()
        params = {**self.get_params(), "model": str(self.model)}
        return save(params, self._fitted, Path(path), overwrite=overwrite)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        device: str = "auto",
        trust_remote_code: bool = False,
        allow_pickle: bool = False,
    ) -> Any:
        """Load a vectorizer saved with :meth:`save`, or any sentence-transformers folder.

        The folder is checked first: a missing, damaged or changed file is reported by
        name. Nothing is downloaded, and no code from the folder runs unless allowed here;
        the folder's own ``trust_remote_code`` and ``allow_pickle`` settings are ignored.

        Parameters
        ----------
        path : str or os.PathLike
            Folder written by :meth:`save` (or a sentence-transformers / Hugging Face model
            folder, loaded as a vectorizer without fine-tuning).
        device : str, default="auto"
            Where to put the encoder.
        trust_remote_code : bool, default=False
            Allow Python code shipped with the folder to run; see the class parameter.
        allow_pickle : bool, default=False
            Accept pickle-based weights in a folder without safetensors; see the class
            parameter. Folders written by :meth:`save` always hold safetensors.

        Returns
        -------
        vectorizer : SBERTVectorizer
            Fitted, ready to ``transform``. Its ``trust_remote_code`` and ``allow_pickle``
            are the values passed here.
        """
        trusted = {
            "device": device,
            "trust_remote_code": trust_remote_code,
            "allow_pickle": allow_pickle,
        }
        params, state = load(
            Path(path),
            known=cls._get_param_names(),
            device=resolve_device(device),
            trust_remote_code=trust_remote_code,
            allow_pickle=allow_pickle,
        )
        vectorizer = cls(**{**params, **trusted})
        vectorizer._fitted = state
        return vectorizer
