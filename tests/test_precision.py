"""Reduced precision: within its documented tolerance of float32, and chosen where it pays."""

import warnings

import numpy as np
import pytest
import torch

from skbert import PrecisionWarning, SBERTVectorizer, _embedder, _precision, _quantize, _variants
from skbert._cache import EMBEDDINGS
from skbert._hardware import CPU, GPU
from skbert._precision import Measured, auto_precision, resolve_precision, slower_than_float32
from skbert._quantize import Int8Kernel, QuantizedLinear, int8_kernel, quantize
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


def test_int8_copy_is_built_once_lazily_and_dropped_from_pickles(tiny_model):
    import pickle

    vec = SBERTVectorizer(tiny_model, cache_embeddings=False).fit(TEXTS)
    vec.transform(TEXTS)
    assert vec._fitted.embedder._variants.int8 is None  # nothing built until int8 is asked for
    vec.set_params(precision="int8")
    vec.transform(TEXTS)
    first = vec._fitted.embedder._variants.int8[2]
    vec.transform(TEXTS)
    assert vec._fitted.embedder._variants.int8[2] is first
    clone = pickle.loads(pickle.dumps(vec))
    assert clone._fitted.embedder._variants.int8 is None
    np.testing.assert_array_equal(clone.transform(TEXTS), vec.transform(TEXTS))


def test_int8_copy_is_built_once_by_concurrent_callers(fitted, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    built = []
    monkeypatch.setattr(_variants, "quantize", lambda *a: built.append(1) or quantize(*a))
    embedder = fitted._fitted.embedder
    monkeypatch.setattr(embedder._variants, "int8", None)
    with ThreadPoolExecutor(max_workers=4) as pool:
        copies = list(pool.map(lambda _: embedder._encoder_for("int8"), range(8)))
    assert len(built) == 1 and all(c is copies[0] for c in copies)


def test_a_refit_drops_the_int8_copy(tiny_model):
    vec = SBERTVectorizer(tiny_model, precision="int8", cache_embeddings=False).fit(TEXTS)
    vec.transform(TEXTS)
    assert vec._fitted.embedder._variants.int8 is not None
    vec.fit(TEXTS)
    assert vec._fitted.embedder._variants.int8 is None


def test_the_int8_kernel_is_part_of_the_cache_key(fitted, monkeypatch):
    EMBEDDINGS.clear()
    calls = []
    encode = _embedder.Embedder._encode

    def counted(self, texts, *args, **kwargs):
        calls.append(len(texts))
        return encode(self, texts, *args, **kwargs)

    monkeypatch.setattr(_embedder.Embedder, "_encode", counted)
    fitted.set_params(precision="int8", cache_embeddings=True)
    first = fitted.transform(TEXTS)
    fitted.transform(TEXTS)  # served from the cache
    other = Int8Kernel("fbgemm", reduce_range=True)
    monkeypatch.setattr(_variants, "int8_kernel", lambda: other)
    second = fitted.transform(TEXTS)  # another kernel: computed again, by another copy
    fitted.set_params(precision="float32")
    assert [n for n in calls if n] == [len(TEXTS), len(TEXTS)]  # the second call encoded none
    assert fitted._fitted.embedder._variants.int8[1] == other
    assert cosines(first, second).min() > 0.99


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


@pytest.mark.parametrize("engine", ["onednn", "x86", "fbgemm"])
@pytest.mark.parametrize("reduce_range", [False, True])
def test_quantized_linear_matches_float_linear_on_each_engine(engine, reduce_range):
    linear = torch.nn.Linear(64, 48)
    x = torch.randn(5, 7, 64)
    expected = linear(x)
    with _quantize.quantized_engine(engine):
        layer = QuantizedLinear(linear, reduce_range=reduce_range)
    got = layer(x)
    assert got.shape == expected.shape and got.dtype == torch.float32
    assert ((got - expected).norm() / expected.norm()).item() < (0.03 if reduce_range else 0.02)


def test_quantized_weights_are_scaled_per_output_channel():
    # One channel with weights 1000x larger must not flatten the resolution of the others.
    linear = torch.nn.Linear(32, 8)
    with torch.no_grad():
        linear.weight[0] *= 1000
    x = torch.randn(6, 32)
    got, expected = QuantizedLinear(linear, reduce_range=False)(x), linear(x)
    assert ((got[:, 1:] - expected[:, 1:]).norm() / expected[:, 1:].norm()).item() < 0.02


def test_an_engine_this_torch_lacks_is_a_clear_error(fitted):
    with pytest.raises(ValueError, match="quantized engine 'tpu' is not available"):
        quantize(fitted.encoder_, Int8Kernel("tpu", reduce_range=False))


def test_quantize_leaves_the_float_encoder_and_the_global_engine_untouched(fitted):
    before = {k: v.clone() for k, v in fitted.encoder_.state_dict().items()}
    engine = torch.backends.quantized.engine
    quantize(fitted.encoder_, Int8Kernel("onednn", reduce_range=False))
    after = fitted.encoder_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.backends.quantized.engine == engine


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
        monkeypatch.setattr(_quantize, "cpu", lambda: processor)
        monkeypatch.setattr(_precision, "cuda", lambda device: gpu)

    return patch


# What "auto" picks for transform on each kind of CPU, from the measured table.
@pytest.mark.parametrize(
    ("processor", "gpu", "device", "expected"),
    [
        (ZEN4, None, CPU_DEVICE, "int8"),
        (SAPPHIRE, None, CPU_DEVICE, "int8"),
        (XEON, None, CPU_DEVICE, "float32"),
        (AVX2, None, CPU_DEVICE, "float32"),  # int8 reported faster there, but at 80.14
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
    assert auto_precision(device, inference=True) == expected
    assert resolve_precision("auto", device, inference=True) == expected


@pytest.mark.parametrize(
    ("processor", "expected"), [(ZEN4, "bfloat16"), (SAPPHIRE, "bfloat16"), (AVX2, "float32")]
)
def test_auto_never_trains_in_int8(hardware, processor, expected):
    hardware(processor)
    assert auto_precision(CPU_DEVICE) == expected
    assert resolve_precision("auto", CPU_DEVICE) == expected


M = Measured


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"int8": M(2.0, 2.5, 81.9, "x"), "bfloat16": M(1.5, 3.0, 82.0, "x")}, "int8"),
        ({"int8": M(2.0, 2.5, 81.4, "x"), "bfloat16": M(1.5, 1.6, 82.0, "x")}, "bfloat16"),
        ({"int8": M(0.9, 2.5, 82.0, "x"), "bfloat16": M(1.1, 1.2, None, "x")}, "float32"),
        ({}, "float32"),
    ],
)
def test_auto_reads_the_table_for_the_kind_of_cpu(hardware, monkeypatch, table, expected):
    # faster in every run (the slowest run counts) and within 0.5 of float32's 82.03
    hardware(AVX2)
    monkeypatch.setitem(_precision.MEASURED, "avx2", table)
    assert auto_precision(CPU_DEVICE, inference=True) == expected


