"""Bad input gets a clear error before any heavy work; odd but valid input works.

The catalogue below is the one in docs/reliability.md: every entry is fitted against a model
path that does not exist, so each error is proven to come before the model is loaded.
"""

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sklearn.utils._param_validation import InvalidParameterError

from skbert import SBERTVectorizer
from tests.conftest import PAIRS, SCORES

NO_MODEL = "/no/such/model/folder"
TEXTS = ["a man plays the guitar", "a dog runs fast", "what is the answer", "a cat eats food"]
TRIPLETS = [("a dog", "a dog runs", "a car"), ("a cat", "a cat eats", "the city")]
LABELS = ["near", "far"] * 4

# (X, y, params, error type, pattern the message must match)
FIT_CATALOGUE = {
    "none_text": (["a", None], None, {}, TypeError, r"X\[1\] is None .*fillna"),
    "nan_text": (["a", float("nan")], None, {}, TypeError, r"X\[1\] is nan .*fillna"),
    "pandas_na_text": (
        pd.Series(["a", None], dtype="string"),
        None,
        {},
        TypeError,
        r"X\[1\] is <NA>.*fillna",
    ),
    "number_text": ([3, "a"], None, {}, TypeError, r"X\[0\] is 3 .*str\(\)"),
    "bytes_text": ([b"a"], None, {}, TypeError, r"X\[0\] is b'a' .*decode"),
    "lone_surrogate": (["a", "b\ud800"], None, {}, ValueError, r"X\[1\] holds '\\ud800'.*repair"),
    "bare_string": ("a text", None, {}, TypeError, r"Iterable over raw text.*X=\[text\]"),
    "mapping": ({"a": 1}, None, {}, TypeError, r"ordered sequence.*list"),
    "sparse": (scipy.sparse.eye(2), None, {}, TypeError, r"X is a sparse matrix"),
    "empty": ([], None, {}, ValueError, r"X is empty"),
    "text_then_row": (["a", ("b", "c")], None, {}, TypeError, r"X\[1\] is .*same form"),
    "row_then_text": ([("a", "b"), "c"], None, {}, TypeError, r"X\[1\] is 'c'.*same form"),
    "2d_wrong_width": (np.array([["a", "b", "c", "d"]]), None, {}, ValueError, r"rows of 4"),
    "3d": (np.full((1, 2, 2), "a"), None, {}, ValueError, r"X has 3 dimensions"),
    "ragged_pairs": ([("a", "b"), ("c",)], [1, 0], {}, ValueError, r"X\[1\] has 1 texts.*2"),
    "pair_missing_member": ([*PAIRS[:1], ("c", None)], [0, 1], {}, TypeError, r"X\[1\]\[1\]"),
    "triplet_missing_member": (
        [("a", "p", np.nan)],
        None,
        {},
        TypeError,
        r"X\[0\]\[2\] is nan",
    ),
    "length_mismatch": (PAIRS, SCORES[:7], {}, ValueError, r"X has 8 rows but y has 7"),
    "nan_score": (PAIRS, [*SCORES[:2], np.nan, *SCORES[3:]], {}, ValueError, r"y\[2\] is nan"),
    "inf_score": (PAIRS, [*SCORES[:3], np.inf, *SCORES[4:]], {}, ValueError, r"y\[3\] is inf"),
    "none_label": (PAIRS, ["a", None] * 4, {}, ValueError, r"y\[1\] is None.*fill"),
    "2d_y": (PAIRS, np.ones((8, 2)), {}, ValueError, r"fit got pairs with a label-set matrix"),
    "column_y": (PAIRS, np.ones((8, 1)), {}, ValueError, r"y must be 1-D"),
    "scalar_y": (PAIRS, 3.0, {}, TypeError, r"y must be an array-like"),
    "float_labels_for_softmax": (
        PAIRS,
        SCORES,
        {"loss": "softmax"},
        ValueError,
        r"loss='softmax' trains on pairs with class labels, but y\[0\] = 4.5 is a real-valued"
        r".*np.digitize.*loss='cosine'",
    ),
    "score_outside_range": (
        PAIRS,
        SCORES,
        {"score_range": (0, 4)},
        ValueError,
        r"y\[0\] = 4.5 lies outside score_range=\(0, 4\).*widen",
    ),
    "constant_scores": (PAIRS, [2.5] * 8, {"loss": "cosine"}, ValueError, r"y equal 2.5.*vary"),
    "one_class": (PAIRS, ["a"] * 8, {"loss": "softmax"}, ValueError, r"2 classes in y.*'a'"),
    "unsortable_labels": (
        PAIRS,
        np.array(["a", 1] * 4, dtype=object),
        {"loss": "softmax"},
        TypeError,
        r"y mixes label types.*astype\(str\)",
    ),
    "loss_wrong_data": (
        PAIRS,
        SCORES,
        {"loss": "triplet"},
        ValueError,
        r"loss='triplet' trains on triplets.*use loss='cosine'",
    ),
    "loss_without_labels": (
        TEXTS,
        None,
        {"loss": "cosine"},
        ValueError,
        r"loss='cosine' trains on pairs with real-valued scores or texts with class labels or "
        r"texts with label sets or texts with real-valued targets, but fit got texts without "
        r"labels. For texts without labels, use loss='simcse'",
    ),
    "label_set_of_2s": (
        TEXTS,
        [[0, 2], [1, 0], [0, 1], [1, 1]],
        {},
        ValueError,
        r"y\[0, 1\] = 2; a matrix target is a label-set indicator.*MultiLabelBinarizer",
    ),
    "several_real_targets": (
        TEXTS,
        [[0.5, 0.1]] * 4,
        {},
        ValueError,
        r"y\[0, 0\] = 0.5.*pass one column, y\[:, j\]",
    ),
    "label_set_with_nan": (
        TEXTS,
        [[0, np.nan], [1, 0], [0, 1], [1, 1]],
        {},
        ValueError,
        r"y\[0, 1\] is nan.*fill the missing cells",
    ),
    "label_sets_without_a_1": (TEXTS, np.zeros((4, 3)), {}, ValueError, r"no 1 anywhere"),
    "same_label_set_everywhere": (
        TEXTS,
        [[1, 0]] * 4,
        {},
        ValueError,
        r"Every row of y has the same label set",
    ),
    "label_sets_of_pairs": (
        PAIRS,
        np.eye(2)[[0, 1] * 4],
        {},
        ValueError,
        r"fit got pairs with a label-set matrix y",
    ),
    "constant_target": (TEXTS, [0.5] * 4, {}, ValueError, r"Every target in y equals 0.5"),
    "inf_target": (TEXTS, [0.5, np.inf, 0.2, 0.1], {}, ValueError, r"y\[1\] is inf"),
    "scores_for_a_label_objective_on_texts": (
        TEXTS,
        [0.5, 1.5, 2.5, 3.5],
        {"loss": "mnrl"},
        ValueError,
        r"loss='mnrl' trains on .* but fit got texts with real-valued targets.*loss='cosent'",
    ),
    "unlabelled_marker_absent": (
        TEXTS,
        [0, 1, 0, 1],
        {"unlabelled": -1},
        ValueError,
        r"unlabelled=-1 never occurs in y \(its values include 0, 1\)",
    ),
    "unlabelled_marker_with_label_sets": (
        TEXTS,
        [[0, 1], [1, 0]] * 2,
        {"unlabelled": -1},
        ValueError,
        r"unlabelled=-1 marks rows of class labels",
    ),
    "triplets_with_y": (TRIPLETS, [0, 1], {}, ValueError, r"triplets with y.*fit\(X\)"),
    "unknown_loss": (PAIRS, SCORES, {"loss": "hinge"}, InvalidParameterError, r"'loss'"),
    "unknown_pooling": (TEXTS, None, {"pooling": "sum"}, InvalidParameterError, r"'pooling'"),
    "bad_batch_size": (TEXTS, None, {"batch_size": 0}, InvalidParameterError, r"'batch_size'"),
    "bad_pair_part": (TEXTS, None, {"pair_features": ("u", "w")}, ValueError, r"pair_features="),
    "bad_score_range": (PAIRS, SCORES, {"score_range": (5, 0)}, ValueError, r"score_range="),
    "bad_device": (TEXTS, None, {"device": "gpu0"}, ValueError, r"device='gpu0'"),
}


