"""Few-shot text classification: frozen against fine-tuned embeddings, 8 examples per class.

A ``Pipeline(SBERTVectorizer, LogisticRegression)`` fitted on labelled texts fine-tunes the
encoder on those labels first (``loss="auto"`` picks ``mnrl``), then fits the
classifier on the new embeddings. The script draws 8 questions per class from the TREC
training set (6 classes, seeded), fits the pipeline once with the encoder frozen
(``epochs=0``) and once fine-tuned, prints the accuracy of each on a seeded subset of the
TREC test set, and saves their confusion matrices side by side.

Run it from the repository root with ``python examples/fewshot_classification.py``
(about two minutes on two CPU cores). ``--data`` names the folder that holds ``trec/``
(default: ``../shared/data`` beside the repository); where it is absent, the script says so
and uses the small set of questions in ``examples/_data.py``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _data import DATA, REPO, few_shot, trec_questions
from matplotlib.figure import Figure
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.pipeline import make_pipeline

from skbert import SBERTVectorizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding trec/")
    parser.add_argument("--per-class", type=int, default=8, help="training texts per class")
    parser.add_argument("--test-size", type=int, default=500, help="test questions scored")
    parser.add_argument("--seed", type=int, default=0, help="draws the texts, seeds training")
    parser.add_argument(
        "--out", type=Path, default=REPO / "docs/_static/examples/fewshot_classification.png"
    )
    args = parser.parse_args()

    train_texts, train_labels, test_texts, test_labels = trec_questions(args.data)
    texts, labels = few_shot(train_texts, train_labels, args.per_class, args.seed)
    rows = np.random.default_rng(args.seed).permutation(len(test_texts))[: args.test_size]
    test_texts, test_labels = [test_texts[i] for i in rows], test_labels[rows]
    print(
        f"{len(texts)} labelled questions ({len(np.unique(labels))} classes), "
        f"{len(test_texts)} test questions"
    )
    print(f"{'embeddings':<12}{'objective':<19}{'accuracy':>8}{'fit s':>7}")
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    for ax, name, vectorizer in zip(
        fig.subplots(1, 2),
        ["frozen", "fine-tuned"],
        [SBERTVectorizer(epochs=0), SBERTVectorizer(random_state=args.seed)],
        strict=True,
    ):
        pipe = make_pipeline(vectorizer, LogisticRegression(max_iter=1000))
        start = time.perf_counter()
        pipe.fit(texts, labels)
        seconds = time.perf_counter() - start
        predicted = pipe.predict(test_texts)
        accuracy = float(np.mean(predicted == test_labels))
        objective = pipe[0].loss_ or "none"
        print(f"{name:<12}{objective:<19}{accuracy:>8.3f}{seconds:>7.0f}")
        ConfusionMatrixDisplay.from_predictions(
            test_labels, predicted, ax=ax, colorbar=False, cmap="Blues"
        )
        ax.set_title(f"{name} embeddings: accuracy {accuracy:.2f}")
    fig.suptitle(f"TREC test questions, LogisticRegression on {len(texts)} labelled examples")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"picture: {args.out}")


if __name__ == "__main__":
    main()
