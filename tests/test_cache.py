"""The process-wide embedding cache, keyed by what computes an embedding, and searches on it."""

import os
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skbert import SBERTVectorizer, TruncationWarning
from skbert._cache import EMBEDDINGS, EmbeddingCache, entry_bytes
from skbert._embedder import Embedder
from tests.conftest import PAIRS, SCORES

TEXTS = ["a man plays the guitar", "a dog runs fast", "what is the answer"]


@pytest.fixture(autouse=True)
def empty_cache():
    EMBEDDINGS.clear()
    yield
    EMBEDDINGS.clear()


@pytest.fixture
def encoded(monkeypatch):
    """Count the texts that reach the encoder."""
    counts = []
    real = Embedder._encode

    def counting(self, texts, out, **kwargs):
        counts.append(len(texts))
        return real(self, texts, out, **kwargs)

    monkeypatch.setattr(Embedder, "_encode", counting)
    return counts


def test_a_refitted_frozen_vectorizer_does_not_embed_the_same_texts_again(tiny_model, encoded):
    first = SBERTVectorizer(tiny_model).fit(TEXTS).transform(TEXTS)
    assert sum(encoded) == 3
    second = clone(SBERTVectorizer(tiny_model)).fit(TEXTS).transform([*TEXTS, "a new text"])
    assert sum(encoded) == 4  # only the new text was encoded
    np.testing.assert_array_equal(second[:3], first)


def test_fine_tuned_vectorizers_are_cached_under_their_own_weights(tiny_model, encoded):
    frozen = SBERTVectorizer(tiny_model).fit(TEXTS)
    tuned = SBERTVectorizer(tiny_model, loss="cosine", batch_size=4, random_state=0)
    tuned.fit(PAIRS, SCORES)
    first = tuned.transform(TEXTS)
    second = tuned.transform(TEXTS)
    assert sum(encoded) == 3 and len(EMBEDDINGS) == 3
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(frozen.transform(TEXTS), first)  # not served the tuned rows
    assert sum(encoded) == 6


def test_refitting_with_the_same_seed_reuses_the_embeddings(tiny_model, encoded):
    def fitted():
        vec = SBERTVectorizer(tiny_model, loss="cosine", batch_size=4, random_state=0)
        return vec.fit(PAIRS, SCORES)

    fitted().transform(TEXTS)
    fitted().transform(TEXTS)  # bitwise the same weights: the same identity
    assert sum(encoded) == 3


def test_an_encoder_changed_in_place_is_a_different_model(tiny_model, encoded):
    vec = SBERTVectorizer(tiny_model).fit(TEXTS)
    before = vec.transform(TEXTS)
    with torch.no_grad():
        vec.encoder_.transformer.embeddings.word_embeddings.weight.mul_(2)
    after = vec.transform(TEXTS)
    assert sum(encoded) == 6
    assert not np.allclose(before, after)


def test_the_cache_can_be_switched_off(tiny_model, encoded):
    vec = SBERTVectorizer(tiny_model, cache_embeddings=False).fit(TEXTS)
    vec.transform(TEXTS)
    vec.transform(TEXTS)
    assert sum(encoded) == 6


def test_settings_that_change_the_output_are_part_of_the_key(tiny_model, encoded):
    SBERTVectorizer(tiny_model).fit(TEXTS).transform(TEXTS)
    SBERTVectorizer(tiny_model, pooling="max").fit(TEXTS).transform(TEXTS)
    SBERTVectorizer(tiny_model, precision="bfloat16").fit(TEXTS).transform(TEXTS)
    assert sum(encoded) == 9


def test_auto_precision_is_cached_as_the_precision_it_picks(tiny_model, encoded, monkeypatch):
    from skbert import _precision
    from skbert._hardware import CPU

    native_bf16 = CPU("AMD EPYC", "x86_64", frozenset({"avx512_bf16", "avx512_vnni"}))
    monkeypatch.setattr(_precision, "cpu", lambda: native_bf16)
    vec = SBERTVectorizer(tiny_model).fit(TEXTS)
    for precision in ("auto", "int8", "float32"):
        vec.set_params(precision=precision).transform(TEXTS)
    assert encoded == [3, 0, 3]  # int8 (auto's pick there) reads what auto cached


