"""backend="onnx": transform on ONNX Runtime, float32 and int8, built once, never pickled."""

import pickle
import sys

import numpy as np
import pytest
import torch

from skbert import SBERTVectorizer, _embedder, _onnx, _precision, _variants
from skbert._cache import EMBEDDINGS
from skbert._precision import Measured, auto_precision
from tests.conftest import PAIRS, SCORES

pytest.importorskip("onnxruntime", reason="backend='onnx' needs the onnx extra")

TEXTS = ["a man plays the guitar", "a dog runs fast", "what is the answer", "a cat eats food"]


def cosines(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def fitted(tiny_model):
    return SBERTVectorizer(tiny_model, cache_embeddings=False).fit(TEXTS)


@pytest.fixture
def onnx(fitted):
    yield fitted.set_params(backend="onnx", precision="float32")
    fitted.set_params(backend="torch", precision="float32", cache_embeddings=False)


def test_float32_on_onnx_runtime_embeds_as_torch_does(fitted, onnx):
    exact = fitted.set_params(backend="torch").transform([*TEXTS, "a longer text " * 9])
    ported = onnx.set_params(backend="onnx").transform([*TEXTS, "a longer text " * 9])
    assert ported.dtype == np.float32 and ported.shape == exact.shape
    np.testing.assert_allclose(ported, exact, atol=1e-5)


def test_int8_on_onnx_runtime_stays_close_to_float32(fitted, onnx):
    exact = fitted.set_params(backend="torch").transform(TEXTS)
    fast = onnx.set_params(backend="onnx", precision="int8").transform(TEXTS)
    assert not np.array_equal(fast, exact)  # quantized: it computed something else
    assert cosines(exact, fast).min() > 0.99


def test_normalisation_and_windows_run_on_the_session(tiny_model):
    text = " ".join(f"word{i % 50}" for i in range(300))
    vec = SBERTVectorizer(
        tiny_model, normalize=True, long_texts="windows", max_seq_length=32, epochs=0
    ).fit(TEXTS)
    exact = vec.transform([text, *TEXTS])
    ported = vec.set_params(backend="onnx").transform([text, *TEXTS])
    np.testing.assert_allclose(np.linalg.norm(ported, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(ported, exact, atol=1e-5)


def test_the_session_is_built_once_per_precision_and_dropped_from_pickles(onnx, monkeypatch):
    built = []
    real = _embedder.OnnxEncoder
    monkeypatch.setattr(_variants, "OnnxEncoder", lambda *a: built.append(a[1]) or real(*a))
    embedder = onnx._fitted.embedder
    monkeypatch.setattr(embedder._variants, "onnx", {})
    first = onnx.transform(TEXTS)
    onnx.set_params(precision="int8").transform(TEXTS)
    onnx.set_params(precision="float32").transform(TEXTS)
    assert built == ["float32", "int8"]
    clone = pickle.loads(pickle.dumps(onnx))
    assert clone._fitted.embedder._variants.onnx == {}
    np.testing.assert_array_equal(clone.transform(TEXTS), first)


def test_a_refit_drops_the_session(tiny_model):
    vec = SBERTVectorizer(tiny_model, backend="onnx", cache_embeddings=False).fit(TEXTS)
    before = vec.transform(TEXTS)
    assert set(vec._fitted.embedder._variants.onnx) == {"float32"}
    vec.set_params(loss="cosine", learning_rate=1e-2, random_state=0).fit(PAIRS, SCORES)
    assert vec._fitted.embedder._variants.onnx == {}
    after = vec.transform(TEXTS)  # a new session, of the new weights
    exact = vec.set_params(backend="torch").transform(TEXTS)
    np.testing.assert_allclose(after, exact, atol=1e-5)
    assert not np.allclose(after, before, atol=1e-4)


def test_the_backend_is_part_of_the_cache_key(onnx, monkeypatch):
    EMBEDDINGS.clear()
    calls = []
    encode = _embedder.Embedder._encode

    def counted(self, texts, *args, **kwargs):
        calls.append((len(texts), kwargs["backend"]))
        return encode(self, texts, *args, **kwargs)

    monkeypatch.setattr(_embedder.Embedder, "_encode", counted)
    onnx.set_params(backend="torch", cache_embeddings=True).transform(TEXTS)
    onnx.set_params(backend="onnx").transform(TEXTS)
    onnx.transform(TEXTS)  # served from the cache
    assert [call for call in calls if call[0]] == [(len(TEXTS), "torch"), (len(TEXTS), "onnx")]


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_a_precision_onnx_does_not_run_is_a_clear_error(tiny_model, onnx, precision):
    with pytest.raises(ValueError, match=f"backend='onnx' embeds in float32 or int8.*{precision}"):
        SBERTVectorizer(tiny_model, backend="onnx", precision=precision).fit(TEXTS)
    onnx.set_params(precision=precision)  # set after fit: refused when transform reads it
    with pytest.raises(ValueError, match=f"runs precision='float32' or 'int8'.*{precision}"):
        onnx.transform(TEXTS)


def test_missing_onnx_runtime_names_the_extra(onnx, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.setattr(onnx._fitted.embedder._variants, "onnx", {})
    with pytest.raises(ImportError, match=r"pip install 'skbert\[onnx\]'.*backend='torch'"):
        onnx.transform(TEXTS)


def test_onnx_is_refused_off_the_cpu(onnx):
    import copy

    embedder = onnx._fitted.embedder
    on_meta = _embedder.Embedder(
        copy.deepcopy(embedder.encoder),
        embedder.tokenizer,
        max_seq_length=embedder.max_seq_length,
        lowercase=embedder.lowercase,
        device=torch.device("meta"),
    )
    with pytest.raises(ValueError, match=r"backend='onnx' runs on the CPU only.*device='cpu'"):
        on_meta.embed(TEXTS, batch_size=4, precision="float32", use_cache=False, backend="onnx")


def test_the_export_leaves_no_file_behind(onnx, monkeypatch, tmp_path):
    monkeypatch.setattr(_onnx.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(onnx._fitted.embedder._variants, "onnx", {})
    onnx.set_params(precision="int8").transform(TEXTS)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("table", "backend", "expected"),
    [
        ({"onnx int8": Measured(2.0, 2.2, 81.9, "x")}, "onnx", "int8"),
        ({"onnx int8": Measured(2.0, 2.2, 81.9, "x")}, "torch", "float32"),  # not torch's
        ({"onnx int8": Measured(2.0, 2.2, 81.0, "x")}, "onnx", "float32"),  # loses quality
        ({"int8": Measured(2.0, 2.2, 81.9, "x")}, "onnx", "float32"),  # torch's int8
    ],
)
def test_auto_on_onnx_reads_onnx_runtime_measurements(monkeypatch, table, backend, expected):
    monkeypatch.setattr(_precision, "cpu", lambda: _precision.CPU("x", "x86_64", frozenset()))
    monkeypatch.setitem(_precision.MEASURED, "other", table)
    device = torch.device("cpu")
    assert auto_precision(device, inference=True, backend=backend) == expected
    assert auto_precision(device, backend=backend) == "float32"  # fit never trains in int8
