import math
import re
from pathlib import Path

import numpy as np
import pytest

from skbert import SBERTVectorizer
from skbert._inputs import check_target, check_texts
from skbert._objectives import (
    AUTO_LOSS,
    OBJECTIVE_DATA,
    batch_plan,
    build_loss,
    check_objective,
    choose_objective,
    data_kind,
    scale_scores,
    split_validation,
    training_set,
    validation_set,
)
from skbert.losses import (
    BatchHardTripletLoss,
    ContrastiveLoss,
    CoSENTLoss,
    MatryoshkaLoss,
    MultipleNegativesRankingLoss,
    TripletLoss,
)

PARAMS = SBERTVectorizer().get_params()


def make(loss, X, y=None, **params):
    data = check_texts(X)
    target, y_kind = (None, None) if y is None else check_target(y, data.n_samples)
    kind, name = choose_objective(loss, data, target, y_kind)
    return training_set(name, kind, data, target, {**PARAMS, **params})


def epoch(training, rng=0, **params):
    lengths = np.ones(len(training.texts), dtype=np.int64)
    return batch_plan(training, lengths, {**PARAMS, **params})(np.random.default_rng(rng))


PAIRS = [("a", "b"), ("c", "d"), ("e", "f")]
TEXTS = [f"text {i}" for i in range(12)]
LABELS = ["x", "y", "z"] * 4


@pytest.mark.parametrize(
    ("X", "y", "expected"),
    [
        (["a", "b"], None, None),
        (TEXTS, LABELS, AUTO_LOSS["labelled_texts"]),
        (PAIRS, None, "mnrl"),
        (PAIRS, [0.5, 2.5, 5.0], "cosine"),
        (PAIRS, ["yes", "no", "yes"], "softmax"),
        ([("a", "p", "n")], None, "triplet"),
    ],
)
def test_auto_picks_the_objective_from_the_data(X, y, expected):
    assert make("auto", X, y).loss == expected


def test_every_objective_is_defined_on_data_it_can_be_given():
    kinds = {"texts", "labelled_texts", "pairs", "scored_pairs", "labelled_pairs", "triplets"}
    assert all(set(data) <= kinds for data in OBJECTIVE_DATA.values())
    assert {kind for data in OBJECTIVE_DATA.values() for kind in data} == kinds


def test_loss_given_the_wrong_data_names_expected_data_and_the_fitting_loss():
    with pytest.raises(
        ValueError, match=r"loss='softmax' trains on pairs with class labels.*use loss='cosine'"
    ):
        make("softmax", PAIRS, [0.5, 1.5, 2.5])
    with pytest.raises(ValueError, match=r"loss='triplet' trains on triplets.*use loss='softmax'"):
        make("triplet", PAIRS, [0, 1, 0])
    with pytest.raises(
        ValueError,
        match=r"batch_hard_triplet' trains on texts with class labels, but y\[0\] = 0.5 is a "
        r"real-valued score.*use loss='cosine' or loss='cosent' for scores",
    ):
        make("batch_hard_triplet", PAIRS, [0.5, 1.5, 2.5])
    with pytest.raises(
        ValueError,
        match=r"batch_hard_triplet' trains on texts with class labels, but fit got pairs with "
        r"class labels. For pairs with class labels, use loss='softmax'",
    ):
        make("batch_hard_triplet", PAIRS, [0, 1, 0])


def test_supervised_loss_on_unlabelled_texts_suggests_simcse_or_no_fine_tuning():
    with pytest.raises(
        ValueError, match=r"use loss='simcse' to fine-tune, or 'auto' to embed without"
    ):
        make("contrastive", TEXTS)


def test_scores_on_single_texts_are_rejected():
    with pytest.raises(ValueError, match="scores describe pairs"):
        make("auto", ["a", "b"], [0.5, 1.5])


def test_triplets_with_y_are_rejected():
    with pytest.raises(ValueError, match="without y"):
        make("auto", [("a", "p", "n")], [1])


def test_softmax_records_classes_and_encodes_targets():
    training = make("softmax", PAIRS, ["yes", "no", "yes"])
    assert training.classes.tolist() == ["no", "yes"]
    assert training.target.tolist() == [1, 0, 1]