@pytest.mark.parametrize("case", FIT_CATALOGUE, ids=str)
def test_bad_fit_input_is_named_before_the_model_is_loaded(case):
    X, y, params, error, pattern = FIT_CATALOGUE[case]
    with pytest.raises(error, match=pattern):
        SBERTVectorizer(NO_MODEL, **params).fit(X, y)


def test_the_catalogue_would_notice_a_model_load():
    with pytest.raises(OSError, match="Could not find the model"):
        SBERTVectorizer(NO_MODEL).fit(TEXTS)


@pytest.fixture(scope="module")
def text_vec(tiny_model):
    return SBERTVectorizer(tiny_model, batch_size=4).fit(TEXTS)


@pytest.fixture(scope="module")
def pair_vec(tiny_model):
    return SBERTVectorizer(tiny_model, batch_size=4, epochs=0).fit(PAIRS, SCORES)


TRANSFORM_CATALOGUE = {
    "bare_string": ("a dog", TypeError, r"Iterable over raw text"),
    "none_text": (["a", None], TypeError, r"X\[1\] is None"),
    "pair_missing_member": ([("a", "b"), (None, "c")], TypeError, r"X\[1\]\[0\] is None"),
    "triplets": (TRIPLETS, ValueError, r"texts or pairs, got triplets in X"),
    "lone_surrogate": (["\udfff"], ValueError, r"X\[0\] holds"),
}


