"""Clustering: KMeans on sentence embeddings, before and after fine-tuning on a few labels.

Frozen embeddings group questions by topic (sport, history, geography); the labels of TREC
group them by the type of the answer they ask for (a person, a place, a number). The script
fine-tunes the default model on 8 labelled questions per class from the TREC training set,
clusters a seeded subset of the unseen test questions with ``KMeans`` (one cluster per class)
on the frozen and on the fine-tuned embeddings, prints the adjusted Rand index of each
clustering against the true labels (0: chance, 1: the labels exactly), and saves a 2-D PCA
projection of both embeddings side by side, coloured by the true label.

Run it from the repository root with ``python examples/clustering.py`` (about two minutes on
two CPU cores). ``--data`` names the folder that holds ``trec/`` (default: ``../shared/data``
beside the repository); where it is absent, the script says so and uses the small set of
questions in ``examples/_data.py``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _data import DATA, REPO, few_shot, trec_questions
from matplotlib.figure import Figure
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score

from skbert import SBERTVectorizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding trec/")
    parser.add_argument("--per-class", type=int, default=8, help="training texts per class")
    parser.add_argument("--size", type=int, default=300, help="test questions clustered")
    parser.add_argument("--seed", type=int, default=0, help="draws the texts, seeds training")
    parser.add_argument("--out", type=Path, default=REPO / "docs/_static/examples/clustering.png")
    args = parser.parse_args()

    train_texts, train_labels, test_texts, test_labels = trec_questions(args.data)
    texts, labels = few_shot(train_texts, train_labels, args.per_class, args.seed)
    rows = np.random.default_rng(args.seed).permutation(len(test_texts))[: args.size]
    questions, truth = [test_texts[i] for i in rows], test_labels[rows]
    classes = np.unique(truth)
    print(f"fine-tuning on {len(texts)} labelled questions, clustering {len(questions)} others")
    print(f"{'embeddings':<12}{'adjusted Rand':>14}{'fit s':>7}")
    fig = Figure(figsize=(10, 4.8), layout="constrained")
    for ax, name, vectorizer in zip(
        fig.subplots(1, 2),
        ["frozen", "fine-tuned"],
        [SBERTVectorizer(epochs=0), SBERTVectorizer(random_state=args.seed)],
        strict=True,
    ):
        start = time.perf_counter()
        vectorizer.fit(texts, labels)
        seconds = time.perf_counter() - start
        embeddings = vectorizer.transform(questions)
        kmeans = KMeans(len(classes), n_init=10, random_state=args.seed)
        ari = adjusted_rand_score(truth, kmeans.fit_predict(embeddings))
        print(f"{name:<12}{ari:>14.3f}{seconds:>7.0f}")
        points = PCA(2, random_state=args.seed).fit_transform(embeddings)
        for label in classes:
            ax.scatter(*points[truth == label].T, s=12, alpha=0.7, label=label)
        ax.set(
            title=f"{name} embeddings: KMeans adjusted Rand {ari:.2f}",
            xlabel="first principal component",
            ylabel="second principal component",
        )
    fig.axes[1].legend(title="true label", loc="center left", bbox_to_anchor=(1, 0.5))
    fig.suptitle(f"{len(questions)} unseen TREC questions, PCA projection coloured by label")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"picture: {args.out}")


if __name__ == "__main__":
    main()
