"""Data shared by the examples: TREC and the STS Benchmark, or small stand-ins for them.

Each loader reads ``../shared/data`` (or the folder given with ``--data``) when the data set
is there, and otherwise says so and returns a small set written below, so every example
runs anywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skbert.datasets import load_stsb, load_trec

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"

# Used when TREC is absent: questions labelled, like TREC's, by the type of their answer.
QUESTIONS_TRAIN = [
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
QUESTIONS_TEST = [
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


def trec_questions(data: Path) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """Training texts and labels, then test texts and labels: TREC, or the questions above."""
    folder = data / "trec"
    if (folder / "train.tsv").is_file():
        return (*load_trec(folder, "train"), *load_trec(folder, "test"))
    count = len(QUESTIONS_TRAIN) + len(QUESTIONS_TEST)
    print(f"{folder} not found: using the {count} questions of examples/_data.py.")
    return (
        [text for text, _ in QUESTIONS_TRAIN],
        np.array([label for _, label in QUESTIONS_TRAIN]),
        [text for text, _ in QUESTIONS_TEST],
        np.array([label for _, label in QUESTIONS_TEST]),
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


# Used when the STS Benchmark is absent: pairs scored like it, 0 (unrelated) to 5 (same).
SCORED_PAIRS = [
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


def stsb_train_subset(
    data: Path, size: int, seed: int
) -> tuple[list[tuple[str, str]], np.ndarray]:
    """A seeded subset of sts-train, or the pairs above."""
    folder = data / "stsbenchmark"
    if (folder / "sts-train.csv").is_file():
        pairs, scores = load_stsb(folder, "train")
        rows = np.random.default_rng(seed).permutation(len(pairs))[:size]
        return [pairs[i] for i in rows], scores[rows]
    print(f"{folder} not found: using the {len(SCORED_PAIRS)} pairs of examples/_data.py.")
    return [(a, b) for a, b, _ in SCORED_PAIRS], np.array([s for _, _, s in SCORED_PAIRS])
