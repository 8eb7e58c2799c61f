import numpy as np
import pytest

from skbert.pairs import (
    anchor_positive_pairs,
    check_classes,
    class_batches,
    label_pairs,
    label_triplets,
)

Y = np.array(["a"] * 8 + ["b"] * 8 + ["c"] * 8)


def test_every_text_anchors_its_budget_split_by_positive_fraction():
    left, right, same = label_pairs(Y, per_text=10, positive_fraction=0.3, random_state=0)
    assert len(left) == 24 * 10
    assert np.bincount(left).tolist() == [10] * 24
    assert np.bincount(left[same]).tolist() == [3] * 24  # round(10 * 0.3)
    assert (Y[left[same]] == Y[right[same]]).all()
    assert (Y[left[~same]] != Y[right[~same]]).all()
    assert (left != right).all()


def test_positive_count_is_at_least_one_and_leaves_one_negative():
    _, _, same = label_pairs(Y, per_text=2, positive_fraction=0.01, random_state=0)
    assert same.sum() == 24
    _, _, same = label_pairs(Y, per_text=2, positive_fraction=0.99, random_state=0)
    assert same.sum() == 24


def test_partners_do_not_repeat_until_the_class_runs_out():
    left, right, same = label_pairs(Y, per_text=14, positive_fraction=0.5, random_state=1)
    for anchor in range(24):
        partners = right[(left == anchor) & same]
        # 7 classmates, 7 positives asked: each exactly once
        assert sorted(partners.tolist()) == sorted(set(np.flatnonzero(Y[anchor] == Y)) - {anchor})


def test_partners_cycle_evenly_when_the_budget_exceeds_the_class():
    y = np.array([0, 0, 0, 1, 1, 1])
    left, right, same = label_pairs(y, per_text=10, positive_fraction=0.5, random_state=2)
    for anchor in range(6):
        counts = np.bincount(right[(left == anchor) & same], minlength=6)
        classmates = counts[np.flatnonzero(y == y[anchor])]
        # 5 positives over 2 classmates: 3 and 2, never 4 and 1; none with itself
        assert sorted(classmates.tolist()) == [0, 2, 3]


def test_same_seed_same_pairs_other_seed_other_pairs():
    first = label_pairs(Y, per_text=6, random_state=7)
    again = label_pairs(Y, per_text=6, random_state=7)
    other = label_pairs(Y, per_text=6, random_state=8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[1], other[1])


def test_generator_is_used_as_given():
    rng = np.random.default_rng(3)
    first = label_pairs(Y, per_text=4, random_state=rng)
    second = label_pairs(Y, per_text=4, random_state=rng)
    assert not np.array_equal(first[1], second[1])  # the generator moved on


def test_imbalanced_classes_get_the_same_pairs_per_text():
    y = np.array([0] * 40 + [1] * 3)
    left, _, same = label_pairs(y, per_text=8, random_state=0)
    assert np.bincount(left).tolist() == [8] * 43
    minority = np.isin(left, [40, 41, 42])
    assert same[minority].sum() == 3 * 4  # as many positives per text as the majority


def test_single_example_class_anchors_only_negatives_but_serves_as_negative():
    y = np.array(["a", "a", "a", "b", "b", "b", "z"])
    left, right, same = label_pairs(y, per_text=4, random_state=0)
    assert not same[left == 6].any() and (left == 6).sum() == 2
    assert (right == 6).any()
    anchors, positives, _ = label_triplets(y, per_text=4, random_state=0)
    assert 6 not in anchors and 6 not in positives
    anchors, positives = anchor_positive_pairs(y, per_text=4, random_state=0)
    assert 6 not in anchors and 6 not in positives


def test_one_class_only_is_an_error_naming_y_and_the_fix():
    with pytest.raises(ValueError, match=r"y holds a single class \('a'\).*at least 2 classes"):
        label_pairs(["a", "a", "a"])
    with pytest.raises(ValueError, match="single class"):
        anchor_positive_pairs(["a", "a"])


def test_no_class_with_two_examples_is_an_error():
    with pytest.raises(ValueError, match="Every class in y has a single example"):
        label_triplets(["a", "b", "c"])


def test_bad_budget_and_fraction_are_errors():
    with pytest.raises(ValueError, match="per_text=1 must be at least 2"):
        label_pairs(Y, per_text=1)
    with pytest.raises(ValueError, match=r"positive_fraction=1\.0"):
        label_pairs(Y, positive_fraction=1.0)
    with pytest.raises(ValueError, match="per_text=0"):
        label_triplets(Y, per_text=0)


def test_mixed_label_types_are_a_clear_error():
    with pytest.raises(TypeError, match="y mixes label types"):
        check_classes(np.array([1, "a", 2.5, "b"], dtype=object))


def test_triplets_have_a_classmate_and_a_stranger():
    anchor, positive, negative = label_triplets(Y, per_text=5, random_state=0)
    assert len(anchor) == 24 * 5
    assert (Y[anchor] == Y[positive]).all() and (anchor != positive).all()
    assert (Y[anchor] != Y[negative]).all()


def test_anchor_positive_pairs_stay_within_the_class():
    anchor, positive = anchor_positive_pairs(Y, per_text=3, random_state=0)
    assert np.bincount(anchor).tolist() == [3] * 24
    assert (Y[anchor] == Y[positive]).all() and (anchor != positive).all()


def test_class_batches_hold_p_classes_of_k_distinct_texts():
    y = np.repeat(np.arange(10), 6)
    batches = class_batches(y, batch_size=16, per_class=4, n_batches=50, random_state=0)
    assert len(batches) == 50
    for batch in batches:
        assert len(batch) == 16 and len(set(batch.tolist())) == 16
        assert sorted(np.bincount(y[batch]).tolist())[-4:] == [4, 4, 4, 4]


def test_class_batches_draw_classes_uniformly_whatever_their_size():
    y = np.array([0] * 100 + [1] * 4 + [2] * 4 + [3] * 4)
    batches = class_batches(y, batch_size=4, per_class=2, n_batches=600, random_state=0)
    seen = np.bincount(np.concatenate([np.unique(y[b]) for b in batches]), minlength=4)
    assert (np.abs(seen / 600 - 0.5) < 0.08).all()  # each class in half of the batches


def test_class_batches_take_small_classes_whole_and_cap_p_at_the_class_count():
    y = np.array([0, 0, 1, 1, 1, 1, 1, 2])
    batches = class_batches(y, batch_size=32, per_class=4, n_batches=5, random_state=0)
    assert all(sorted(np.bincount(y[b]).tolist()) == [1, 2, 4] for b in batches)


def test_class_batches_are_reproducible():
    first = class_batches(Y, batch_size=8, per_class=2, n_batches=10, random_state=4)
    again = class_batches(Y, batch_size=8, per_class=2, n_batches=10, random_state=4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


def test_class_batches_need_room_for_two_classes():
    with pytest.raises(ValueError, match="batch_size=6 holds fewer than 2 classes"):
        class_batches(Y, batch_size=6, per_class=4, n_batches=1)
    with pytest.raises(ValueError, match="per_class=1"):
        class_batches(Y, batch_size=6, per_class=1, n_batches=1)


def test_large_pools_are_drawn_without_materialising_all_keys():
    y = np.repeat([0, 1], 3000)
    left, right, same = label_pairs(y, per_text=4, random_state=0)
    assert len(left) == 6000 * 4
    assert (y[left[same]] == y[right[same]]).all() and (left != right).all()