@pytest.mark.parametrize("case", TRANSFORM_CATALOGUE, ids=str)
def test_bad_transform_input_is_named(text_vec, case):
    X, error, pattern = TRANSFORM_CATALOGUE[case]
    with pytest.raises(error, match=pattern):
        text_vec.transform(X)


SCORE_CATALOGUE = {
    "texts": (TEXTS, [1.0, 2.0, 3.0, 4.0], ValueError, r"score needs pairs"),
    "string_scores": (PAIRS, LABELS, TypeError, r"y must hold one numeric .*y\[0\] is 'near'"),
    "constant_scores": (PAIRS, [1.0] * 8, ValueError, r"Every score in y equals 1.0"),
    "one_pair": (PAIRS[:1], [1.0], ValueError, r"Every score in y"),
    "nan_score": (PAIRS, [np.nan, *SCORES[1:]], ValueError, r"y\[0\] is nan"),
    "length_mismatch": (PAIRS, SCORES[:3], ValueError, r"X has 8 rows but y has 3"),
}


@pytest.mark.parametrize("case", SCORE_CATALOGUE, ids=str)
def test_bad_score_input_is_named(text_vec, case):
    X, y, error, pattern = SCORE_CATALOGUE[case]
    with pytest.raises(error, match=pattern):
        text_vec.score(X, y)


ODD_TEXTS = [
    "",
    " ",
    "\t\n\r",
    "a dog " * 5000,  # far beyond max_seq_length: truncated
    "🙂🎉👍🏽",
    "漢字かなカナ한국어",
    "\x00\x07\x1b[31m\u200b\ufeff",
    "ÀÉÎõü ß",
    "a dog",
    "a dog",
]


def test_odd_but_valid_texts_embed_to_finite_rows(text_vec):
    E = text_vec.transform(ODD_TEXTS)
    assert E.shape == (len(ODD_TEXTS), 32) and E.dtype == np.float32
    assert np.isfinite(E).all()
    np.testing.assert_array_equal(E[-1], E[-2])


def test_one_row_input_matches_its_row_in_a_batch(text_vec):
    np.testing.assert_allclose(
        text_vec.transform(ODD_TEXTS[4:5]), text_vec.transform(ODD_TEXTS)[4:5], atol=1e-5
    )


def test_empty_transform_has_the_fitted_width(text_vec, pair_vec):
    assert text_vec.transform([]).shape == (0, 32)
    assert text_vec.transform(np.array([], dtype=object)).shape == (0, 32)
    assert pair_vec.transform([]).shape == (0, 96)


