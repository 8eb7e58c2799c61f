"""Searches with and without the embedding cache: wall time of two GridSearchCV runs on TREC.

1. Pooling x loss (3 x 2 = 6 candidates, 3 folds) on a fine-tuned
   ``Pipeline(SBERTVectorizer, LogisticRegression)``, few-shot labelled questions.
2. A downstream ``C`` grid (5 candidates, 3 folds) behind a frozen vectorizer
   (``epochs=0``), where every candidate and fold refits the vectorizer on the same texts.

Each search runs with ``cache_embeddings=True`` and ``False`` in the same process, cache
emptied before each, and reports wall time, the speed-up and the best parameters (which
must agree).

    python benchmarks/search_caches.py --out benchmarks/results/search_caches.md
"""

from __future__ import annotations

import shlex
import sys
import time
import warnings

import numpy as np
import torch
from _common import parser, report, require, table
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline

from skbert import SBERTVectorizer
from skbert._cache import EMBEDDINGS
from skbert._encoder import DEFAULT_MODEL, load_encoder
from skbert.datasets import load_trec

warnings.filterwarnings("ignore")


def sample(texts: list[str], labels: np.ndarray, per_class: int, seed: int):
    rng = np.random.default_rng(seed)
    rows = np.concatenate(
        [
            rng.choice(rows, min(per_class, len(rows)), replace=False)
            for rows in (np.flatnonzero(labels == c) for c in np.unique(labels))
        ]
    )
    return [texts[i] for i in rows], labels[rows]


def run(search: GridSearchCV, X, y) -> tuple[float, dict]:
    EMBEDDINGS.clear()
    start = time.perf_counter()
    search.fit(X, y)
    return time.perf_counter() - start, search.best_params_


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--few-shot", type=int, default=8, help="questions per class, search 1")
    p.add_argument("--frozen-texts", type=int, default=100, help="at most, per class, search 2")
    p.add_argument("--pairs-per-text", type=int, default=8)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    texts, labels = load_trec(require(args.data / "trec"), "train")
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    searches = {
        "pooling x loss, fine-tuned (6 x 3 folds)": (
            lambda cache: GridSearchCV(
                Pipeline(
                    [
                        (
                            "sbert",
                            SBERTVectorizer(
                                pairs_per_text=args.pairs_per_text,
                                cache_embeddings=cache,
                                random_state=0,
                            ),
                        ),
                        ("clf", LogisticRegression(max_iter=1000)),
                    ]
                ),
                {
                    "sbert__pooling": ["mean", "max", "cls"],
                    "sbert__loss": ["batch_all_triplet", "mnrl"],
                },
                cv=folds,
            ),
            sample(texts, labels, args.few_shot, 0),
        ),
        "downstream C, frozen vectorizer (5 x 3 folds)": (
            lambda cache: GridSearchCV(
                Pipeline(
                    [
                        ("sbert", SBERTVectorizer(epochs=0, cache_embeddings=cache)),
                        ("clf", LogisticRegression(max_iter=1000)),
                    ]
                ),
                {"clf__C": [0.01, 0.1, 1.0, 10.0, 100.0]},
                cv=folds,
            ),
            sample(texts, labels, args.frozen_texts, 0),
        ),
    }
    rows = []
    for name, (make, (X, y)) in searches.items():
        without, best_without = run(make(False), X, y)
        with_cache, best_with = run(make(True), X, y)
        assert best_with == best_without, (best_with, best_without)
        rows.append(
            [
                name,
                len(X),
                f"{without:.1f}",
                f"{with_cache:.1f}",
                f"{without / with_cache:.2f}",
                best_with,
            ]
        )
        print(rows[-1], flush=True)
    body = table(
        [
            "search",
            "texts",
            "wall s, no cache",
            "wall s, cache",
            "speed-up",
            "best parameters (identical)",
        ],
        rows,
    )
    loads = []
    for _ in range(5):
        start = time.perf_counter()
        load_encoder(DEFAULT_MODEL)
        loads.append(time.perf_counter() - start)
    body += (
        "\n\nEach run starts with an empty embedding cache. Model loading is not cached: "
        "transformers memory-maps the safetensors weights and skips random initialisation, "
        f"so a warm reload of the default model took {1000 * np.median(loads[1:]):.0f} ms "
        "(median of 4, after a first load)."
    )
    command = "python " + " ".join(
        shlex.quote(a) for a in ["benchmarks/search_caches.py", *sys.argv[1:]]
    )
    report("Grid searches with and without the embedding cache", command, body, args.out)


if __name__ == "__main__":
    main()
