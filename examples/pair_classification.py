"""Pair classification, NLI-style: pair features into LogisticRegression, frozen or fine-tuned.

``transform`` on pairs ``(a, b)`` returns the pair features of Sentence-BERT's classifier,
``[u, v, |u - v|]`` of the two embeddings, so a ``Pipeline(SBERTVectorizer,
LogisticRegression)`` classifies pairs; fitted on pairs with class labels, the vectorizer
first fine-tunes the encoder with the paper's NLI objective, ``loss="softmax"`` (a linear
classifier over the same features, trained with cross-entropy).

There is no NLI corpus here, so the three classes are bands of the STS Benchmark's gold
similarity, not entailment judgements: "equivalent" (score >= 4), "unrelated" (score <= 1)
and "related" (in between). The script fits the pipeline on a seeded subset of ``sts-train``
with the encoder frozen (``epochs=0``) and fine-tuned, prints accuracy and macro-averaged F1
on a seeded subset of ``sts-test`` and saves both confusion matrices side by side.

Run it from the repository root with ``python examples/pair_classification.py`` (about two
minutes on two CPU cores). ``--data`` names the folder that holds ``stsbenchmark/``
(default: ``../shared/data`` beside the repository); where it is absent, the script says so
and uses the small set of pairs written below, labelled with the same three classes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import ConfusionMatrixDisplay, f1_score
from sklearn.pipeline import make_pipeline

from skbert import SBERTVectorizer
from skbert.datasets import load_stsb

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CLASSES = ["unrelated", "related", "equivalent"]

# Used when the STS Benchmark is absent: pairs labelled with the three classes above.
TRAIN = [
    ("A man is playing a guitar.", "A man plays the guitar.", "equivalent"),
    ("A man is playing a guitar.", "A man is playing a piano.", "related"),
    ("A man is playing a guitar.", "A woman is slicing an onion.", "unrelated"),
    ("A woman is slicing an onion.", "A woman cuts an onion.", "equivalent"),
    ("A woman is slicing an onion.", "A woman is peeling a potato.", "related"),
    ("A woman is slicing an onion.", "The train left the station.", "unrelated"),
    ("A dog runs across the field.", "A dog is running on the grass.", "equivalent"),
    ("A dog runs across the field.", "A cat runs across the room.", "related"),
    ("A dog runs across the field.", "The bank raised interest rates.", "unrelated"),
    ("Two children are playing football.", "Kids are playing soccer.", "equivalent"),
    ("Two children are playing football.", "Two men are playing chess.", "related"),
    ("Two children are playing football.", "A plane is landing.", "unrelated"),
    ("The stock market fell sharply today.", "Shares dropped steeply today.", "equivalent"),
    ("The stock market fell sharply today.", "The stock market rose today.", "related"),
    ("The stock market fell sharply today.", "A girl is brushing her hair.", "unrelated"),
]
TEST = [
    ("A man is riding a bicycle.", "A man rides a bike.", "equivalent"),
    ("A man is riding a bicycle.", "A man is riding a horse.", "related"),
    ("A man is riding a bicycle.", "A woman is reading a book.", "unrelated"),
    ("The company reported record profits.", "The firm's profits hit a record.", "equivalent"),
    ("The company reported record profits.", "The company cut a thousand jobs.", "related"),
    ("The company reported record profits.", "Snow is falling on the hills.", "unrelated"),
]


def bands(scores: np.ndarray) -> np.ndarray:
    """STS gold scores (0-5) as the three classes."""
    return np.where(scores >= 4, "equivalent", np.where(scores <= 1, "unrelated", "related"))


def subset(pairs: list, scores: np.ndarray, size: int, seed: int) -> tuple[list, np.ndarray]:
    """``size`` pairs drawn with ``seed``, labelled with their class."""
    rows = np.random.default_rng(seed).permutation(len(pairs))[:size]
    return [pairs[i] for i in rows], bands(scores[rows])


def load(
    data: Path, train_size: int, test_size: int, seed: int
) -> tuple[list, np.ndarray, list, np.ndarray]:
    """Seeded subsets of sts-train and sts-test with their classes (or the pairs above)."""
    folder = data / "stsbenchmark"
    if (folder / "sts-train.csv").is_file():
        return (
            *subset(*load_stsb(folder, "train"), train_size, seed),
            *subset(*load_stsb(folder, "test"), test_size, seed),
        )
    print(f"{folder} not found: using the {len(TRAIN) + len(TEST)} pairs of this example.")
    return (
        [(a, b) for a, b, _ in TRAIN],
        np.array([label for _, _, label in TRAIN]),
        [(a, b) for a, b, _ in TEST],
        np.array([label for _, _, label in TEST]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding stsbenchmark/")
    parser.add_argument("--train-size", type=int, default=800, help="training pairs drawn")
    parser.add_argument("--test-size", type=int, default=400, help="test pairs drawn")
    parser.add_argument("--seed", type=int, default=0, help="draws the pairs, seeds training")
    parser.add_argument(
        "--out", type=Path, default=REPO / "docs/_static/examples/pair_classification.png"
    )
    args = parser.parse_args()

    pairs, labels, test_pairs, test_labels = load(
        args.data, args.train_size, args.test_size, args.seed
    )
    counts = ", ".join(f"{c} {np.sum(labels == c)}" for c in CLASSES)
    print(f"{len(pairs)} training pairs ({counts}), {len(test_pairs)} test pairs")
    print(f"{'embeddings':<12}{'objective':<11}{'accuracy':>9}{'macro F1':>9}{'fit s':>7}")
    fig = Figure(figsize=(10, 4.4), layout="constrained")
    for ax, name, vectorizer in zip(
        fig.subplots(1, 2),
        ["frozen", "fine-tuned"],
        [
            SBERTVectorizer(epochs=0),
            SBERTVectorizer(loss="softmax", batch_size=16, random_state=args.seed),
        ],
        strict=True,
    ):
        pipe = make_pipeline(vectorizer, LogisticRegression(max_iter=2000))
        start = time.perf_counter()
        pipe.fit(pairs, labels)
        seconds = time.perf_counter() - start
        predicted = pipe.predict(test_pairs)
        accuracy = float(np.mean(predicted == test_labels))
        f1 = f1_score(test_labels, predicted, average="macro")
        objective = pipe[0].loss_ or "none"
        print(f"{name:<12}{objective:<11}{accuracy:>9.3f}{f1:>9.3f}{seconds:>7.0f}")
        ConfusionMatrixDisplay.from_predictions(
            test_labels, predicted, labels=CLASSES, ax=ax, colorbar=False, cmap="Blues"
        )
        ax.set_title(f"{name}: accuracy {accuracy:.2f}, macro F1 {f1:.2f}")
    fig.suptitle("Test pairs: [u, v, |u - v|] into LogisticRegression")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"picture: {args.out}")


if __name__ == "__main__":
    main()