@pytest.mark.parametrize(
    ("processor", "kernel"),
    [
        (SAPPHIRE, Int8Kernel("onednn", reduce_range=False)),  # measured fastest there
        (ZEN4, Int8Kernel(torch.backends.quantized.engine, reduce_range=False)),
        (AVX2, Int8Kernel(torch.backends.quantized.engine, reduce_range=True)),  # no VNNI
    ],
)
def test_int8_runs_on_the_engine_measured_fastest_for_the_kind_of_cpu(hardware, processor, kernel):
    hardware(processor)
    assert int8_kernel() == kernel


@pytest.mark.parametrize(
    ("processor", "gpu", "device", "precision", "missing"),
    [
        (XEON, None, CPU_DEVICE, "bfloat16", "no native bfloat16 (AVX512-BF16, AMX-BF16"),
        (AVX2, None, CPU_DEVICE, "bfloat16", "ran at 0.29x the speed of float32"),
        (ZEN4, None, CPU_DEVICE, "float16", "no native float16 (AVX512-FP16 or AMX-FP16)"),
        (ZEN4, None, CPU_DEVICE, "float16", "ran at 0.2x to 0.35x the speed of float32"),
        (SAPPHIRE, None, CPU_DEVICE, "float16", "ran at 0.85x to 0.94x the speed of float32"),
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
        (ZEN4, None, CPU_DEVICE, "int8"),  # not measured with these kernels: not flagged
        (AVX2, None, CPU_DEVICE, "int8"),  # reported 1.4x to 2.9x there
        (XEON, None, CPU_DEVICE, "int8"),
        (SAPPHIRE, None, CPU_DEVICE, "int8"),
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


def test_a_slow_precision_in_transform_warns_once_with_the_measured_ratio(fitted, hardware):
    hardware(XEON)
    fitted.set_params(precision="bfloat16")
    with pytest.warns(PrecisionWarning) as caught:
        fitted.transform(TEXTS)
    fitted.set_params(precision="float32")
    assert len(caught) == 1 and caught[0].filename == __file__  # points at the caller
    message = str(caught[0].message)
    assert "Intel Xeon (avx2, avx512_f, avx512_vnni)" in message
    assert "AVX512-BF16" in message and "ran at 0.29x the speed of float32" in message
    assert "precision='float32', or 'auto' (here 'float32')" in message
    assert "not measured" not in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted.set_params(precision="bfloat16").transform(TEXTS[:2])  # once per process
        fitted.set_params(precision="float32")


def test_int8_measured_slower_warns_with_its_ratio(fitted, hardware, monkeypatch):
    hardware(AVX2)
    slow = Measured(0.05, 0.05, 81.73, "a CPU like this one, measured")
    monkeypatch.setitem(_precision.MEASURED, "avx2", {"int8": slow})
    fitted.set_params(precision="int8", cache_embeddings=False)
    with pytest.warns(PrecisionWarning, match="int8") as caught:
        fitted.transform(TEXTS)
    fitted.set_params(precision="float32", cache_embeddings=True)
    message = str(caught[0].message)
    assert "(a CPU like this one, measured) transform ran at 0.05x the speed of float32" in message


def test_each_slow_precision_warns_once_on_its_own(fitted, hardware):
    hardware(XEON)
    with pytest.warns(PrecisionWarning) as caught:
        for precision in ("bfloat16", "float16", "bfloat16", "float16"):
            fitted.set_params(precision=precision, cache_embeddings=False).transform(TEXTS)
    fitted.set_params(precision="float32", cache_embeddings=True)
    assert [str(w.message).split()[0] for w in caught] == [
        "precision='bfloat16'",
        "precision='float16'",
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
@pytest.mark.parametrize(
    ("processor", "expected"), [(ZEN4, "int8"), (XEON, "float32"), (SAPPHIRE, "int8")]
)
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
    [
        (ZEN4, "auto", "bfloat16"),
        (XEON, "auto", "float32"),
        (SAPPHIRE, "auto", "bfloat16"),  # auto embeds in int8 there, but trains in bfloat16
        (ZEN4, "int8", "float32"),
    ],
)
def test_fit_records_the_precision_it_trains_in(
    tiny_model, hardware, processor, precision, trained
):
    hardware(processor)
    vec = SBERTVectorizer(tiny_model, loss="cosine", precision=precision, batch_size=4)
    assert vec.fit(PAIRS, SCORES).plan_.precision == trained
    assert vec.precision == precision  # the parameter is left as given


# One CPU of each kind, as the docs' table of what "auto" picks names them.
KINDS = {"amx": SAPPHIRE, "avx512_bf16": ZEN4, "vnni": XEON, "avx2": AVX2, "other": GRAVITON}


def test_the_docs_table_of_auto_choices_is_the_code_s(hardware):
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
    lines = page.read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if "(`CPU.kind`)" in line)
    documented = {}
    for line in lines[header + 2 : header + 2 + len(KINDS)]:
        kind, _, transform, fit, _, onnx = (cell.strip() for cell in line.strip("|").split("|"))
        documented[kind.split("`")[1]] = (transform.split()[0], fit, onnx.split()[0])
    assert set(documented) == set(KINDS)
    for kind, processor in KINDS.items():
        hardware(processor)
        assert processor.kind == kind
        chosen = (
            auto_precision(CPU_DEVICE, inference=True),
            auto_precision(CPU_DEVICE),
            auto_precision(CPU_DEVICE, inference=True, backend="onnx"),
        )
        assert documented[kind] == chosen, kind
