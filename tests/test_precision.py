"""Reduced-precision paths stay within their documented tolerance of float32."""

import numpy as np
import pytest
import torch

from skbert import SBERTVectorizer
from skbert._precision import Int8Linear, quantize_int8
from tests.conftest import PAIRS, SCORES

TEXTS = ["a man plays the guitar", "a dog runs fast", "what is the answer", "a cat eats food"]


def cosines(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def fitted(tiny_model):
    return SBERTVectorizer(tiny_model).fit(TEXTS)


def test_float32_is_the_default_and_exact(fitted):
    with torch.inference_mode():
        ids = fitted.tokenizer_(TEXTS, padding=True, return_tensors="pt")
        plain = fitted.encoder_(ids["input_ids"], ids["attention_mask"]).numpy()
    np.testing.assert_allclose(fitted.transform(TEXTS), plain, atol=1e-5)


# On the tiny random model; tests/test_quality.py checks the real model's documented bounds.
@pytest.mark.parametrize(("precision", "tolerance"), [("bfloat16", 0.99), ("int8", 0.99)])
def test_reduced_precision_transform_stays_close_to_float32(fitted, precision, tolerance):
    exact = fitted.set_params(precision="float32").transform(TEXTS)
    fast = fitted.set_params(precision=precision).transform(TEXTS)
    fitted.set_params(precision="float32")
    assert fast.dtype == np.float32
    assert cosines(exact, fast).min() > tolerance


def test_int8_copy_is_built_once_and_dropped_from_pickles(fitted):
    import pickle

    fitted.set_params(precision="int8", cache_embeddings=False)
    fitted.transform(TEXTS)
    first = fitted._fitted.embedder._int8[1]
    fitted.transform(TEXTS)
    assert fitted._fitted.embedder._int8[1] is first
    assert pickle.loads(pickle.dumps(fitted))._fitted.embedder._int8 is None
    fitted.set_params(precision="float32", cache_embeddings=True)


def test_int8_is_refused_off_the_cpu(fitted):
    import copy

    from skbert._embedder import Embedder

    embedder = fitted._fitted.embedder
    on_meta = Embedder(
        copy.deepcopy(embedder.encoder),
        embedder.tokenizer,
        max_seq_length=embedder.max_seq_length,
        lowercase=embedder.lowercase,
        device=torch.device("meta"),
    )
    with pytest.raises(ValueError, match="precision='int8' runs on the CPU only"):
        on_meta.embed(TEXTS, batch_size=4, precision="int8", use_cache=False)


def test_int8_linear_matches_float_linear():
    linear = torch.nn.Linear(64, 48)
    x = torch.randn(5, 7, 64)
    expected = linear(x)
    got = Int8Linear(linear)(x)
    assert got.shape == expected.shape
    assert ((got - expected).norm() / expected.norm()).item() < 0.02


def test_int8_scales_each_token_on_its_own():
    # One token with huge activations must not flatten the resolution of the others.
    linear = torch.nn.Linear(16, 8)
    x = torch.randn(4, 16)
    x[0] *= 1000
    got, expected = Int8Linear(linear)(x), linear(x)
    assert ((got[1:] - expected[1:]).norm() / expected[1:].norm()).item() < 0.02


def test_quantize_int8_leaves_the_float_encoder_untouched(fitted):
    before = {k: v.clone() for k, v in fitted.encoder_.state_dict().items()}
    quantize_int8(fitted.encoder_)
    after = fitted.encoder_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_reduced_precision_training_tracks_float32_training(tiny_model, precision):
    def fit(precision):
        vec = SBERTVectorizer(
            tiny_model,
            loss="cosine",
            precision=precision,
            batch_size=4,
            epochs=3,
            learning_rate=1e-3,
            random_state=0,
        )
        return vec.fit(PAIRS, SCORES).set_params(precision="float32").transform(TEXTS)

    frozen = SBERTVectorizer(tiny_model).fit(TEXTS).transform(TEXTS)
    exact, reduced = fit("float32"), fit(precision)
    assert cosines(exact, reduced).min() > 0.95
    # it trained: the change from the frozen model points the way float32's change does
    assert cosines(exact - frozen, reduced - frozen).min() > 0.9
