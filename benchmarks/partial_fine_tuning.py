"""Partial fine-tuning: layers trained against quality and time, beside sentence-transformers.

Two measurements, each in one process on all-MiniLM-L6-v2 (6 layers):

- ``stsb``: cosine fine-tuning on STSb train (batch 16, 10% linear warm-up, one epoch,
  float32), for each ``trainable_layers`` in ``--layers`` (``all`` is None, today's
  default) and each peak learning rate in ``--learning-rates`` (2e-5, the paper's, by
  default), and sentence-transformers' 1-epoch ``CosineSimilarityLoss`` fine-tune (lr 2e-5)
  of the same shape (:func:`fit_speed.fit_sentence_transformers`) in the same run. Reported: wall
  seconds of the fit (model loading included), Spearman x100 on STSb test, peak RSS, and the
  size of the frozen layers' kept states.
- ``search``: a ``GridSearchCV`` over pooling (mean, max, cls) x loss (``--losses``) with
  3-fold stratified cross-validation and a ``LogisticRegression`` after the vectorizer, on
  one labelled-texts cell (``--dataset``, ``--size`` texts per class), once per
  ``trainable_layers`` in ``--layers`` (``all``: today's fits), one after the other in one
  process. Partial fits share the frozen layers' states across the 6 x 3 fits and the refit
  (the process-wide cache, cleared before each search; ``--no-cache`` turns it off).
  Reported: the chosen candidate, its cross-validated and test accuracy, wall and CPU
  seconds, and the cache's size at the end (it evicts nothing below 1 GiB, so that is its
  peak).
- ``labelled``: the layers-trained table, read from the lines that
  ``benchmarks/labelled_texts.py`` wrote with ``--methods frozen skbert:default
  skbert:top1 ...`` (each cell's methods run one after the other in one process, SetFit
  among them), with accuracy and fit time per cell against today's default and frozen.

Usage::

    nice -n 10 python benchmarks/partial_fine_tuning.py stsb --threads 1 [--layers 2 3 all]
        [--learning-rates 2e-5 5e-5]
        [--pairs N] [--skip-st] [--out FILE]
    python benchmarks/partial_fine_tuning.py labelled [--results FILE] [--out FILE]
    nice -n 10 python benchmarks/partial_fine_tuning.py search --threads 1 [--dataset trec]
        [--size 64] [--layers all 3 2] [--losses mnrl cosine] [--no-cache] [--out FILE]
"""

from __future__ import annotations

import json
import shlex
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from _common import parser, peak_rss, report, require, table
from fit_speed import fit_sentence_transformers, model_path, spearman_st

import skbert._frozen_states as frozen_states
from skbert import SBERTVectorizer
from skbert.datasets import load_stsb

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = ROOT / "benchmarks" / "results" / "partial_labelled.jsonl"
CELLS = (("trec", "8"), ("clinc150", "8"), ("clinc_domains", "8"), ("trec", "64"))
_ABBREVIATION = {"trec": "trec", "clinc150": "c150", "clinc_domains": "cdom"}


def _kept_states() -> list[int]:
    """Record the bytes of every :class:`FrozenStates` computed from now on."""
    sizes: list[int] = []
    compute = frozen_states.FrozenStates.compute.__func__

    def recording(cls: type, *args: Any, **kwargs: Any) -> frozen_states.FrozenStates:
        states = compute(cls, *args, **kwargs)
        sizes.append(states.nbytes)
        return states

    frozen_states.FrozenStates.compute = classmethod(recording)
    return sizes