def test_content_changed_with_the_same_size_and_mtime_invalidates_the_cache(
    tiny_model, tmp_path, encoded
):
    import shutil

    from safetensors.torch import load_file, save_file

    folder = shutil.copytree(tiny_model, tmp_path / "model")
    weights = folder / "model.safetensors"
    before = SBERTVectorizer(str(folder)).fit(TEXTS).transform(TEXTS)
    stat = weights.stat()
    tensors = load_file(weights)
    name = next(k for k in tensors if "word_embeddings" in k)
    tensors[name] = tensors[name] * 2
    save_file(tensors, weights, metadata={"format": "pt"})
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (weights.stat().st_size, weights.stat().st_mtime_ns) == (
        stat.st_size,
        stat.st_mtime_ns,
    )
    after = SBERTVectorizer(str(folder)).fit(TEXTS).transform(TEXTS)
    assert sum(encoded) == 6
    assert not np.allclose(before, after)


def test_the_same_files_in_another_folder_share_embeddings(tiny_model, tmp_path, encoded):
    import shutil

    folder = shutil.copytree(tiny_model, tmp_path / "model")
    SBERTVectorizer(tiny_model).fit(TEXTS).transform(TEXTS)
    SBERTVectorizer(str(folder)).fit(TEXTS).transform(TEXTS)
    assert sum(encoded) == 3


def test_a_loaded_folder_is_cached_like_a_frozen_model(tiny_model, tmp_path, encoded):
    vec = SBERTVectorizer(tiny_model, loss="cosine", batch_size=4, random_state=0)
    path = vec.fit(PAIRS, SCORES).save(tmp_path / "m")
    SBERTVectorizer.load(path).transform(TEXTS)
    SBERTVectorizer.load(path).transform(TEXTS)
    assert sum(encoded) == 3


def test_pickles_do_not_carry_the_cache(tiny_model):
    vec = SBERTVectorizer(tiny_model).fit(TEXTS)
    vec.transform(TEXTS)
    before = len(pickle.dumps(vec))
    vec.transform([f"text number {i}" for i in range(2000)])
    assert len(EMBEDDINGS) == 2003
    assert len(pickle.dumps(vec)) == before


def test_cache_evicts_the_least_recently_used_beyond_its_bound():
    rows = np.ones((4, 4), dtype=np.float32)
    cache = EmbeddingCache(max_bytes=3 * entry_bytes("a", rows[0]))
    cache.store("k", ["a", "b", "c"], rows[:3])
    cache.lookup("k", ["a"])  # "a" is now the most recent
    cache.store("k", ["d"], rows[3:])
    assert [r is not None for r in cache.lookup("k", ["a", "b", "c", "d"])] == [
        True,
        False,
        True,
        True,
    ]


def test_a_store_larger_than_the_bound_keeps_only_the_last_rows_that_fit():
    rows = np.arange(40, dtype=np.float32).reshape(10, 4)
    texts = [f"t{i}" for i in range(10)]
    cache = EmbeddingCache(max_bytes=3 * entry_bytes("t0", rows[0]))
    cache.store("k", texts, rows)
    assert len(cache) == 3
    found = cache.lookup("k", texts)
    assert [r is not None for r in found] == [False] * 7 + [True] * 3
    np.testing.assert_array_equal(found[9], rows[9])
    rows[9] = -1  # the cache holds copies, not views of the caller's array
    assert cache.lookup("k", ["t9"])[0][0] == 36


def test_partly_cached_input_gives_the_uncached_embeddings(tiny_model):
    vec = SBERTVectorizer(tiny_model).fit(TEXTS)
    expected = SBERTVectorizer(tiny_model, cache_embeddings=False).fit(TEXTS)
    vec.transform(TEXTS[::2])
    mixed = ["a new text", *TEXTS, "another new text"]
    np.testing.assert_allclose(vec.transform(mixed), expected.transform(mixed), atol=1e-6)


def test_truncation_is_counted_and_reported_in_transform(tiny_model):
    vec = SBERTVectorizer(tiny_model, max_seq_length=8).fit(TEXTS)
    long_text = "a dog runs fast " * 10
    with pytest.warns(TruncationWarning, match="2 of 3 texts are longer than max_seq_length=8"):
        vec.transform([long_text, long_text + "again", "a dog"])


def test_token_states_are_kept_as_copies_owning_only_their_rows():
    states = torch.arange(40, dtype=torch.float32).reshape(10, 4)
    cache = EmbeddingCache(max_bytes=2**20)
    cache.store("k", [b"\x01", b"\x02"], [states[0:3], states[3:5]])
    kept = cache.lookup("k", [b"\x02"])[0]
    states[3] = -1  # not a view of the caller's tensor,
    assert kept[0, 0] == 12
    assert kept.untyped_storage().nbytes() == 2 * 4 * 4  # nor of its whole storage
    assert cache.nbytes == entry_bytes(b"\x01", kept[:1].repeat(3, 1)) + entry_bytes(b"\x02", kept)
