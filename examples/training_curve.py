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
is absent, the script says so and splits the small set of pairs in ``examples/_data.py``.
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


def dev_pairs(data: Path, train: tuple[list, np.ndarray]) -> tuple[tuple[list, np.ndarray], ...]:
    """Training and dev pairs: sts-dev where present, else a quarter of the training pairs."""
    folder = data / "stsbenchmark"
    if (folder / "sts-dev.csv").is_file():
        return train, load_stsb(folder, "dev")
    pairs, scores = train
    cut = len(pairs) * 3 // 4
    return (pairs[:cut], scores[:cut]), (pairs[cut:], scores[cut:])


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

    (pairs, scores), (dev, dev_scores) = dev_pairs(
        args.data, stsb_train_subset(args.data, args.size, args.seed)
    )
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
