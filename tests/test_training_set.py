import numpy as np
import pytest

from skbert._inputs import check_texts
from skbert._targets import check_target
from skbert._training_set import scale_scores, training_set
from skbert.pairs import encode_labels

PAIRS = [("a", "b"), ("c", "d"), ("e", "f")]
TEXTS = [f"text {i}" for i in range(12)]
LABELS = ["x", "y", "z"] * 4


def make(objective, X, y=None, **kwargs):
    target = None if y is None else check_target(y, len(X))[0]
    return training_set(objective, check_texts(X), target, **kwargs)


def test_pairs_index_one_pool_of_texts_column_after_column():
    training = make("mnrl", PAIRS)
    assert training.texts == ["a", "c", "e", "b", "d", "f"]
    assert training.index.tolist() == [[0, 3], [1, 4], [2, 5]]


def test_softmax_records_classes_and_encodes_targets():
    training = make("softmax", PAIRS, ["yes", "no", "yes"])
    assert training.classes.tolist() == ["no", "yes"]
    assert training.target.tolist() == [1, 0, 1]


def test_held_out_labels_are_encoded_with_the_training_classes():
    training = make("softmax", PAIRS, ["yes", "no", "yes"])
    held = make("softmax", PAIRS[:1], ["yes"], classes=training.classes)
    assert held.target.tolist() == [1]
    with pytest.raises(ValueError, match=r"y\[0\] = 'maybe' is not among the training classes"):
        make("softmax", PAIRS[:1], ["maybe"], classes=training.classes)


def test_softmax_with_one_class_is_rejected():
    with pytest.raises(ValueError, match="at least 2 classes in y, got only 1"):
        make("softmax", PAIRS, [1, 1, 1])


@pytest.mark.parametrize("objective", ["cosine", "cosent"])
def test_score_objectives_accept_integer_scores(objective):
    assert make(objective, PAIRS, [0, 1, 1]).target.tolist() == [0.0, 1.0, 1.0]


@pytest.mark.parametrize("objective", ["contrastive", "online_contrastive"])
def test_contrastive_on_labelled_pairs_needs_0_1_labels(objective):
    assert make(objective, PAIRS, [1, 0, 1]).target.tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match=r"needs y in \{0, 1\}.*map your labels to 0/1"):
        make(objective, PAIRS, ["same", "other", "same"])


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
    with pytest.raises(ValueError, match=r"y\[1\] = 7.0 lies outside score_range"):
        scale_scores(np.array([1.0, 7.0]), (0.0, 5.0))


def test_constant_scores_are_rejected():
    with pytest.raises(ValueError, match="scores that vary"):
        scale_scores(np.array([3.0, 3.0]), None)


def test_simcse_puts_each_text_twice_in_the_same_row():
    training = make("simcse", ["b", "a", "b"])
    assert training.index.tolist() == [[0, 0], [1, 1], [2, 2]]  # duplicates are kept
    assert training.target is None
    labelled = make("simcse", TEXTS, LABELS)
    assert labelled.target.tolist() == [0, 1, 2] * 4  # masks same-class negatives


def test_labelled_texts_keep_class_codes_to_draw_rows_from():
    training = make("contrastive", TEXTS, LABELS)
    assert training.labels.tolist() == [0, 1, 2] * 4 and training.index is None
    assert training.n_rows == 12


def test_single_example_classes_warn_and_one_class_is_an_error():
    with pytest.warns(UserWarning, match=r"y has 1 class with a single example \('w'\)"):
        make("contrastive", [*TEXTS, "lonely"], [*LABELS, "w"])
    with pytest.raises(ValueError, match="y holds a single class"):
        make("batch_hard_triplet", TEXTS, ["x"] * 12)


def test_label_encoding_is_sorted_and_rejects_unsortable_mixes():
    classes, codes = encode_labels(["b", "a", "b"])
    assert classes.tolist() == ["a", "b"] and codes.tolist() == [1, 0, 1]
    with pytest.raises(TypeError, match="cannot be sorted"):
        encode_labels(np.array(["a", 1, None], dtype=object))
