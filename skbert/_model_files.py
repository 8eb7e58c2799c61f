"""Checking a model folder's files before loading it, so a missing or damaged file is named.

transformers reports such files in its own terms (a folder without ``config.json`` is an
"unrecognized model"), or not at all: a folder without tokenizer files loads as a tokenizer
that knows no words and turns every text into ``[UNK]``. The checks here run first, read
no more than the JSON files and the safetensors headers, and name the file and the fix.

A folder written by ``SBERTVectorizer.save`` also lists every file with its size and
SHA-256 (:func:`manifest`), so loading it finds any file damaged or changed since
(:func:`check_manifest`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_FIX = "The model folder is incomplete or damaged: copy or download it again."
_JSON_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
_PICKLED_WEIGHTS = "pytorch_model*.bin"
_HASH_BLOCK = 1 << 20


def read_json(path: Path) -> Any:
    """Parse the JSON file ``path``, naming it when it is missing or not valid JSON.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not valid JSON (truncated, overwritten, not UTF-8).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing. {_FIX}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"Could not read {path}: {exc}. {_FIX}") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}). {_FIX}") from exc


def _check_safetensors(path: Path) -> None:
    """Check that a safetensors file is whole: its header parses and covers the file."""
    size = path.stat().st_size
    with path.open("rb") as file:
        head = file.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 0 <= length <= size - 8:
            raise ValueError(f"{path} is damaged: its header is cut short. {_FIX}")
        try:
            header = json.loads(file.read(length))
            end = max(
                (int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"),
                default=0,
            )
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise ValueError(
                f"{path} is damaged: its header is unreadable ({exc}). {_FIX}"
            ) from exc
    if 8 + length + end != size:
        raise ValueError(
            f"{path} is damaged: it holds {size} bytes where its header describes "
            f"{8 + length + end}. {_FIX}"
        )


def _check_weights(folder: Path, allow_pickle: bool) -> bool:
    safetensors = sorted(folder.glob("*.safetensors"))
    for file in safetensors:
        _check_safetensors(file)
    if safetensors:
        return True
    pickled = sorted(p.name for p in folder.glob(_PICKLED_WEIGHTS))
    if not pickled:
        raise FileNotFoundError(f"No weights in {folder}: model.safetensors is missing. {_FIX}")
    if not allow_pickle:
        raise OSError(
            f"No safetensors weights in {folder}, only pickle-based ones "
            f"({', '.join(pickled)}). skbert loads safetensors only, since a pickle file can "
            "run code when loaded: convert them where you trust them, with "
            "`AutoModel.from_pretrained(folder).save_pretrained(folder)`, or pass "
            "allow_pickle=True if you trust the file."
        )
    return False


def check_model_folder(folder: Path, *, allow_pickle: bool = False) -> bool:
    """Check that ``folder`` holds a loadable model before transformers reads it.

    Parameters
    ----------
    folder : Path
        Folder of a Hugging Face model: ``config.json``, weights, tokenizer files.
    allow_pickle : bool, default=False
        Accept pickle-based weights (``pytorch_model.bin``) when no safetensors exist.

    Returns
    -------
    safetensors : bool
        Whether the weights are safetensors (else pickle-based, allowed by the caller).

    Raises
    ------
    FileNotFoundError
        If ``config.json``, the weights or the tokenizer's vocabulary are missing.
    ValueError
        If a JSON file or a safetensors file is damaged.
    OSError
        If the only weights are pickle-based and ``allow_pickle`` is False.
    """
    if not isinstance(read_json(folder / "config.json"), dict):
        raise ValueError(f"{folder / 'config.json'} does not hold a JSON object. {_FIX}")
    safetensors = _check_weights(folder, allow_pickle)
    for name in _JSON_FILES:
        if (folder / name).is_file():
            read_json(folder / name)
    has_vocabulary = any(
        p.name == "tokenizer.json" or p.name.startswith("vocab") or p.suffix == ".model"
        for p in folder.iterdir()
    )
    if not has_vocabulary:
        raise FileNotFoundError(
            f"No tokenizer vocabulary in {folder}: expected tokenizer.json (or vocab.txt, "
            "vocab.json, a sentencepiece *.model). Without it transformers builds a tokenizer "
            f"that knows no words. {_FIX}"
        )
    return safetensors


def check_loaded_weights(loading_info: dict[str, Any], folder: Path) -> None:
    """Refuse a model whose weights file lacks some of its parameters (they would be random).

    ``loading_info`` is what ``from_pretrained(..., output_loading_info=True)`` returns. The
    pooler is exempt: skbert pools token embeddings itself and never uses it.
    """
    missing = sorted(k for k in loading_info["missing_keys"] if not k.startswith("pooler."))
    if missing:
        raise ValueError(
            f"The weights in {folder} lack {len(missing)} parameters of the model its "
            f"config.json describes (e.g. {missing[0]!r}), which would start random: the "
            f"weights belong to another model or are damaged. {_FIX}"
        )


@contextlib.contextmanager
def loading(what: str, folder: Path) -> Iterator[None]:
    """Re-raise an error of transformers while loading ``what`` as one naming the folder."""
    try:
        yield
    except Exception as exc:  # transformers, tokenizers and safetensors raise many types
        raise OSError(f"Could not load the {what} in {folder}: {exc}") from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of every file under ``folder``, by path relative to it."""
    return {
        path.relative_to(folder).as_posix(): {
            "bytes": path.stat().st_size,
            "sha256": _sha256(path),
        }
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def check_manifest(folder: Path, files: dict[str, tuple[int, str]]) -> None:
    """Check that every file listed by :func:`manifest` is still in ``folder``, unchanged.

    Parameters
    ----------
    folder : Path
        The saved folder.
    files : dict of str to (int, str)
        Relative path -> (size in bytes, SHA-256 hex digest).

    Raises
    ------
    FileNotFoundError
        Naming the first listed file that is missing.
    ValueError
        Naming the first file whose size or SHA-256 differs.
    """
    fix = "Save the vectorizer again, or restore the folder from a copy."
    for name, (size, sha256) in files.items():
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing from the saved vectorizer. {fix}")
        actual = path.stat().st_size
        if actual != size:
            change = f"{actual} bytes instead of {size}"
        elif _sha256(path) != sha256:
            change = "its SHA-256 differs"
        else:
            continue
        raise ValueError(f"{path} is damaged or was changed after it was saved ({change}). {fix}")
