"""benchmarks/gpu_check.py, the prepared GPU check, run where there is no GPU.

Its checks run on the CPU: the whole script as a rehearsal (``--device cpu``) on the tiny
BERT, where every check must pass, and single checks fed a behaviour that is broken on
purpose, where they must fail, so a check that compares nothing cannot pass unnoticed.
"""

import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from skbert import SBERTVectorizer
from tests.conftest import PAIRS, SCORES

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
TEXTS = ["a man plays the guitar", "a dog runs fast", "what is the answer"]


@pytest.fixture
def gpu_check(monkeypatch):
    """The script as a module, with its own list of check results."""
    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # for its ``from _common import``
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings():  # the script silences warnings for itself only
        spec.loader.exec_module(module)
    monkeypatch.setattr(module, "checks", [])
    return module


def results(gpu_check) -> list[str]:
    return [result for *_, result in gpu_check.checks]


def test_the_gpu_check_exits_cleanly_with_a_message_without_cuda():
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        env={**ENV, "CUDA_VISIBLE_DEVICES": ""}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "gpu_check: skipped, no CUDA device here" in done.stdout
    assert "--device cpu to rehearse it" in done.stdout


@pytest.mark.slow  # eleven fits and embeddings, and three processes started
def test_every_check_passes_in_a_rehearsal_on_the_cpu(tiny_model, tmp_path):
    done = subprocess.run(
        [
            sys.executable, str(SCRIPT), "--device", "cpu", "--model", tiny_model,
            "--data", str(tmp_path), "--pairs", "32", "--test-pairs", "16", "--repeats", "1",
            "--skip-st",
        ],
        env=ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.endswith(("PASS |", "FAIL |"))]
    # Each numbered check of the script's docstring ran, and passed.
    for name in (
        "transform float32 on cpu vs CPU", "zero-shot Spearman", "transform bfloat16 vs",
        "transform float16 vs", "fit float32", "fit bfloat16", "fit float16",
        "saved on cpu, loaded on cpu", "unpickled in a process that sees no GPU",
        "fit_distributed, 2 processes (gloo) vs 1",
    ):  # fmt: skip
        assert any(name in row for row in rows), name
    assert len(rows) == 12 and all(row.endswith("PASS |") for row in rows), rows
    assert "generated pairs, not the STS Benchmark" in done.stdout


def test_min_cosine_is_that_of_the_least_alike_rows(gpu_check):
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert gpu_check.min_cosine(a, a) == pytest.approx(1.0)
    assert gpu_check.min_cosine(a, np.array([[3.0, 0.0], [2.0, 0.0]])) == pytest.approx(0.0)
    assert gpu_check.min_cosine(a, -a) == pytest.approx(-1.0)


@pytest.mark.slow  # two processes started to unpickle in
def test_the_persistence_checks_fail_when_load_gives_another_model(
    gpu_check, tiny_model, monkeypatch
):
    vec = SBERTVectorizer(tiny_model, loss="cosine", batch_size=4, random_state=0)
    vec.fit(PAIRS, SCORES)
    gpu_check.check_persistence(vec, vec.device_, TEXTS)
    assert results(gpu_check) == ["PASS"] * 4

    other = SBERTVectorizer(tiny_model, pooling="cls", cache_embeddings=False).fit(["warm-up"])
    monkeypatch.setattr(SBERTVectorizer, "load", classmethod(lambda cls, *a, **k: other))
    gpu_check.checks.clear()
    gpu_check.check_persistence(vec, vec.device_, TEXTS)
    assert results(gpu_check) == ["FAIL", "FAIL", "PASS", "PASS"]  # loaded; then pickled


def test_the_data_parallel_check_fails_when_the_processes_disagree(
    gpu_check, tiny_model, monkeypatch
):
    import skbert.distributed

    def drifting(vec, X, **kwargs):  # a data-parallel fit that went its own way
        return SBERTVectorizer(**vec.get_params()).set_params(learning_rate=1e-2).fit(X)

    monkeypatch.setattr(skbert.distributed, "fit_distributed", drifting)
    gpu_check.check_data_parallel(torch.device("cpu"))
    assert results(gpu_check) == ["FAIL"]
