"""The scikit-learn contract: checks, cloning, searches, pipelines, output containers."""

import numpy as np
import pandas as pd
import pytest
from sklearn import config_context
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks as checks
from sklearn.utils._param_validation import InvalidParameterError

from skbert import SBERTVectorizer
from tests.conftest import PAIRS, SCORES

TEXTS = ["a man plays the guitar", "a dog runs fast", "what is the answer", "a cat eats food"]

DATA_FREE_CHECKS = [
    checks.check_no_attributes_set_in_init,
    checks.check_get_params_invariance,
    checks.check_set_params,
    checks.check_mixin_order,
    checks.check_parameters_default_constructible,
    checks.check_estimator_cloneable,
    checks.check_estimator_repr,
    checks.check_do_not_raise_errors_in_init_or_set_params,
    checks.check_param_validation,
    checks.check_valid_tag_types,
    checks.check_estimator_tags_renamed,
    checks.check_transformers_unfitted,
    checks.check_estimators_unfitted,
]


@pytest.mark.parametrize("check", DATA_FREE_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_data_free_checks(check):
    # Each check raises (AssertionError or the error it expected and missed) on a violation.
    estimator = SBERTVectorizer()
    check("SBERTVectorizer", estimator)
    assert estimator.get_params() == SBERTVectorizer().get_params()  # the check changed none


def test_tags_declare_string_input():
    tags = SBERTVectorizer().__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array
    assert not tags.target_tags.required


@pytest.mark.parametrize(
    ("param", "value", "allowed"),
    [
        ("loss", "hinge", "softmax"),
        ("pooling", "sum", "mean"),
        ("epochs", -1, "range"),
        ("batch_size", 0, "range"),
        ("learning_rate", 0.0, "range"),
        ("normalize", "yes", "auto"),
    ],
)
def test_bad_parameters_raise_invalid_parameter_error_naming_allowed_values(param, value, allowed):
    with pytest.raises(InvalidParameterError, match=f"'{param}' parameter.*{allowed}"):
        SBERTVectorizer(**{param: value}).fit(TEXTS)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"pair_features": ("u", "w")}, "pair_features="),
        ({"pair_features": ()}, "pair_features="),
        ({"score_range": (5, 0)}, "score_range="),
        ({"device": "gpu0"}, "device='gpu0' is not a torch device"),
    ],
)
def test_bad_parameter_contents_are_value_errors(params, match):
    with pytest.raises(ValueError, match=match):
        SBERTVectorizer(**params).fit(TEXTS)


def test_clone_gives_an_unfitted_copy_with_the_same_params(tiny_model):
    vec = SBERTVectorizer(tiny_model, pooling="max", random_state=3).fit(TEXTS)
    copy = clone(vec)
    assert copy.get_params() == vec.get_params()
    assert not hasattr(copy, "encoder_")


def test_feature_names_for_texts_and_pairs(tiny_model):
    names = SBERTVectorizer(tiny_model).fit(TEXTS).get_feature_names_out()
    assert names[0] == "sbertvectorizer0" and len(names) == 32
    pair_names = SBERTVectorizer(tiny_model, epochs=0).fit(PAIRS, SCORES).get_feature_names_out()
    assert len(pair_names) == 96 and pair_names[64] == "sbertvectorizer_abs_diff0"


def test_set_output_pandas_keeps_the_index(tiny_model):
    vec = SBERTVectorizer(tiny_model).set_output(transform="pandas")
    X = pd.Series(TEXTS, index=[10, 11, 12, 13])
    frame = vec.fit(X).transform(X)
    assert isinstance(frame, pd.DataFrame)
    assert frame.index.tolist() == [10, 11, 12, 13] and frame.columns[0] == "sbertvectorizer0"


def test_named_columns_for_texts_from_a_pair_fitted_vectorizer_are_refused(tiny_model):
    vec = SBERTVectorizer(tiny_model, epochs=0).fit(PAIRS, SCORES)
    with config_context(transform_output="pandas"):
        assert vec.transform(PAIRS).shape == (len(PAIRS), 96)
        with pytest.raises(ValueError, match=r"fitted on pairs.*96 pair-feature columns.*32 col"):
            vec.transform(TEXTS)
        assert vec.set_output(transform="default").transform(TEXTS).shape == (len(TEXTS), 32)
    vec.set_output(transform="pandas")
    with pytest.raises(ValueError, match="set_output"):
        vec.transform(TEXTS)


