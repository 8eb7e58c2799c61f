"""Reduced precision: within its documented tolerance of float32, and chosen where it pays."""

import warnings

import numpy as np
import pytest
import torch

from skbert import PrecisionWarning, SBERTVectorizer, _precision
from skbert._hardware import CPU, GPU
from skbert._precision import (
    Int8Linear,
    auto_precision,
    quantize_int8,
    resolve_precision,
    slower_than_float32,
)
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


def test_int8_linear_computes_exactly_the_documented_formula():
    # per-token scale max|x| / 127, rounded int8 product, rescaled per channel and token
    linear = torch.nn.Linear(32, 24)
    x = torch.randn(3, 5, 32)
    layer = Int8Linear(linear)
    rows = x.reshape(-1, 32)
    scale = rows.abs().amax(dim=-1, keepdim=True) / 127
    product = torch._int_mm(torch.round(rows / scale).to(torch.int8), layer.weight_t)
    expected = layer.bias + product * layer.weight_scale * scale
    torch.testing.assert_close(layer(x), expected.reshape(3, 5, 24), rtol=0, atol=1e-6)


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


@pytest.mark.filterwarnings("ignore::skbert.PrecisionWarning")  # most CPUs lack float16
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


# -- which precision pays where: the capability queries patched ---------------------------