def stsb(args: Any) -> None:
    torch.set_num_threads(args.threads)
    folder = require(args.data / "stsbenchmark")
    train, y_train = load_stsb(folder, "train")
    test, y_test = load_stsb(folder, "test")
    if args.pairs:
        train, y_train = train[: args.pairs], y_train[: args.pairs]
    sizes = _kept_states()
    rows = []
    st_seconds = None
    if not args.skip_st:
        with peak_rss() as memory:
            model, st_seconds = fit_sentence_transformers(train, y_train, args)
        quality = spearman_st(model, test, y_test)
        grown = memory["peak"] - memory["before"]
        rows.append(["sentence-transformers", "all", "2e-05", f"{st_seconds:.0f}", "1.00",
                     f"{quality:.2f}", f"{grown:.0f}", ""])  # fmt: skip
        print(rows[-1], flush=True)
        del model
    for layers, rate in ((k, r) for k in args.layers for r in args.learning_rates):
        k = None if layers == "all" else int(layers)
        vec = SBERTVectorizer(
            model_path(),
            loss="cosine",
            batch_size=args.batch_size,
            learning_rate=rate,
            warmup_ratio=0.1,
            epochs=1,
            trainable_layers=k,
            random_state=args.seed,
        )
        before = len(sizes)
        with peak_rss() as memory:
            start = time.perf_counter()
            vec.fit(train, y_train)
            seconds = time.perf_counter() - start
        quality = 100 * vec.score(test, y_test)
        kept = f"{sizes[-1] / 2**20:.1f}" if len(sizes) > before else ""
        rows.append(
            [
                "skbert",
                layers,
                f"{rate:g}",
                f"{seconds:.0f}",
                f"{seconds / st_seconds:.2f}" if st_seconds else "",
                f"{quality:.2f}",
                f"{memory['peak'] - memory['before']:.0f}",
                kept,
            ]
        )
        print(rows[-1], flush=True)
    body = table(
        [
            "system",
            "layers trained",
            "lr",
            "fit s",
            "time vs ST",
            "STSb test Spearman x100",
            "peak RSS increase MiB",
            "kept states MiB",
        ],
        rows,
    )
    body += (
        f"\n\n{len(train)} training pairs, batch {args.batch_size}, 1 epoch, "
        f"float32, seed {args.seed}; fit s includes loading the model."
    )
    command = "python " + " ".join(
        shlex.quote(a) for a in ["benchmarks/partial_fine_tuning.py", *sys.argv[1:]]
    )
    report("Partial fine-tuning on STSb train (cosine objective)", command, body, args.out)


def search(args: Any) -> None:
    from labelled_texts import load_dataset, sample
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline

    from skbert._cache import FROZEN_STATES

    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, require(args.data))
    texts, labels = sample(data.train, args.size, args.seed)
    grid = {"sbertvectorizer__pooling": ["mean", "max", "cls"],
            "sbertvectorizer__loss": args.losses}  # fmt: skip
    rows, today = [], None
    for spec in args.layers:  # LAYERS or LAYERS:PRECISION, e.g. 3:bfloat16
        layers, _, precision = spec.partition(":")
        FROZEN_STATES.clear()
        vectorizer = SBERTVectorizer(
            model_path(),
            trainable_layers=None if layers == "all" else int(layers),
            precision=precision or "float32",
            cache_embeddings=not args.no_cache,
            random_state=args.seed,
        )
        pipeline = make_pipeline(vectorizer, LogisticRegression(max_iter=1000))
        folds = StratifiedKFold(3, shuffle=True, random_state=args.seed)
        grid_search = GridSearchCV(pipeline, grid, cv=folds)
        start, cpu = time.perf_counter(), time.process_time()
        grid_search.fit(texts, labels)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        today = seconds if spec == "all" else today
        best = grid_search.best_params_
        rows.append([
            spec,
            f"{best['sbertvectorizer__pooling']}, {best['sbertvectorizer__loss']}",
            f"{100 * grid_search.best_score_:.1f}",
            f"{100 * grid_search.score(*data.test):.1f}",
            f"{seconds:.0f}",
            f"{cpu:.0f}",
            f"{today / seconds:.2f}x" if today else "",
            f"{FROZEN_STATES.nbytes / 2**20:.1f}",
        ])  # fmt: skip
        print(rows[-1], flush=True)
    body = table(
        ["layers trained", "chosen (pooling, loss)", "CV acc", "test acc", "search s",
         "search CPU s", "faster than all", "cache MiB"],
        rows,
    )  # fmt: skip
    candidates = len(grid["sbertvectorizer__pooling"]) * len(args.losses)
    body += (
        f"\n\n{args.dataset}, {args.size} texts per class ({len(texts)}), {candidates} "
        "candidates x 3 folds and the refit, LogisticRegression(max_iter=1000) after the "
        f"vectorizer, seed {args.seed}, float32 unless LAYERS:PRECISION says otherwise; "
        "accuracy x100 (CV: the best mean over the folds; test: the refit best candidate "
        "on the test split)."
    )
    command = "python " + " ".join(
        shlex.quote(a) for a in ["benchmarks/partial_fine_tuning.py", *sys.argv[1:]]
    )
    report("Grid search over pooling x loss, with partial fits sharing states", command,
           body, args.out)  # fmt: skip


