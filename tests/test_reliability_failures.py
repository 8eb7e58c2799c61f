"""Failures in the middle of fit lose nothing: the earlier fit stays, no file is written."""

import copy
import hashlib
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from skbert import SBERTVectorizer
from skbert.losses import CosineSimilarityLoss
from tests.conftest import PAIRS, SCORES

TEXTS = ["a man plays the guitar", "a dog runs fast", "what is the answer"]


def make(model, **params):
    defaults = {"loss": "cosine", "batch_size": 2, "epochs": 2, "random_state": 0}
    return SBERTVectorizer(model, **{**defaults, **params})


def test_a_non_finite_loss_names_the_step_and_the_remedies(tiny_model):
    with pytest.raises(FloatingPointError, match=r"became nan at step \d+ \(epoch 0\)") as info:
        make(tiny_model, learning_rate=1e10, warmup_ratio=0.0).fit(PAIRS, SCORES)
    assert "Lower learning_rate" in str(info.value) and "precision" in str(info.value)


def fail_on_call(monkeypatch, owner, name, call, error):
    """Make ``owner.name`` raise ``error`` on its ``call``-th call (counting from 1)."""
    original = getattr(owner, name)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise error
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, failing)
    return calls


def test_a_loss_that_turns_infinite_later_names_that_step(tiny_model, monkeypatch):
    original = CosineSimilarityLoss.forward
    calls = []

    def forward(self, *args):
        calls.append(1)
        return original(self, *args) * (math.inf if len(calls) == 3 else 1.0)

    monkeypatch.setattr(CosineSimilarityLoss, "forward", forward)
    with pytest.raises(FloatingPointError, match=r"became inf at step 2 \(epoch 0\)"):
        make(tiny_model).fit(PAIRS, SCORES)


@pytest.fixture(scope="module")
def earlier(tiny_model):
    """A fitted vectorizer and a deep record of its fitted state."""
    vec = make(tiny_model, learning_rate=1e-3).fit(PAIRS, SCORES)
    state = {k: v for k, v in vars(vec).items() if k.endswith("_")}
    weights = copy.deepcopy(vec.encoder_.state_dict())
    return vec, state, copy.deepcopy(vec.history_), weights, vec.transform(TEXTS)


def _in_the_loss(monkeypatch, error):
    fail_on_call(monkeypatch, CosineSimilarityLoss, "forward", 3, error)


def _in_backward(monkeypatch, error):
    fail_on_call(monkeypatch, torch.Tensor, "backward", 2, error)


def _in_the_optimizer(monkeypatch, error):
    fail_on_call(monkeypatch, torch.optim.AdamW, "step", 2, error)


def _in_model_loading(monkeypatch, error):
    import transformers

    fail_on_call(monkeypatch, transformers.AutoModel, "from_pretrained", 1, error)


FAULTS = {
    "loss": _in_the_loss,
    "backward": _in_backward,
    "optimizer_step": _in_the_optimizer,
    "model_loading": _in_model_loading,
}


@pytest.mark.parametrize("error", [RuntimeError("out of memory"), KeyboardInterrupt()], ids=repr)
@pytest.mark.parametrize("fault", FAULTS)
def test_a_fit_that_fails_midway_leaves_the_earlier_fit_intact(
    earlier, tiny_model, monkeypatch, tmp_path, fault, error
):
    vec, state, history, weights, embeddings = earlier
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(5)
    expected_draw = torch.rand(1)
    torch.manual_seed(5)
    FAULTS[fault](monkeypatch, error)
    with pytest.raises((type(error), OSError)):  # loading errors come back naming the folder
        vec.fit(PAIRS[::-1], SCORES[::-1])
    monkeypatch.undo()
    assert {k: v for k, v in vars(vec).items() if k.endswith("_")} == state
    assert all(getattr(vec, k) is v for k, v in state.items())
    assert vec.history_ == history
    assert all(torch.equal(vec.encoder_.state_dict()[k], w) for k, w in weights.items())
    np.testing.assert_array_equal(vec.transform(TEXTS), embeddings)
    assert torch.rand(1) == expected_draw
    assert list(tmp_path.iterdir()) == []


def test_a_non_finite_loss_leaves_the_earlier_fit_intact(earlier):
    vec, state, _, _, embeddings = earlier
    vec.set_params(learning_rate=1e10, warmup_ratio=0.0)
    try:
        with pytest.raises(FloatingPointError):
            vec.fit(PAIRS, SCORES)
    finally:
        vec.set_params(learning_rate=1e-3, warmup_ratio=0.1)
    assert all(getattr(vec, k) is v for k, v in state.items())
    np.testing.assert_array_equal(vec.transform(TEXTS), embeddings)


def listing(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_fit_writes_no_files(tiny_model, tmp_path, monkeypatch):
    cwd, temp = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    temp.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    model_files = listing(Path(tiny_model))
    vec = make(tiny_model, verbose=1).fit(PAIRS, SCORES)
    vec.transform(TEXTS)
    vec.score(PAIRS, SCORES)
    with pytest.raises(FloatingPointError):
        make(tiny_model, learning_rate=1e10, warmup_ratio=0.0).fit(PAIRS, SCORES)
    assert list(cwd.iterdir()) == [] and list(temp.iterdir()) == []
    assert listing(Path(tiny_model)) == model_files
