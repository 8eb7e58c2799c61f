"""The embedder: order, identity, the int8 copy, and concurrent callers."""

import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from skbert import SBERTVectorizer
from skbert._cache import EMBEDDINGS
from skbert._embedder import load_embedder
from tests.conftest import PAIRS, SCORES

CPU = torch.device("cpu")
TEXTS = [f"{a} and {b} number {i}" for i, (a, b) in enumerate(PAIRS * 4)]


@pytest.fixture
def embedder(tiny_model):
    return load_embedder(tiny_model, device=CPU)


def embed(embedder, texts, **kwargs):
    options = {"batch_size": 4, "precision": "float32", "use_cache": False, **kwargs}
    return embedder.embed(texts, **options)[0]


def test_rows_come_back_in_input_order_whatever_the_batches(embedder):
    texts = ["a long sentence about a dog that runs", "cat", "a man plays guitar", "cat"]
    together = embed(embedder, texts)
    for i, text in enumerate(texts):
        np.testing.assert_allclose(together[i], embed(embedder, [text])[0], atol=1e-5)
    np.testing.assert_array_equal(together[1], together[3])


def test_truncate_dim_keeps_the_leading_dimensions_renormalised(tiny_st_model):
    embedder = load_embedder(tiny_st_model, device=CPU)
    full = embed(embedder, TEXTS[:4])
    cut = embed(embedder, TEXTS[:4], truncate_dim=8)
    head = full[:, :8] / np.linalg.norm(full[:, :8], axis=1, keepdims=True)
    np.testing.assert_allclose(cut, head, atol=1e-6)


def test_identity_is_stable_and_follows_the_weights(tiny_model, embedder):
    first = embedder.identity()
    assert embedder.identity() == first
    assert load_embedder(tiny_model, device=CPU).identity() == first
    assert load_embedder(tiny_model, device=CPU, pooling="max").identity() != first
    with torch.no_grad():
        embedder.encoder.transformer.pooler.dense.bias.add_(1)
    assert embedder.identity() != first


def test_the_int8_copy_is_rebuilt_when_the_weights_change(embedder):
    first = embedder._encoder_for("int8")
    assert embedder._encoder_for("int8") is first
    with torch.no_grad():
        embedder.encoder.transformer.embeddings.word_embeddings.weight.mul_(2)
    assert embedder._encoder_for("int8") is not first


def test_a_pickled_embedder_embeds_the_same(embedder):
    clone = pickle.loads(pickle.dumps(embedder))
    np.testing.assert_array_equal(embed(clone, TEXTS), embed(embedder, TEXTS))
    assert clone.identity() == embedder.identity()


# -- concurrent callers -----------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_eight_threads_transforming_at_once_equal_serial_calls(tiny_model, precision):
    vec = SBERTVectorizer(
        tiny_model, batch_size=3, cache_embeddings=False, precision=precision
    ).fit(TEXTS)
    inputs = [TEXTS[i:] + TEXTS[:i] for i in range(len(TEXTS))]
    serial = [vec.transform(x) for x in inputs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(3):
            concurrent = list(pool.map(vec.transform, inputs))
            for got, expected in zip(concurrent, serial, strict=True):
                np.testing.assert_allclose(got, expected, atol=1e-6)


def test_threads_sharing_the_cache_get_the_same_rows(tiny_model):
    EMBEDDINGS.clear()
    vec = SBERTVectorizer(tiny_model, batch_size=3).fit(TEXTS)
    expected = SBERTVectorizer(tiny_model, cache_embeddings=False).fit(TEXTS).transform(TEXTS)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: vec.transform(TEXTS[i:] + TEXTS[:i]), range(16)))
    for i, got in enumerate(results):
        np.testing.assert_allclose(got, np.roll(expected, -i, axis=0), atol=1e-6)
    EMBEDDINGS.clear()


def test_a_refit_while_another_thread_transforms_shows_the_old_or_the_new_state(tiny_model):
    old_params = {"pooling": "mean", "cache_embeddings": False, "batch_size": 4}
    vec = SBERTVectorizer(tiny_model, **old_params).fit(TEXTS)
    old = vec.transform(TEXTS)
    new = SBERTVectorizer(tiny_model, **{**old_params, "pooling": "max"}).fit(TEXTS)
    new = new.transform(TEXTS)
    stop, seen, errors = threading.Event(), [], []

    def transform_until_stopped():
        try:
            while not stop.is_set():
                seen.append(vec.transform(TEXTS))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    worker = threading.Thread(target=transform_until_stopped)
    worker.start()
    for pooling in ["max", "mean", "max"]:
        vec.set_params(pooling=pooling).fit(TEXTS)
    stop.set()
    worker.join()
    assert not errors and seen
    for rows in seen:
        assert np.allclose(rows, old, atol=1e-6) or np.allclose(rows, new, atol=1e-6)


def test_fit_leaves_the_callers_torch_generators_as_they_were(tiny_model):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    SBERTVectorizer(tiny_model, loss="cosine", batch_size=4, random_state=0).fit(PAIRS, SCORES)
    assert torch.equal(torch.get_rng_state(), before)


def test_an_identity_taken_before_training_is_not_reused_after_it(tiny_model):
    from skbert._planning import make_plan
    from skbert._training import fine_tune

    params = {**SBERTVectorizer().get_params(), "loss": "cosine", "learning_rate": 1e-2}
    plan, data = make_plan(params, PAIRS, SCORES)
    embedder = load_embedder(tiny_model, device=CPU)
    before = embedder.identity()
    fine_tune(embedder, plan, data)  # fused AdamW: the weights change, their versions do not
    assert embedder.identity() != before