def test_odd_texts_train_to_finite_losses(tiny_model):
    odd_pairs = list(zip(ODD_TEXTS[:5], ODD_TEXTS[5:], strict=True))
    vec = SBERTVectorizer(tiny_model, loss="cosine", batch_size=2, epochs=2, random_state=0)
    vec.fit(odd_pairs + odd_pairs, [0.0, 1.0, 2.0, 3.0, 4.0] * 2)
    assert all(math.isfinite(r["loss"]) for r in vec.history_)
    assert np.isfinite(vec.transform(ODD_TEXTS)).all()


def test_one_row_fits(tiny_model):
    assert SBERTVectorizer(tiny_model).fit(["a dog"]).transform(["a dog"]).shape == (1, 32)
    vec = SBERTVectorizer(tiny_model, loss="cosine", score_range=(0, 5), random_state=0)
    assert len(vec.fit(PAIRS[:1], [4.0]).history_) == 1


def test_softmax_accepts_a_class_with_a_single_example(tiny_model):
    vec = SBERTVectorizer(tiny_model, loss="softmax", batch_size=4, random_state=0)
    vec.fit(PAIRS, ["a", "b", "a", "b", "a", "b", "a", "rare"])
    assert vec.classes_.tolist() == ["a", "b", "rare"]


def test_score_of_identical_similarities_is_zero_with_a_warning(text_vec):
    with pytest.warns(UserWarning, match="same cosine similarity"):
        assert text_vec.score([("a", "a"), ("b", "b")], [0.0, 5.0]) == 0.0


# -- property-based: random mixtures of valid and invalid input ------------------------------
# Each strategy mixes well-formed data with every kind of damage, so a run sees both the
# errors and the successful path (--hypothesis-show-statistics prints the outcome counts).

NAMES_AN_ARGUMENT = re.compile(r"\b(X|y|loss|score_range)\b|Iterable over raw text")
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=12)  # surrogates too
TEXT = st.one_of(st.text(max_size=40), st.sampled_from(["", " ", "a dog runs", "🙂", "漢字"]))
BAD_ITEM = st.one_of(
    ANY_TEXT,
    st.none(),
    st.floats(),
    st.integers(),
    st.binary(max_size=3),
    st.tuples(ANY_TEXT, st.none()),
)
LABEL = st.one_of(st.floats(0, 5), st.integers(0, 2), st.sampled_from(["a", "b"]))
BAD_LABEL = st.one_of(st.floats(), st.none(), st.just(float("nan")), st.text(max_size=2))


@st.composite
def texts_pairs_or_triplets(draw, n: int, widths: tuple[int, ...]) -> list:
    width = draw(st.sampled_from(widths))
    rows = [draw(st.tuples(*[TEXT] * width)) for _ in range(n)]
    if width == 1:
        rows = [row[0] for row in rows]
    if draw(st.booleans()):  # damage one row
        rows[draw(st.integers(0, n - 1))] = draw(st.one_of(BAD_ITEM, st.tuples(TEXT)))
    return rows


@st.composite
def x_and_y(draw, widths: tuple[int, ...] = (1, 2, 2, 3)) -> tuple:
    n = draw(st.integers(1, 6))
    valid_x = texts_pairs_or_triplets(n, widths)
    X = draw(st.one_of(valid_x, ANY_TEXT, st.lists(BAD_ITEM, max_size=3)))
    scores = st.lists(st.floats(0, 5), min_size=n, max_size=n, unique=True)
    y = draw(
        st.one_of(
            scores,
            st.lists(LABEL, min_size=n, max_size=n),
            st.none(),
            st.lists(st.one_of(LABEL, BAD_LABEL), min_size=1, max_size=n + 1),
        )
    )
    return X, y


