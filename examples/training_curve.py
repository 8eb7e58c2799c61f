"""Training curve: the loss of every step and the validation score of every epoch.

``fit`` records its training in ``history_``: one record per step (``epoch``, ``step``,
``loss``, ``learning_rate``) and, with ``early_stopping=True``, one per epoch with the score
on the held-out rows (``validation_score``, Spearman's correlation, for scored pairs;
``validation_loss`` for the other kinds of data). The script fine-tunes the default model on
a seeded subset of ``sts-train`` with the cosine objective for up to four epochs, holding
out 20% of the pairs for early stopping, prints one line per epoch and saves both curves.

Run it from the repository root with ``python examples/training_curve.py`` (about two
minutes on two CPU cores). ``--data`` names the folder that holds ``stsbenchmark/``
(default: ``../shared/data`` beside the repository); where it is absent, the script says so
and uses the small set of pairs in ``examples/_data.py``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _data import DATA, REPO, stsb_train_subset
from matplotlib.figure import Figure

from skbert import SBERTVectorizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding stsbenchmark/")
    parser.add_argument("--size", type=int, default=400, help="scored pairs, 20%% held out")
    parser.add_argument("--epochs", type=int, default=4, help="most epochs to train")
    parser.add_argument("--seed", type=int, default=0, help="draws the pairs, seeds training")
    parser.add_argument(
        "--out", type=Path, default=REPO / "docs/_static/examples/training_curve.png"
    )
    args = parser.parse_args()

    pairs, scores = stsb_train_subset(args.data, args.size, args.seed)
    vectorizer = SBERTVectorizer(
        loss="cosine",
        epochs=args.epochs,
        batch_size=16,
        early_stopping=True,
        validation_fraction=0.2,
        random_state=args.seed,
    )
    start = time.perf_counter()
    vectorizer.fit(pairs, scores)
    print(f"{len(pairs)} scored pairs, fitted in {time.perf_counter() - start:.0f} s")

    steps = [r for r in vectorizer.history_ if "step" in r]
    epochs = [r for r in vectorizer.history_ if "validation_score" in r]
    print(f"{'epoch':>5}{'steps':>7}{'mean loss':>11}{'validation Spearman':>21}")
    for record in epochs:
        losses = [r["loss"] for r in steps if r["epoch"] == record["epoch"]]
        print(
            f"{record['epoch']:>5}{len(losses):>7}{np.mean(losses):>11.4f}"
            f"{record['validation_score']:>21.4f}"
        )
    best = max(epochs, key=lambda r: r["validation_score"])
    print(f"weights kept: epoch {best['epoch']} (the best validation score)")

    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    step, loss = np.array([[r["step"], r["loss"]] for r in steps]).T
    window = max(1, len(loss) // 10)
    left.plot(step, loss, lw=0.8, alpha=0.4, label="loss of the step")
    left.plot(
        step[window - 1 :],
        np.convolve(loss, np.ones(window) / window, mode="valid"),
        label=f"mean of the last {window} steps",
    )
    for record in epochs[:-1]:
        last = max(r["step"] for r in steps if r["epoch"] == record["epoch"])
        left.axvline(last + 0.5, color="grey", lw=0.6, ls=":")
    left.set(title="Training loss (cosine objective)", xlabel="step", ylabel="loss")
    left.legend()
    right.plot([r["epoch"] for r in epochs], [r["validation_score"] for r in epochs], "o-")
    right.plot(best["epoch"], best["validation_score"], "*", ms=14, label="weights kept")
    right.set(
        title="Held-out pairs after each epoch",
        xlabel="epoch",
        ylabel="Spearman's rho",
        xticks=[r["epoch"] for r in epochs],
    )
    right.legend()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"picture: {args.out}")


if __name__ == "__main__":
    main()
