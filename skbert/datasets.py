"""Readers for the public benchmarks skbert is measured on (the files are not shipped).

- STS Benchmark (Cer et al., SemEval-2017): ``sts-{train,dev,test}.csv``, tab-separated,
  no header, no quoting; columns genre, file, year, id, score (0-5), sentence 1, sentence 2,
  and on some lines trailing source columns, which are ignored.
- TREC question classification (Li & Roth 2002): ``{train,test}.tsv`` with a header
  ``id  question  label`` and six coarse labels.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

__all__ = ["load_stsb", "load_trec"]


def _file(folder: str | Path, name: str) -> Path:
    path = Path(folder) / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; pass the folder that holds the benchmark's files."
        )
    return path


def load_stsb(folder: str | Path, split: str = "test") -> tuple[list[tuple[str, str]], np.ndarray]:
    """Read one split of the STS Benchmark.

    Parameters
    ----------
    folder : str or Path
        Folder holding ``sts-train.csv``, ``sts-dev.csv`` and ``sts-test.csv``.
    split : {"train", "dev", "test"}, default="test"
        Which split.

    Returns
    -------
    pairs : list of (str, str)
        Sentence pairs.
    scores : ndarray of float64
        Gold similarity, 0 (unrelated) to 5 (equivalent).
    """
    pairs, scores = [], []
    with _file(folder, f"sts-{split}.csv").open(encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            scores.append(float(fields[4]))
            pairs.append((fields[5], fields[6]))
    return pairs, np.asarray(scores)


def load_trec(folder: str | Path, split: str = "train") -> tuple[list[str], np.ndarray]:
    """Read one split of TREC question classification (coarse labels).

    Parameters
    ----------
    folder : str or Path
        Folder holding ``train.tsv`` and ``test.tsv``.
    split : {"train", "test"}, default="train"
        Which split.

    Returns
    -------
    questions : list of str
    labels : ndarray of str
        One of ABBR, DESC, ENTY, HUM, LOC, NUM.
    """
    with _file(folder, f"{split}.tsv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [row["question"] for row in rows], np.asarray([row["label"] for row in rows])
