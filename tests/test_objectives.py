import numpy as np
import pytest

from skbert._inputs import check_target, check_texts
from skbert._objectives import data_kind, scale_scores, training_set

PARAMS = {"score_range": None, "pair_features": ("u", "v", "abs_diff"), "margin": None}


def plan(loss, X, y=None, **params):
    data = check_texts(X)
    target, kind = (None, None) if y is None else check_target(y, data.n_samples)
    return training_set(loss, data, target, kind, {**PARAMS, **params})


PAIRS = [("a", "b"), ("c", "d"), ("e", "f")]


@pytest.mark.parametrize(
    ("X", "y", "expected"),
    [
        (["a", "b"], None, None),
        (PAIRS, [0.5, 2.5, 5.0], "cosine"),
        (PAIRS, ["yes", "no", "yes"], "softmax"),
        ([("a", "p", "n")], None, "triplet"),
    ],
)
def test_auto_picks_the_objective_from_the_data(X, y, expected):
    assert plan("auto", X, y).loss == expected


def test_loss_given_the_wrong_data_names_expected_data_and_the_fitting_loss():
    with pytest.raises(ValueError, match=r"loss='softmax' trains on pairs with class labels.*use loss='cosine'"):
        plan("softmax", PAIRS, [0.5, 1.5, 2.5])
    with pytest.raises(ValueError, match=r"loss='triplet' trains on triplets.*use loss='softmax'"):
        plan("triplet", PAIRS, [0, 1, 0])


def test_scores_on_single_texts_are_rejected():
    with pytest.raises(ValueError, match="scores describe pairs"):
        plan("auto", ["a", "b"], [0.5, 1.5])


def test_triplets_with_y_are_rejected():
    with pytest.raises(ValueError, match="without y"):
        plan("auto", [("a", "p", "n")], [1])


def test_softmax_records_classes_and_encodes_targets():
    training = plan("softmax", PAIRS, ["yes", "no", "yes"])
    assert training.classes.tolist() == ["no", "yes"]
    assert training.target.tolist() == [1, 0, 1]


def test_softmax_with_one_class_is_rejected():
    with pytest.raises(ValueError, match="at least 2 classes"):
        plan("softmax", PAIRS, [1, 1, 1])


def test_cosine_accepts_integer_scores():
    assert plan("cosine", PAIRS, [0, 1, 1]).target.tolist() == [0.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("scores", "expected_range", "expected"),
    [
        ([0.0, 2.5, 5.0], (0.0, 5.0), [0.0, 0.5, 1.0]),  # STS 0-5
        ([1.0, 3.0, 5.0], (1.0, 5.0), [0.0, 0.5, 1.0]),  # SICK 1-5
        ([0.2, 0.4, 0.9], (0.0, 1.0), [0.2, 0.4, 0.9]),  # already on [0, 1]
    ],
)
def test_scores_on_any_scale_map_onto_unit_interval(scores, expected_range, expected):
    scaled, used = scale_scores(np.array(scores), None)
    assert used == expected_range
    np.testing.assert_allclose(scaled, expected, rtol=1e-6)


def test_explicit_score_range_is_used_and_enforced():
    scaled, _ = scale_scores(np.array([1.0, 3.0]), (0.0, 5.0))
    np.testing.assert_allclose(scaled, [0.2, 0.6], rtol=1e-6)
    with pytest.raises(ValueError, match=r"y\[1\] = 6.0 lies outside score_range"):
        scale_scores(np.array([1.0, 6.0]), (0.0, 5.0))


def test_constant_scores_are_rejected():
    with pytest.raises(ValueError, match="scores that vary"):
        scale_scores(np.array([3.0, 3.0]), None)


def test_data_kind_names():
    assert data_kind(check_texts(["a"]), "labels") == "labelled_texts"
    assert data_kind(check_texts(PAIRS), None) == "pairs"
