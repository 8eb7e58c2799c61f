"""Parallel searches and cached pipeline steps."""

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline

from skbert import SBERTVectorizer
from skbert import vectorizer as vectorizer_module
from tests.conftest import PAIRS, SCORES


def test_cross_validation_with_two_workers_equals_one(tiny_model):
    vec = SBERTVectorizer(tiny_model, loss="cosine", batch_size=4, random_state=0)
    X, y = PAIRS * 2, np.tile(SCORES, 2)
    serial = cross_val_score(vec, X, y, cv=2, n_jobs=1)
    parallel = cross_val_score(vec, X, y, cv=2, n_jobs=2)
    np.testing.assert_allclose(parallel, serial, atol=1e-6)


def test_pipeline_memory_skips_refitting_the_vectorizer(tiny_model, tmp_path, monkeypatch):
    loads = []
    real = vectorizer_module.load_embedder
    monkeypatch.setattr(
        vectorizer_module, "load_embedder", lambda *a, **k: loads.append(1) or real(*a, **k)
    )
    texts = ["a dog runs", "a cat eats", "a man plays guitar", "a woman plays piano"] * 2
    labels = ["animal", "animal", "music", "music"] * 2

    def pipeline():
        return Pipeline(
            [("sbert", SBERTVectorizer(tiny_model)), ("clf", LogisticRegression())],
            memory=str(tmp_path),
        )

    first = pipeline().fit(texts, labels)
    second = pipeline().fit(texts, labels)
    assert len(loads) == 1
    np.testing.assert_array_equal(first.predict(texts), second.predict(texts))