def test_softmax_with_one_class_is_rejected():
    with pytest.raises(ValueError, match="at least 2 classes in y, got only 1"):
        make("softmax", PAIRS, [1, 1, 1])


@pytest.mark.parametrize("loss", ["cosine", "cosent"])
def test_score_objectives_accept_integer_scores(loss):
    assert make(loss, PAIRS, [0, 1, 1]).target.tolist() == [0.0, 1.0, 1.0]


def test_integer_labels_of_single_texts_stay_labels_for_score_objectives():
    assert make("cosine", TEXTS, [0, 1, 2] * 4).kind == "labelled_texts"


@pytest.mark.parametrize("loss", ["contrastive", "online_contrastive"])
def test_contrastive_on_labelled_pairs_needs_0_1_labels(loss):
    assert make(loss, PAIRS, [1, 0, 1]).target.tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match=r"needs y in \{0, 1\}.*map your labels to 0/1"):
        make(loss, PAIRS, ["same", "other", "same"])


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


def test_data_kind_names():
    assert data_kind(check_texts(["a"]), "labels") == "labelled_texts"
    assert data_kind(check_texts(PAIRS), None) == "pairs"


# -- rows drawn from labelled texts ---------------------------------------------------------


@pytest.mark.parametrize("loss", ["contrastive", "online_contrastive", "cosine", "cosent"])
def test_pair_objectives_draw_labelled_pairs_with_the_budget(loss):
    training = make(loss, TEXTS, LABELS)
    batches = epoch(training, pairs_per_text=6, positive_fraction=0.5, batch_size=8)
    index = np.concatenate([b.index for b in batches])
    same = np.concatenate([b.target for b in batches])
    assert index.shape == (12 * 6, 2) and same.sum() == 12 * 3
    labels = np.asarray(LABELS)
    assert (labels[index[same == 1, 0]] == labels[index[same == 1, 1]]).all()


def test_labelled_rows_are_drawn_anew_each_epoch():
    training = make("contrastive", TEXTS, LABELS)
    first, second = epoch(training, rng=0), epoch(training, rng=1)
    assert not np.array_equal(first[0].index, second[0].index)


def test_triplet_objective_draws_triplets_from_labels():
    batches = epoch(make("triplet", TEXTS, LABELS), pairs_per_text=2)
    index = np.concatenate([b.index for b in batches])
    labels = np.asarray(LABELS)
    assert index.shape == (24, 3) and batches[0].target is None
    assert (labels[index[:, 0]] == labels[index[:, 1]]).all()
    assert (labels[index[:, 0]] != labels[index[:, 2]]).all()


def test_mnrl_on_labelled_texts_gets_the_anchor_labels_as_target():
    batches = epoch(make("mnrl", TEXTS, LABELS), pairs_per_text=2)
    for batch in batches:
        np.testing.assert_array_equal(
            batch.target, [ord(LABELS[i]) - ord("x") for i in batch.index[:, 0]]
        )


@pytest.mark.parametrize("loss", ["batch_hard_triplet", "batch_all_triplet"])
def test_batch_mining_gets_p_by_k_batches_embedding_as_many_texts_as_pairs(loss):
    training = make(loss, TEXTS, LABELS)
    batches = epoch(training, pairs_per_text=4, batch_size=6, texts_per_class=2)
    assert len(batches) == math.ceil(2 * 12 * 4 / 6)  # 48 pairs of 2 texts, 6 texts a batch
    for batch in batches:
        assert batch.index.shape == (6, 1)
        assert np.bincount(batch.target).tolist() == [2, 2, 2]


def test_simcse_puts_each_text_twice_in_the_same_row():
    training = make("simcse", ["b", "a", "b"])
    assert training.index.tolist() == [[0, 0], [1, 1], [2, 2]]  # duplicates are kept
    assert training.target is None
    labelled = make("simcse", TEXTS, LABELS)
    assert labelled.target.tolist() == [0, 1, 2] * 4  # masks same-class negatives


