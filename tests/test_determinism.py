"""The same random_state gives bitwise-identical embeddings on CPU, in one process and across."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from skbert import SBERTVectorizer
from tests.conftest import PAIRS, SCORES

TEXTS = ["a man plays the guitar", "a dog runs fast", "what is the answer", ""]
TRIPLETS = [(a, b, d) for (a, b), (_, d) in zip(PAIRS[::2], PAIRS[1::2], strict=True)]
DATA = {
    "cosine": (PAIRS, SCORES),
    "softmax": (PAIRS, ["near", "far"] * 4),
    "triplet": (TRIPLETS, None),
}
# Several steps with dropout on, shuffling and (for softmax) a randomly initialised head:
# every source of randomness in fit is exercised.
PARAMS = {"batch_size": 2, "epochs": 2, "learning_rate": 1e-3, "warmup_ratio": 0.0}


def fit(model, loss, seed):
    X, y = DATA[loss]
    vec = SBERTVectorizer(model, loss=loss, random_state=seed, **PARAMS).fit(X, y)
    return vec.transform(TEXTS), [r["loss"] for r in vec.history_]


@pytest.mark.parametrize("loss", DATA)
def test_two_fits_with_the_same_seed_are_bitwise_identical(tiny_model, loss):
    first, first_losses = fit(tiny_model, loss, 3)
    torch.rand(100)  # the global RNG state must not matter
    np.random.rand(100)
    second, second_losses = fit(tiny_model, loss, 3)
    assert first_losses == second_losses
    assert first.tobytes() == second.tobytes()


@pytest.mark.parametrize("loss", DATA)
def test_another_seed_gives_another_model(tiny_model, loss):
    assert not np.array_equal(fit(tiny_model, loss, 3)[0], fit(tiny_model, loss, 4)[0])


SCRIPT = """
import sys
import torch
sys.path.insert(0, sys.argv[1])
torch.set_num_threads(int(sys.argv[3]))
from tests.test_determinism import fit
embeddings, losses = fit(sys.argv[2], "softmax", 3)
sys.stdout.write(embeddings.tobytes().hex() + "\\n" + repr(losses))
"""


def test_another_process_with_the_same_seed_gives_the_same_bits(tiny_model):
    root = Path(__file__).resolve().parents[1]
    threads = str(torch.get_num_threads())  # the order of float sums depends on it
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(root), tiny_model, threads],
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    hex_embeddings, losses = run.stdout.splitlines()
    here, here_losses = fit(tiny_model, "softmax", 3)
    assert losses == repr(here_losses)
    assert hex_embeddings == here.tobytes().hex()
