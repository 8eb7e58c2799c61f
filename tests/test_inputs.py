import numpy as np
import pandas as pd
import pytest

from skbert._inputs import check_texts
from skbert._targets import check_target


@pytest.mark.parametrize(
    "X",
    [
        ["a", "b"],
        ("a", "b"),
        np.array(["a", "b"]),
        np.array(["a", "b"], dtype=object),
        pd.Series(["a", "b"], index=[7, 3]),
        (t for t in ["a", "b"]),
        np.array([["a"], ["b"]], dtype=object),
    ],
)
def test_texts_are_accepted_in_every_1d_container(X):
    data = check_texts(X)
    assert data.input_kind == "texts"
    assert data.columns == (["a", "b"],)


@pytest.mark.parametrize(
    "X",
    [
        [("a", "b"), ("c", "d")],
        [["a", "b"], ["c", "d"]],
        np.array([["a", "b"], ["c", "d"]]),
        pd.DataFrame({"s1": ["a", "c"], "s2": ["b", "d"]}),
    ],
)
def test_pairs_are_split_into_two_columns(X):
    data = check_texts(X)
    assert data.input_kind == "pairs"
    assert data.columns == (["a", "c"], ["b", "d"])


def test_triplets_are_three_columns():
    data = check_texts([("a", "p", "n"), ("b", "q", "m")])
    assert data.input_kind == "triplets"
    assert data.columns[2] == ["n", "m"]


def test_bare_string_is_rejected_like_sklearn_text_vectorizers():
    with pytest.raises(TypeError, match="Iterable over raw text documents expected"):
        check_texts("a sentence")


@pytest.mark.parametrize(
    ("X", "where"),
    [
        (["a", None], r"X\[1\] is None"),
        (["a", float("nan")], r"X\[1\] is nan"),
        ([3, "a"], r"X\[0\] is 3"),
    ],
)
def test_non_text_items_are_named_with_their_position(X, where):
    with pytest.raises(TypeError, match=where):
        check_texts(X)


def test_missing_member_of_a_pair_is_named():
    with pytest.raises(TypeError, match=r"X\[1\]\[1\] is None"):
        check_texts([("a", "b"), ("c", None)])


def test_rows_of_different_widths_are_rejected():
    with pytest.raises(ValueError, match=r"X\[1\] has 3 texts but X\[0\] has 2"):
        check_texts([("a", "b"), ("c", "d", "e")])


def test_rows_of_four_texts_are_rejected():
    with pytest.raises(ValueError, match="rows of 4 texts"):
        check_texts(np.array([["a", "b", "c", "d"]]))


def test_empty_input_is_rejected_unless_allowed():
    with pytest.raises(ValueError, match="X is empty"):
        check_texts([])
    assert check_texts([], allow_empty=True).n_samples == 0


@pytest.mark.parametrize("X", [{"a": 1}, {"a", "b"}])
def test_unordered_containers_are_rejected(X):
    with pytest.raises(TypeError, match="ordered sequence"):
        check_texts(X)


def test_float_scores_are_scores_and_ints_or_strings_are_labels():
    assert check_target([0.5, 4.2], 2)[1] == "scores"
    assert check_target([0, 1, 2], 3)[1] == "labels"
    assert check_target(["x", "y"], 2)[1] == "labels"
    assert check_target(pd.Series([1.5, 2.5]), 2)[1] == "scores"


def test_target_length_must_match_X():
    with pytest.raises(ValueError, match="X has 3 rows but y has 2"):
        check_target([1, 2], 3)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_targets_are_named(bad):
    with pytest.raises(ValueError, match=r"y\[1\]"):
        check_target([0.5, bad, 1.5], 3)


def test_missing_label_in_object_array_is_named():
    with pytest.raises(ValueError, match=r"y\[0\] is None"):
        check_target(np.array([None, "a"], dtype=object), 2)


def test_3d_target_is_rejected():
    with pytest.raises(ValueError, match=r"y must be 1-D .* or a label-set matrix"):
        check_target(np.zeros((2, 2, 2)), 2)
