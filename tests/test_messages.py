"""Every warning a public entry point raises points at the user's line (this file)."""

import json
import pickle
import warnings

import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skbert import SBERTVectorizer, _precision
from skbert._messages import first_line, user_stacklevel, warn
from skbert._persistence import SKBERT_CONFIG
from tests.conftest import PAIRS, SCORES

LONG = "word " * 80


def raised_here(call):
    """Run ``call``; return the warnings it raised, each checked to point at this file."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    assert caught, "expected a warning"
    for w in caught:
        assert w.filename == __file__, (w.filename, w.lineno, str(w.message))
    return caught


def test_warn_skips_every_frame_inside_skbert():
    def inner():
        return user_stacklevel()

    assert inner() == 1  # a caller outside skbert is its own user
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn("here")
    assert caught[0].filename == __file__


def test_fit_warns_at_the_callers_line(tiny_model):
    vec = SBERTVectorizer(tiny_model, loss="cosine", margin=0.5, epochs=1, batch_size=4)
    caught = raised_here(lambda: vec.fit(PAIRS, SCORES))
    assert any("margin=0.5 has no effect" in str(w.message) for w in caught)


def test_fit_inside_a_pipeline_warns_at_the_line_calling_the_pipeline(tiny_model):
    vec = SBERTVectorizer(tiny_model, loss="cosine", margin=0.5, epochs=1, batch_size=4)
    pipe = make_pipeline(FunctionTransformer(lambda X: X), vec)
    raised_here(lambda: pipe.fit(PAIRS, SCORES))


def test_truncation_in_fit_and_transform_warns_at_the_callers_line(tiny_model):
    vec = SBERTVectorizer(tiny_model, loss="simcse", epochs=1, max_seq_length=8)
    raised_here(lambda: vec.fit([LONG, "short", LONG + "x", "tiny"]))
    raised_here(lambda: vec.transform([LONG + "y"]))


def test_a_slow_precision_warns_at_the_line_calling_transform(tiny_model, monkeypatch):
    monkeypatch.setattr(_precision, "_warned", set())
    monkeypatch.setattr(
        _precision, "slower_than_float32", lambda precision, device, backend: "scripted"
    )
    vec = SBERTVectorizer(tiny_model, precision="bfloat16").fit(["a", "b"])
    raised_here(lambda: vec.transform(["a text"]))


def test_score_warns_at_the_callers_line(tiny_model):
    vec = SBERTVectorizer(tiny_model).fit(["a"])
    caught = raised_here(lambda: vec.score([("a", "a"), ("b", "b")], [1.0, 2.0]))  # cos 1, 1
    assert "undefined" in str(caught[0].message)


def test_load_warns_at_the_callers_line(tiny_model, tmp_path):
    folder = SBERTVectorizer(tiny_model).fit(["a"]).save(tmp_path / "saved")
    config = json.loads((folder / SKBERT_CONFIG).read_text())
    config["params"]["future_option"] = 1
    (folder / SKBERT_CONFIG).write_text(json.dumps(config))
    raised_here(lambda: SBERTVectorizer.load(folder))


def test_unpickling_on_a_machine_without_the_device_warns_at_the_callers_line(tiny_model):
    vec = SBERTVectorizer(tiny_model).fit(["a"])
    state = vec._fitted.embedder.__getstate__()
    state["device"] = "cuda:7"
    embedder = vec._fitted.embedder.__class__.__new__(vec._fitted.embedder.__class__)
    raised_here(lambda: embedder.__setstate__(state))
    blob = pickle.dumps(vec)
    assert np.allclose(pickle.loads(blob).transform(["a"]), vec.transform(["a"]))


def test_first_line_names_the_type_and_the_first_line():
    assert first_line(ValueError("bad\nmore")) == "ValueError: bad"
    assert first_line(KeyError()) == "KeyError"