def test_pipeline_into_logistic_regression_on_pairs(tiny_model):
    pipe = make_pipeline(
        SBERTVectorizer(tiny_model, loss="softmax", batch_size=4, random_state=0),
        LogisticRegression(max_iter=500),
    )
    labels = ["near", "far"] * 4
    pipe.fit(PAIRS, labels)
    assert pipe[-1].coef_.shape == (1, 96)
    features = pipe[0].transform(PAIRS)
    np.testing.assert_array_equal(pipe.predict(PAIRS), pipe[-1].predict(features))
    assert pipe[0].plan_.data_kind == "labelled_pairs" and pipe[0].plan_.n_train == 8


def test_grid_search_ranks_pooling_and_loss_with_the_builtin_score(tiny_model):
    X = PAIRS * 3
    y = np.tile(SCORES, 3)
    search = GridSearchCV(
        SBERTVectorizer(tiny_model, batch_size=4, random_state=0),
        {"pooling": ["mean", "max", "cls"], "loss": ["cosine"]},
        cv=2,
    )
    search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (3,) and np.isfinite(scores).all()
    assert search.best_params_ == search.cv_results_["params"][int(np.argmax(scores))]
    assert search.best_estimator_.pooling_ == search.best_params_["pooling"]
    assert search.best_score_ == scores.max()


QUESTIONS = [
    "what is the answer", "what is the question", "what is a number", "what is the name",
    "who is the man", "who is the woman", "who is the person", "who was the man",
    "where is the city", "where is the country", "where is the car", "where was the dog",
    "how fast is the car", "how happy is the cat", "how good is the food", "how sad is the dog",
]  # fmt: skip
KINDS = ["what"] * 4 + ["who"] * 4 + ["where"] * 4 + ["how"] * 4


def test_pipeline_fits_the_vectorizer_on_texts_and_their_labels(tiny_model):
    pipe = make_pipeline(
        SBERTVectorizer(tiny_model, batch_size=8, pairs_per_text=4, random_state=0),
        LogisticRegression(max_iter=500),
    )
    pipe.fit(QUESTIONS, KINDS)
    assert pipe[0].loss_ == "mnrl" and pipe[0].history_
    assert pipe[-1].coef_.shape == (4, 32)
    features = pipe[0].transform(QUESTIONS)
    np.testing.assert_array_equal(pipe.predict(QUESTIONS), pipe[-1].predict(features))
    assert pipe[0].plan_.data_kind == "labelled_texts" and pipe[0].plan_.n_train == 16


def test_grid_search_over_loss_and_pooling_on_labelled_texts(tiny_model):
    pipe = make_pipeline(
        SBERTVectorizer(tiny_model, batch_size=8, pairs_per_text=2, random_state=0),
        LogisticRegression(max_iter=500),
    )
    grid = {
        "sbertvectorizer__loss": ["contrastive", "batch_hard_triplet", "mnrl"],
        "sbertvectorizer__pooling": ["mean", "max", "cls"],
    }
    search = GridSearchCV(pipe, grid, cv=2, error_score="raise").fit(QUESTIONS, KINDS)
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (9,) and np.isfinite(scores).all()
    assert search.best_params_ == search.cv_results_["params"][int(np.argmax(scores))]
    assert search.best_estimator_[0].loss_ == search.best_params_["sbertvectorizer__loss"]
    assert search.best_estimator_[0].pooling_ == search.best_params_["sbertvectorizer__pooling"]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("pairs_per_text", 1),
        ("positive_fraction", 1.0),
        ("texts_per_class", 1),
        ("validation_fraction", 0.0),
        ("n_iter_no_change", 0),
        ("truncate_dim", 0),
        ("scale", 0.0),
        ("loss", "arcface"),
    ],
)
def test_new_parameters_are_range_checked(param, value):
    with pytest.raises(InvalidParameterError, match=f"'{param}' parameter"):
        SBERTVectorizer(**{param: value}).fit(TEXTS)


@pytest.mark.parametrize("dims", [(), (8, 8), (0,), (8.5,)])
def test_bad_matryoshka_dims_are_value_errors(dims):
    with pytest.raises(ValueError, match="matryoshka_dims="):
        SBERTVectorizer(matryoshka_dims=dims).fit(TEXTS)