def _accuracy(record: dict[str, Any], split: str) -> float:
    variant = "setfit" if "setfit" in record["results"] else "raw"  # raw: the default features
    return 100 * record["results"][variant][split]


def _order(method: str) -> tuple[int, str]:
    """Frozen, today's default, the partial fits by layers and rate, then the others."""
    first = {"frozen": 0, "skbert:default": 1}
    return (first.get(method, 2 if method.startswith("skbert:top") else 3), method)


def labelled(args: Any) -> None:
    torch.set_num_threads(args.threads)
    runs: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for line in args.results.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if "results" in r and r["seed"] == 0:
            runs[(r["dataset"], r["size"])][r["method"]] = r  # the last line of a key wins
    rows = []
    for cell in CELLS:
        found = runs.get(cell, {})
        default = found.get("skbert:default")
        for method in sorted(found, key=_order):
            r = found[method]
            test, val = _accuracy(r, "test"), _accuracy(r, "val")
            delta = "" if default is None else f"{test - _accuracy(default, 'test'):+.1f}"
            speed = (
                f"{default['fit_cpu_s'] / r['fit_cpu_s']:.1f}x"
                if default is not None and r["steps"] and method != "skbert:default"
                else ""
            )
            rows.append([f"{_ABBREVIATION[cell[0]]}/{cell[1]} ({r['n_train']})", method,
                         f"{val:.1f}", f"{test:.1f}", delta, f"{r['fit_s']:.0f}",
                         f"{r['fit_cpu_s']:.0f}", speed, r["steps"],
                         f"{max(r['load']):.1f}"])  # fmt: skip
    body = table(
        ["cell (texts)", "method", "val acc", "test acc", "test vs default", "fit s",
         "fit CPU s", "less CPU than default", "steps", "load"],
        rows,
    )  # fmt: skip
    records = [r for cell in runs.values() for r in cell.values()]
    threads = sorted({r["machine"]["threads"] for r in records})
    body += (
        "\n\nAccuracy x100 of LogisticRegression(max_iter=1000) on the default features "
        "(unnormalised embeddings; SetFit: its own head), seed 0. fit s: wall seconds of "
        "the vectorizer's fit (SetFit: its training), the model's loading included; fit CPU "
        "s: the CPU time of the process meanwhile, less sensitive to the other jobs of a "
        "shared machine (load: the higher 1-minute load average at the start and end of the "
        f"method), with {threads} torch thread(s)."
    )
    command = "python " + " ".join(
        shlex.quote(a) for a in ["benchmarks/partial_fine_tuning.py", *sys.argv[1:]]
    )
    report("Partial fine-tuning on labelled texts: layers trained", command, body, args.out)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("part", choices=["stsb", "labelled", "search"])
    p.add_argument(
        "--layers", nargs="+", default=["2", "3", "all"], help="LAYERS or LAYERS:PRECISION"
    )
    p.add_argument("--dataset", choices=["trec", "clinc150", "clinc_domains"], default="trec")
    p.add_argument("--size", default="64", help="texts per class, or full")
    p.add_argument("--losses", nargs="+", default=["mnrl", "cosine"])
    p.add_argument("--no-cache", action="store_true", help="cache_embeddings=False")
    p.add_argument("--learning-rates", nargs="+", type=float, default=[2e-5])
    p.add_argument("--pairs", type=int, default=None, help="use only the first N training pairs")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-st", action="store_true", help="skip sentence-transformers")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    {"stsb": stsb, "labelled": labelled, "search": search}[args.part](args)


if __name__ == "__main__":
    main()