def test_single_example_classes_warn_and_one_class_is_an_error():
    with pytest.warns(UserWarning, match=r"y has 1 class with a single example \('w'\)"):
        make("contrastive", [*TEXTS, "lonely"], [*LABELS, "w"])
    with pytest.raises(ValueError, match="y holds a single class"):
        make("batch_hard_triplet", TEXTS, ["x"] * 12)


# -- validation ------------------------------------------------------------------------------


def test_validation_split_is_stratified_and_disjoint():
    data = check_texts(TEXTS)
    (kept, _), (held, held_y) = split_validation(
        "labelled_texts", data, np.asarray(LABELS), 0.25, seed=0
    )
    assert sorted(held_y.tolist()) == ["x", "y", "z"]
    assert set(kept.columns[0]).isdisjoint(held.columns[0])
    assert len(kept.columns[0]) + len(held.columns[0]) == 12


def test_validation_split_too_small_for_the_classes_names_the_fix():
    data = check_texts(TEXTS)
    with pytest.raises(ValueError, match=r"validation_fraction=0.1 of the 12 rows.*stratified"):
        split_validation("labelled_texts", data, np.asarray(LABELS), 0.1, seed=0)


def test_validation_of_scored_pairs_keeps_raw_scores_for_spearman():
    pairs = check_texts(PAIRS)
    training = make("cosine", PAIRS, [0.5, 2.5, 5.0])
    held = validation_set(training, pairs, np.array([1.0, 4.0, 2.0]), PARAMS)
    assert held.target.tolist() == [1.0, 4.0, 2.0]
    assert held.index.tolist() == [[0, 3], [1, 4], [2, 5]]


def test_validation_of_softmax_reuses_the_training_classes():
    training = make("softmax", PAIRS, ["yes", "no", "yes"])
    held = validation_set(training, check_texts(PAIRS[:1]), np.array(["yes"]), PARAMS)
    assert held.target.tolist() == [1]


# -- building the loss ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loss", "X", "y", "cls", "attr", "default"),
    [
        ("contrastive", TEXTS, LABELS, ContrastiveLoss, "margin", 0.5),
        ("triplet", [("a", "p", "n")], None, TripletLoss, "margin", 1.0),
        ("batch_hard_triplet", TEXTS, LABELS, BatchHardTripletLoss, "margin", 1.0),
        ("mnrl", PAIRS, None, MultipleNegativesRankingLoss, "scale", 20.0),
        ("cosent", PAIRS, [0.5, 2.5, 5.0], CoSENTLoss, "scale", 20.0),
    ],
)
def test_build_loss_uses_the_objective_default_unless_given(loss, X, y, cls, attr, default):
    training = make(loss, X, y)
    assert getattr(build_loss(training, 8, PARAMS), attr) == default
    built = build_loss(training, 8, {**PARAMS, attr: 3.0})
    assert isinstance(built, cls) and getattr(built, attr) == 3.0


def test_matryoshka_dims_wrap_the_loss():
    built = build_loss(
        make("mnrl", PAIRS), 8, {**PARAMS, "matryoshka_dims": (8, 4)}, normalize=True
    )
    assert isinstance(built, MatryoshkaLoss) and built.dims == (8, 4) and built.normalize


def test_check_objective_rules():
    with pytest.raises(ValueError, match="matryoshka_dims does not apply to loss='softmax'"):
        check_objective("softmax", "labelled_pairs", {**PARAMS, "matryoshka_dims": (4,)})
    with pytest.raises(ValueError, match=r"batch_size=6 holds fewer than 2 x texts_per_class=4"):
        check_objective("batch_all_triplet", "labelled_texts", {**PARAMS, "batch_size": 6})


# -- the user guide ---------------------------------------------------------------------------

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "objectives.md"


@pytest.mark.slow
def test_objectives_guide_code_blocks_run_and_state_the_auto_choice(real_model, capsys):
    text = GUIDE.read_text(encoding="utf-8")
    namespace: dict = {}
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL):
        exec(compile(block, str(GUIDE), "exec"), namespace)
    auto = AUTO_LOSS["labelled_texts"]
    assert namespace["pipe"][0].loss_ == auto
    assert f"| `{auto}` |" in text and f"## Why `{auto}` for labelled texts" in text
    assert capsys.readouterr().out.splitlines()[0] == auto
