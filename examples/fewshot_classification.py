"""Few-shot text classification: frozen against fine-tuned embeddings, 8 examples per class.

A ``Pipeline(SBERTVectorizer, LogisticRegression)`` fitted on labelled texts fine-tunes the
encoder on those labels first (``loss="auto"`` picks ``batch_all_triplet``), then fits the
classifier on the new embeddings. The script draws 8 questions per class from the TREC
training set (6 classes, seeded), fits the pipeline once with the encoder frozen
(``epochs=0``) and once fine-tuned, prints the accuracy of each on a seeded subset of the
TREC test set, and saves their confusion matrices side by side.

Run it from the repository root with ``python examples/fewshot_classification.py``
(about two minutes on two CPU cores). ``--data`` names the folder that holds ``trec/``
(default: ``../shared/data`` beside the repository); where it is absent, the script says so
and uses the small set of questions written below.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.pipeline import make_pipeline

from skbert import SBERTVectorizer
from skbert.datasets import load_trec

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"

# Used when TREC is absent: questions labelled, like TREC's, by the type of their answer.
TRAIN = [
    ("What does NASA stand for?", "ABBR"),
    ("What is the abbreviation for kilogram?", "ABBR"),
    ("What does the B in FBI mean?", "ABBR"),
    ("What is the full form of HTML?", "ABBR"),
    ("Why is the sky blue?", "DESC"),
    ("What is photosynthesis?", "DESC"),
    ("How does a refrigerator work?", "DESC"),
    ("What is the definition of irony?", "DESC"),
    ("What instrument did Miles Davis play?", "ENTY"),
    ("What is the national animal of Scotland?", "ENTY"),
    ("Which language is spoken in Brazil?", "ENTY"),
    ("What colour is a giraffe's tongue?", "ENTY"),
    ("Who wrote Pride and Prejudice?", "HUM"),
    ("Who was the first woman to win a Nobel Prize?", "HUM"),
    ("Who invented the telephone?", "HUM"),
    ("Which company makes the iPhone?", "HUM"),
    ("Where is Machu Picchu?", "LOC"),
    ("What is the capital of Canada?", "LOC"),
    ("In which country is the Taj Mahal?", "LOC"),
    ("What is the longest river in Africa?", "LOC"),
    ("How tall is Mount Everest?", "NUM"),
    ("When did the Berlin Wall fall?", "NUM"),
    ("How many bones are in the human body?", "NUM"),
    ("What is the population of Tokyo?", "NUM"),
]
TEST = [
    ("What does UNESCO stand for?", "ABBR"),
    ("What is the abbreviation of the United Kingdom?", "ABBR"),
    ("Why do cats purr?", "DESC"),
    ("What causes earthquakes?", "DESC"),
    ("What sport does Serena Williams play?", "ENTY"),
    ("What is the largest species of shark?", "ENTY"),
    ("Who painted the Sistine Chapel ceiling?", "HUM"),
    ("Who was the first person to walk on the moon?", "HUM"),
    ("Where is the Great Barrier Reef?", "LOC"),
    ("Which city hosted the 2012 Olympics?", "LOC"),
    ("How far is the sun from the earth?", "NUM"),
    ("In what year did the Titanic sink?", "NUM"),
]


def load(data: Path) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """Training texts and labels, then test texts and labels: TREC, or the set above."""
    folder = data / "trec"
    if (folder / "train.tsv").is_file():
        return (*load_trec(folder, "train"), *load_trec(folder, "test"))
    print(f"{folder} not found: using the {len(TRAIN) + len(TEST)} questions of this example.")
    return (
        [text for text, _ in TRAIN],
        np.array([label for _, label in TRAIN]),
        [text for text, _ in TEST],
        np.array([label for _, label in TEST]),
    )


def few_shot(
    texts: list[str], labels: np.ndarray, per_class: int, seed: int
) -> tuple[list[str], np.ndarray]:
    """``per_class`` texts of each class (all of a smaller class), drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    rows = np.concatenate(
        [
            rng.choice(members, min(per_class, len(members)), replace=False)
            for members in (np.flatnonzero(labels == c) for c in np.unique(labels))
        ]
    )
    return [texts[i] for i in rows], labels[rows]


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

    train_texts, train_labels, test_texts, test_labels = load(args.data)
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