ZEN4 = CPU("AMD EPYC", "x86_64", frozenset({"avx2", "avx512_f", "avx512_bf16", "avx512_vnni"}))
XEON = CPU("Intel Xeon", "x86_64", frozenset({"avx2", "avx512_f", "avx512_vnni"}))
AVX2 = CPU("Intel Core", "x86_64", frozenset({"avx2"}))
SAPPHIRE = CPU(
    "Intel Xeon 8480",
    "x86_64",
    frozenset({"avx512_f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "amx_bf16", "amx_int8"}),
)
GRAVITON = CPU("Neoverse-V1", "aarch64", frozenset({"bf16", "dot", "i8mm"}))
A100, T4, P40 = GPU("A100", (8, 0), True), GPU("T4", (7, 5), False), GPU("P40", (6, 1), False)
CPU_DEVICE, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.fixture
def hardware(monkeypatch):
    """Pretend to run on ``processor`` (and ``gpu``), with no precision warned about yet."""
    monkeypatch.setattr(_precision, "_warned", set())

    def patch(processor, gpu=None):
        monkeypatch.setattr(_precision, "cpu", lambda: processor)
        monkeypatch.setattr(_precision, "cuda", lambda device: gpu)

    return patch


@pytest.mark.parametrize(
    ("processor", "gpu", "device", "expected"),
    [
        (ZEN4, None, CPU_DEVICE, "bfloat16"),
        (SAPPHIRE, None, CPU_DEVICE, "bfloat16"),
        (XEON, None, CPU_DEVICE, "float32"),
        (AVX2, None, CPU_DEVICE, "float32"),
        (GRAVITON, None, CPU_DEVICE, "float32"),  # native, but not measured on ARM
        (XEON, A100, CUDA, "bfloat16"),
        (XEON, T4, CUDA, "float16"),
        (ZEN4, P40, CUDA, "float32"),
        (ZEN4, None, torch.device("mps"), "float32"),
    ],
)
def test_auto_picks_the_fastest_precision_that_keeps_quality(
    hardware, processor, gpu, device, expected
):
    hardware(processor, gpu)
    assert auto_precision(device) == expected
    assert resolve_precision("auto", device) == expected


@pytest.mark.parametrize(
    ("processor", "gpu", "device", "precision", "missing"),
    [
        (XEON, None, CPU_DEVICE, "bfloat16", "no native bfloat16 (AVX512-BF16, AMX-BF16"),
        (AVX2, None, CPU_DEVICE, "bfloat16", "0.29x the speed of float32"),
        (ZEN4, None, CPU_DEVICE, "float16", "no native float16 (AVX512-FP16 or AMX-FP16)"),
        (AVX2, None, CPU_DEVICE, "int8", "no int8 dot-product instructions (VNNI, AMX-INT8"),
        (XEON, None, CPU_DEVICE, "int8", "0.8x to 1.0x the speed of float32"),
        (ZEN4, T4, CUDA, "bfloat16", "T4 (compute capability 7.5) has no native bfloat16"),
    ],
)
def test_a_precision_slower_than_float32_is_explained(
    hardware, processor, gpu, device, precision, missing
):
    hardware(processor, gpu)
    assert missing in slower_than_float32(precision, device)


@pytest.mark.parametrize(
    ("processor", "gpu", "device", "precision"),
    [
        (ZEN4, None, CPU_DEVICE, "bfloat16"),
        (ZEN4, None, CPU_DEVICE, "int8"),
        (SAPPHIRE, None, CPU_DEVICE, "float16"),
        (GRAVITON, None, CPU_DEVICE, "bfloat16"),
        (XEON, None, CPU_DEVICE, "float32"),
        (XEON, A100, CUDA, "bfloat16"),
        (XEON, T4, CUDA, "float16"),
        (XEON, None, torch.device("mps"), "bfloat16"),
    ],
)
def test_a_precision_that_pays_is_not_flagged(hardware, processor, gpu, device, precision):
    hardware(processor, gpu)
    assert slower_than_float32(precision, device) is None


def test_a_slow_precision_in_transform_warns_once_with_the_reason_and_the_remedy(fitted, hardware):
    hardware(XEON)
    fitted.set_params(precision="bfloat16")
    with pytest.warns(PrecisionWarning) as caught:
        fitted.transform(TEXTS)
    fitted.set_params(precision="float32")
    assert len(caught) == 1 and caught[0].filename == __file__  # points at the caller
    message = str(caught[0].message)
    assert "Intel Xeon (avx2, avx512_f, avx512_vnni)" in message
    assert "AVX512-BF16" in message and "0.29x" in message
    assert "precision='float32', or 'auto' (here 'float32')" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted.set_params(precision="bfloat16").transform(TEXTS[:2])  # once per process
        fitted.set_params(precision="float32")


def test_each_slow_precision_warns_once_on_its_own(fitted, hardware):
    hardware(XEON)
    with pytest.warns(PrecisionWarning) as caught:
        for precision in ("bfloat16", "int8", "bfloat16", "int8"):
            fitted.set_params(precision=precision, cache_embeddings=False).transform(TEXTS)
    fitted.set_params(precision="float32", cache_embeddings=True)
    assert [str(w.message).split()[0] for w in caught] == [
        "precision='bfloat16'",
        "precision='int8'",
    ]


def test_a_slow_precision_in_fit_warns_at_the_caller(tiny_model, hardware):
    hardware(XEON)
    vec = SBERTVectorizer(tiny_model, loss="cosine", precision="bfloat16", batch_size=4)
    with pytest.warns(PrecisionWarning, match="bfloat16") as caught:
        vec.fit(PAIRS, SCORES)
    assert caught[0].filename == __file__
    assert vec.plan_.precision == "bfloat16"  # warned, not overridden


def test_no_warning_where_the_precision_pays(fitted, hardware):
    hardware(ZEN4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for precision in ("bfloat16", "int8", "auto"):
            embeddings = fitted.set_params(precision=precision).transform(TEXTS)
            assert embeddings.shape[0] == len(TEXTS) and np.isfinite(embeddings).all()
    fitted.set_params(precision="float32")


@pytest.mark.filterwarnings("ignore::skbert.PrecisionWarning")  # bfloat16 on the Xeon
@pytest.mark.parametrize(("processor", "expected"), [(ZEN4, "bfloat16"), (XEON, "float32")])
def test_auto_in_transform_embeds_exactly_as_the_precision_it_picks(
    fitted, hardware, processor, expected
):
    hardware(processor)
    fitted.set_params(cache_embeddings=False)
    auto = fitted.set_params(precision="auto").transform(TEXTS)
    chosen = fitted.set_params(precision=expected).transform(TEXTS)
    other = fitted.set_params(precision="float32" if expected != "float32" else "bfloat16")
    different = other.transform(TEXTS)
    fitted.set_params(precision="float32", cache_embeddings=True)
    np.testing.assert_array_equal(auto, chosen)
    assert not np.array_equal(auto, different)


@pytest.mark.parametrize(
    ("processor", "precision", "trained"),
    [(ZEN4, "auto", "bfloat16"), (XEON, "auto", "float32"), (ZEN4, "int8", "float32")],
)
def test_fit_records_the_precision_it_trains_in(
    tiny_model, hardware, processor, precision, trained
):
    hardware(processor)
    vec = SBERTVectorizer(tiny_model, loss="cosine", precision=precision, batch_size=4)
    assert vec.fit(PAIRS, SCORES).plan_.precision == trained
    assert vec.precision == precision  # the parameter is left as given
