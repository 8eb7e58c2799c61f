"""Training curve: the loss of every step and the dev-set Spearman every few steps.

``fit(X, y, X_val=..., y_val=...)`` scores separate validation rows while it trains, every
``eval_steps`` steps and at the end of each epoch, with the data's own measure (Spearman's
correlation for scored pairs, as the STS Benchmark reports), and records the scores in
``history_`` beside the loss of every step. With ``early_stopping=True`` it keeps the weights
of the best evaluation. The script fine-tunes the default model with the cosine objective on
``sts-train`` (or a seeded subset of it), scores ``sts-dev`` every ``--eval-steps`` steps,
prints the evaluations, and saves both curves with the best step marked.

Run it from the repository root with ``python examples/training_curve.py`` (about five
minutes on two CPU cores; ``--size 1000`` for a quicker run). ``--data`` names the folder
that holds ``stsbenchmark/`` (default: ``../shared/data`` beside the repository); where it
is absent, the script says so and generates its pairs instead: short sentences scored by
what a label might care about: sharing the subject (4) counts more than sharing the activity
(2). The starting weights rank pairs that share the activity higher, so the dev score rises
as fine-tuning learns the labels' notion of similarity, which is what fine-tuning is for.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _data import DATA, REPO, stsb_train_subset
from matplotlib.figure import Figure

from skbert import SBERTVectorizer
from skbert.datasets import load_stsb

# Used when the STS Benchmark is absent: "<subject> <activity>." sentences.
SUBJECTS = ["A man", "A woman", "A child", "The dog", "A chef", "Two students", "Grandma"]
ACTIVITIES = [
    "plays a guitar", "is cooking pasta", "runs in the park", "reads a book",
    "rides a bike on the road", "is singing loudly", "paints a wall", "sleeps",
]  # fmt: skip
GENERATED_DEV_PAIRS = 200


def generated_pairs(count: int, rng: np.random.Generator) -> tuple[list, np.ndarray]:
    """``count`` pairs: in turn sharing the subject (score 4), the activity (2) or neither (0)."""
    pairs, scores = [], []
    for i in range(count):
        s, t = rng.choice(len(SUBJECTS), 2, replace=False)
        a, b = rng.choice(len(ACTIVITIES), 2, replace=False)
        shared = i % 3
        if shared == 0:
            t = s
        elif shared == 1:
            b = a
        pairs.append((f"{SUBJECTS[s]} {ACTIVITIES[a]}.", f"{SUBJECTS[t]} {ACTIVITIES[b]}."))
        scores.append((4.0, 2.0, 0.0)[shared])
    return pairs, np.array(scores)


def training_and_dev_pairs(data: Path, size: int, seed: int) -> tuple[tuple, tuple]:
    """A subset of sts-train and sts-dev where present, else pairs generated with ``seed``."""
    folder = data / "stsbenchmark"
    if (folder / "sts-dev.csv").is_file():
        return stsb_train_subset(data, size, seed), load_stsb(folder, "dev")
    print(
        f"{folder} not found: generating {size} training and {GENERATED_DEV_PAIRS} dev pairs "
        "(examples/training_curve.py): the same subject scores 4, the same activity 2."
    )
    rng = np.random.default_rng(seed)
    return generated_pairs(size, rng), generated_pairs(GENERATED_DEV_PAIRS, rng)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding stsbenchmark/")
    parser.add_argument("--size", type=int, default=5749, help="training pairs (all: 5749)")
    parser.add_argument("--eval-steps", type=int, default=40, help="steps between scores")
    parser.add_argument("--seed", type=int, default=0, help="draws the pairs, seeds training")
    parser.add_argument(
        "--out", type=Path, default=REPO / "docs/_static/examples/training_curve.png"
    )
    args = parser.parse_args()

    (pairs, scores), (dev, dev_scores) = training_and_dev_pairs(args.data, args.size, args.seed)
    vectorizer = SBERTVectorizer(
        loss="cosine",
        batch_size=16,
        eval_steps=args.eval_steps,
        early_stopping=True,
        n_iter_no_change=100,  # score every evaluation, keep the best weights
        random_state=args.seed,
    )
    start = time.perf_counter()
    vectorizer.fit(pairs, scores, X_val=dev, y_val=dev_scores)
    print(
        f"{len(pairs)} training pairs, {len(dev)} dev pairs, fitted in "
        f"{time.perf_counter() - start:.0f} s"
    )

    steps = [r for r in vectorizer.history_ if "loss" in r]
    scored = [r for r in vectorizer.history_ if "validation_score" in r]
    print(f"{'after step':>10}{'mean loss since':>17}{'dev Spearman':>14}")
    previous = 0
    for record in scored:
        done = record["steps_run"]
        losses = [r["loss"] for r in steps[previous:done]]
        mean = f"{np.mean(losses):.4f}" if losses else "-"
        print(f"{done:>10}{mean:>17}{record['validation_score']:>14.4f}")
        previous = done
    best = max(scored, key=lambda r: r["validation_score"])
    print(f"weights kept: after step {best['steps_run']} (the best dev score)")

    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    step, loss = np.array([[r["step"] + 1, r["loss"]] for r in steps]).T
    window = max(1, len(loss) // 20)
    left.plot(step, loss, lw=0.8, alpha=0.4, label="loss of the step")
    left.plot(
        step[window - 1 :],
        np.convolve(loss, np.ones(window) / window, mode="valid"),
        label=f"mean of the last {window} steps",
    )
    left.set(title="Training loss (cosine objective)", xlabel="step", ylabel="loss")
    left.legend()
    right.plot([r["steps_run"] for r in scored], [r["validation_score"] for r in scored], "o-")
    right.plot(best["steps_run"], best["validation_score"], "*", ms=14, label="weights kept")
    right.set(title="STSb dev during training", xlabel="step", ylabel="Spearman's rho")
    right.legend()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"picture: {args.out}")


if __name__ == "__main__":
    main()
