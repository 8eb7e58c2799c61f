"""Semantic similarity: fine-tune on scored sentence pairs, Spearman's rho before and after.

``SBERTVectorizer.fit(pairs, scores)`` fine-tunes the encoder so that the cosine similarity
of a pair follows its score (``loss="auto"`` picks the paper's ``cosine`` objective for
scored pairs), and ``score(pairs, scores)`` returns the Spearman correlation the STS
Benchmark reports. The script fine-tunes on a seeded subset of ``sts-train`` for one epoch,
prints Spearman x100 on ``sts-test`` before and after, and saves a picture of the cosine
similarity of each test pair against its gold score, before and after.

Run it from the repository root with ``python examples/semantic_similarity.py``
(about two minutes on two CPU cores). ``--data`` names the folder that holds
``stsbenchmark/`` (default: ``../shared/data`` beside the repository); where it is absent,
the script says so and uses the small set of pairs written below.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from skbert import SBERTVectorizer
from skbert.datasets import load_stsb

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"

# Used when the STS Benchmark is absent: pairs scored like it, 0 (unrelated) to 5 (same).
TRAIN = [
    ("A man is playing a guitar.", "A man plays the guitar.", 5.0),
    ("A man is playing a guitar.", "A man is playing a piano.", 2.2),
    ("A man is playing a guitar.", "A woman is slicing an onion.", 0.0),
    ("A woman is slicing an onion.", "A woman cuts an onion.", 4.8),
    ("A woman is slicing an onion.", "A woman is peeling a potato.", 2.0),
    ("A dog runs across the field.", "A dog is running on the grass.", 4.4),
    ("A dog runs across the field.", "A cat sleeps on the sofa.", 0.8),
    ("Two children are playing football.", "Kids are playing soccer.", 4.6),
    ("Two children are playing football.", "Two men are playing chess.", 1.2),
    ("The stock market fell sharply today.", "Shares dropped steeply today.", 4.5),
    ("The stock market fell sharply today.", "The stock market rose today.", 1.8),
    ("It is raining in London.", "London is having a rainy day.", 4.7),
    ("It is raining in London.", "It is sunny in Madrid.", 1.0),
    ("A plane is taking off.", "An aeroplane is departing.", 4.6),
    ("A plane is taking off.", "A train arrives at the station.", 1.0),
    ("The president gave a speech.", "The president spoke to the nation.", 4.0),
]
TEST = [
    ("A man is riding a bicycle.", "A man rides a bike.", 5.0),
    ("A man is riding a bicycle.", "A man is riding a horse.", 2.4),
    ("A man is riding a bicycle.", "A woman is reading a book.", 0.2),
    ("A girl is singing on stage.", "A girl sings a song.", 4.2),
    ("A girl is singing on stage.", "A boy is dancing on stage.", 1.6),
    ("The company reported record profits.", "The firm made its biggest profit ever.", 4.4),
    ("The company reported record profits.", "The company cut a thousand jobs.", 1.4),
    ("Snow is falling on the mountains.", "It is snowing in the hills.", 4.2),
    ("Snow is falling on the mountains.", "A man is swimming in the sea.", 0.0),
    ("A chef is cooking pasta.", "Someone is making spaghetti.", 3.8),
]


def subset(pairs: list, scores: np.ndarray, size: int, seed: int) -> tuple[list, np.ndarray]:
    """``size`` pairs drawn with ``seed`` (all of them when there are fewer)."""
    rows = np.random.default_rng(seed).permutation(len(pairs))[:size]
    return [pairs[i] for i in rows], scores[rows]


def load(
    data: Path, train_size: int, test_size: int, seed: int
) -> tuple[list, np.ndarray, list, np.ndarray]:
    """Seeded subsets of sts-train and sts-test (or the pairs above)."""
    folder = data / "stsbenchmark"
    if (folder / "sts-train.csv").is_file():
        return (
            *subset(*load_stsb(folder, "train"), train_size, seed),
            *subset(*load_stsb(folder, "test"), test_size, seed),
        )
    print(f"{folder} not found: using the {len(TRAIN) + len(TEST)} pairs of this example.")
    return (
        [(a, b) for a, b, _ in TRAIN],
        np.array([s for _, _, s in TRAIN]),
        [(a, b) for a, b, _ in TEST],
        np.array([s for _, _, s in TEST]),
    )


def cosine(vectorizer: SBERTVectorizer, pairs: list[tuple[str, str]]) -> np.ndarray:
    """Cosine similarity of the two embeddings of each pair."""
    u = vectorizer.transform([a for a, _ in pairs])
    v = vectorizer.transform([b for _, b in pairs])
    return np.sum(u * v, axis=1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding stsbenchmark/")
    parser.add_argument("--train-size", type=int, default=1500, help="training pairs drawn")
    parser.add_argument("--test-size", type=int, default=1379, help="test pairs scored")
    parser.add_argument("--seed", type=int, default=0, help="draws the pairs, seeds training")
    parser.add_argument(
        "--out", type=Path, default=REPO / "docs/_static/examples/semantic_similarity.png"
    )
    args = parser.parse_args()

    pairs, scores, test_pairs, test_scores = load(
        args.data, args.train_size, args.test_size, args.seed
    )
    print(f"{len(pairs)} training pairs, {len(test_pairs)} test pairs")
    print(f"{'embeddings':<12}{'objective':<11}{'Spearman x100':>14}{'fit s':>7}")
    fig = Figure(figsize=(9, 4), layout="constrained")
    for ax, name, vectorizer in zip(
        fig.subplots(1, 2, sharey=True),
        ["frozen", "fine-tuned"],
        [SBERTVectorizer(epochs=0), SBERTVectorizer(batch_size=16, random_state=args.seed)],
        strict=True,
    ):
        start = time.perf_counter()
        vectorizer.fit(pairs, scores)
        seconds = time.perf_counter() - start
        rho = 100 * vectorizer.score(test_pairs, test_scores)
        objective = vectorizer.loss_ or "none"
        print(f"{name:<12}{objective:<11}{rho:>14.2f}{seconds:>7.0f}")
        ax.scatter(test_scores, cosine(vectorizer, test_pairs), s=6, alpha=0.4)
        ax.set(title=f"{name}: Spearman {rho:.1f}", xlabel="gold score (0-5)")
    fig.axes[0].set_ylabel("cosine similarity")
    fig.suptitle(f"Test pairs, before and after fine-tuning on {len(pairs)} scored pairs")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"picture: {args.out}")


if __name__ == "__main__":
    main()
