import pickle

import joblib
import numpy as np
import pytest
import torch

from skbert import SBERTVectorizer
from skbert._persistence import SKBERT_CONFIG
from tests.conftest import PAIRS, SCORES

TEXTS = ["a man plays the guitar", "a dog runs fast", "what is the answer"]


@pytest.fixture(scope="module")
def fitted(tiny_model):
    vec = SBERTVectorizer(tiny_model, loss="softmax", batch_size=4, epochs=2, random_state=0)
    return vec.fit(PAIRS, ["far", "near"] * 4)


def test_pickle_round_trip_gives_identical_embeddings(fitted):
    clone = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(clone.transform(TEXTS), fitted.transform(TEXTS))
    assert clone.classes_.tolist() == ["far", "near"]


def test_joblib_round_trip_gives_identical_embeddings(fitted, tmp_path):
    joblib.dump(fitted, tmp_path / "vec.joblib")
    clone = joblib.load(tmp_path / "vec.joblib")
    np.testing.assert_array_equal(clone.transform(TEXTS), fitted.transform(TEXTS))


def test_pickled_weights_are_cpu_tensors(fitted):
    state = fitted.encoder_.__getstate__()
    assert all(t.device.type == "cpu" for t in state["weights"].values())


@pytest.mark.skipif(torch.cuda.device_count() > 1, reason="needs a machine without a 2nd GPU")
def test_a_vectorizer_fitted_on_a_missing_gpu_unpickles_on_the_cpu(fitted, monkeypatch):
    from skbert._embedder import Embedder

    real = Embedder.__getstate__
    monkeypatch.setattr(Embedder, "__getstate__", lambda self: {**real(self), "device": "cuda:1"})
    data = pickle.dumps(fitted)  # as pickled on a machine with a second GPU
    monkeypatch.undo()
    with pytest.warns(UserWarning, match="fitted on cuda:1, which this machine lacks"):
        clone = pickle.loads(data)
    assert clone.device_.type == "cpu"
    np.testing.assert_array_equal(clone.transform(TEXTS), fitted.transform(TEXTS))


def test_save_then_load_gives_identical_embeddings_and_metadata(fitted, tmp_path):
    path = fitted.save(tmp_path / "model")
    loaded = SBERTVectorizer.load(path)
    np.testing.assert_allclose(loaded.transform(TEXTS), fitted.transform(TEXTS), atol=1e-6)
    assert loaded.classes_.tolist() == ["far", "near"]
    assert loaded.loss_ == "softmax" and len(loaded.history_) == len(fitted.history_)
    assert loaded.get_params()["epochs"] == 2


def test_saved_folder_loads_in_sentence_transformers_to_the_same_embeddings(
    tiny_st_model, tmp_path
):
    st = pytest.importorskip("sentence_transformers")
    vec = SBERTVectorizer(tiny_st_model, loss="cosine", batch_size=4, random_state=0)
    vec.fit(PAIRS, SCORES)
    model = st.SentenceTransformer(str(vec.save(tmp_path / "m")), device="cpu")
    np.testing.assert_allclose(model.encode(TEXTS), vec.transform(TEXTS), atol=1e-5)


@pytest.mark.parametrize("pooling", ["max", "cls"])
def test_sentence_transformers_reads_the_saved_pooling(tiny_model, tmp_path, pooling):
    st = pytest.importorskip("sentence_transformers")
    vec = SBERTVectorizer(tiny_model, pooling=pooling).fit(TEXTS)
    model = st.SentenceTransformer(str(vec.save(tmp_path / "m")), device="cpu")
    np.testing.assert_allclose(model.encode(TEXTS), vec.transform(TEXTS), atol=1e-5)


def test_a_sentence_transformers_save_loads_in_skbert(tiny_st_model, tmp_path):
    st = pytest.importorskip("sentence_transformers")
    model = st.SentenceTransformer(tiny_st_model, device="cpu")
    model.save(str(tmp_path / "st"))
    vec = SBERTVectorizer.load(tmp_path / "st")
    assert vec.loss_ is None
    np.testing.assert_allclose(vec.transform(TEXTS), model.encode(TEXTS), atol=1e-5)


def test_save_refuses_to_overwrite_unless_asked(fitted, tmp_path):
    path = fitted.save(tmp_path / "m")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        fitted.save(path)
    fitted.save(path, overwrite=True)
    assert (path / SKBERT_CONFIG).is_file()


def test_failed_save_leaves_no_partial_folder(fitted, tmp_path, monkeypatch):
    from skbert import _embedder

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(_embedder, "write_config", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        fitted.save(tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_previous_folder(fitted, tmp_path, monkeypatch):
    from skbert import _embedder

    path = fitted.save(tmp_path / "m")
    before = sorted(p.name for p in path.iterdir())
    monkeypatch.setattr(_embedder, "write_config", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        fitted.save(path, overwrite=True)
    assert sorted(p.name for p in path.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_load_of_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        SBERTVectorizer.load(tmp_path / "nope")


def test_load_of_a_corrupt_config_names_the_file(fitted, tmp_path):
    path = fitted.save(tmp_path / "m")
    (path / SKBERT_CONFIG).write_text("{")
    with pytest.raises(ValueError, match=r"skbert_config\.json is corrupt"):
        SBERTVectorizer.load(path)


def test_save_load_keeps_output_size_matryoshka_and_validation_history(tiny_model, tmp_path):
    vec = SBERTVectorizer(
        tiny_model, loss="cosine", batch_size=4, epochs=2, truncate_dim=8,
        matryoshka_dims=(32, 8), early_stopping=True, validation_fraction=0.25, random_state=0,
    )  # fmt: skip
    vec.fit(PAIRS * 2, list(SCORES) * 2)
    loaded = SBERTVectorizer.load(vec.save(tmp_path / "m"))
    assert loaded.get_params()["matryoshka_dims"] == (32, 8)
    assert loaded.embedding_dim_ == 8 and loaded.transform(TEXTS).shape == (3, 8)
    np.testing.assert_allclose(loaded.transform(TEXTS), vec.transform(TEXTS), atol=1e-6)
    assert [r for r in loaded.history_ if "validation_score" in r] == [
        r for r in vec.history_ if "validation_score" in r
    ]