@st.composite
def training_data(draw) -> tuple:
    """Data of one kind with the ``y`` that kind takes, then maybe damaged, and a loss."""
    n = draw(st.integers(2, 6))
    kind = draw(st.sampled_from(["texts", "scored_pairs", "labelled_pairs", "triplets"]))
    width = {"texts": 1, "triplets": 3}.get(kind, 2)
    X = draw(texts_pairs_or_triplets(n, (width,)))
    y = {
        "scored_pairs": st.lists(st.floats(0, 5), min_size=n, max_size=n, unique=True),
        "labelled_pairs": st.lists(st.sampled_from(["a", "b", 7]), min_size=n, max_size=n),
    }.get(kind, st.none())
    y = draw(st.one_of(y, st.lists(st.one_of(LABEL, BAD_LABEL), min_size=1, max_size=n + 1)))
    loss = draw(st.sampled_from(["auto", "cosine", "softmax", "triplet"]))
    return X, y, loss


PROPERTY = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def documented(error: Exception) -> bool:
    event(f"error: {type(error).__name__}")  # --hypothesis-show-statistics counts outcomes
    return isinstance(error, (TypeError, ValueError)) and bool(
        NAMES_AN_ARGUMENT.search(str(error))
    )


@PROPERTY
@given(data=x_and_y())
def test_transform_gives_a_documented_error_or_finite_rows(text_vec, data):
    X, _ = data
    try:
        E = text_vec.transform(X)
    except Exception as error:
        assert documented(error), repr(error)
        return
    event("finite rows")
    width = 96 if len(X) and isinstance(X[0], tuple) and len(X[0]) == 2 else 32
    assert E.shape == (len(X), width) and np.isfinite(E).all()


@PROPERTY
@given(data=x_and_y(widths=(2,)))
def test_score_gives_a_documented_error_or_a_correlation(text_vec, data):
    X, y = data
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # identical similarities: 0.0
            rho = text_vec.score(X, y)
    except Exception as error:
        assert documented(error), repr(error)
        return
    event("correlation")
    assert -1.0 <= rho <= 1.0


@settings(PROPERTY, max_examples=15)
@given(data=training_data())
def test_fit_gives_a_documented_error_or_a_working_vectorizer(tiny_model, data):
    X, y, loss = data
    vec = SBERTVectorizer(tiny_model, loss=loss, batch_size=4, random_state=0)
    try:
        vec.fit(X, y)
    except Exception as error:
        assert documented(error), repr(error)
        return
    event(f"fitted with loss_={vec.loss_}")
    assert all(math.isfinite(r["loss"]) for r in vec.history_)
    assert np.isfinite(vec.transform(["a dog", ""])).all()


# -- the documented messages are the ones raised ---------------------------------------------

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
EXTRA_CALLS = {  # documented errors outside the catalogues above: (callable, error type)
    "unavailable_device": (
        lambda: SBERTVectorizer(NO_MODEL, device="cuda").fit(TEXTS),
        ValueError,
    ),
}


def documented_messages() -> list[str]:
    """The shortened messages of the bad-input tables, without backticks."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text[text.index("## Bad input") : text.index("### Odd but valid input")]
    rows = re.findall(r"^\|.*\| `[A-Za-z]*Error` \| `(.+)` \|$", section, flags=re.MULTILINE)
    return [row.replace("`", "") for row in rows]


def raised_messages(text_vec, pair_vec) -> list[str]:
    calls = [
        (lambda c=c: SBERTVectorizer(NO_MODEL, **c[2]).fit(c[0], c[1]), c[3])
        for c in FIT_CATALOGUE.values()
    ]
    calls += [(lambda c=c: text_vec.transform(c[0]), c[1]) for c in TRANSFORM_CATALOGUE.values()]
    calls += [(lambda c=c: pair_vec.score(c[0], c[1]), c[2]) for c in SCORE_CATALOGUE.values()]
    if not torch.cuda.is_available():
        calls += EXTRA_CALLS.values()
    messages = []
    for call, error in calls:
        with pytest.raises(error) as info:
            call()
        messages.append(str(info.value).replace("`", ""))
    return messages


def test_every_documented_message_is_one_the_code_raises(text_vec, pair_vec):
    raised = raised_messages(text_vec, pair_vec)
    documented = documented_messages()
    assert len(documented) >= 30
    for message in documented:
        pieces = [p.strip(" .;") for p in message.split("...") if p.strip(" .;")]
        assert any(all(p in r for p in pieces) for r in raised), message
