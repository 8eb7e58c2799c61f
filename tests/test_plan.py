import dataclasses
import warnings

import numpy as np
import pytest

from skbert import SBERTVectorizer
from skbert._plan import FitPlan
from skbert._planning import make_plan

PARAMS = SBERTVectorizer().get_params()
PAIRS = [("a", "b"), ("c", "d"), ("e", "f")]
TEXTS = [f"text {i}" for i in range(12)]
LABELS = ["x", "y", "z"] * 4


def planned(loss, X, y=None, **params):
    return make_plan({**PARAMS, "loss": loss, "random_state": 0, **params}, X, y)


@pytest.mark.parametrize(
    ("X", "y", "expected"),
    [
        (["a", "b"], None, None),
        (TEXTS, LABELS, "mnrl"),
        (PAIRS, None, "mnrl"),
        (PAIRS, [0.5, 2.5, 5.0], "cosine"),
        (PAIRS, ["yes", "no", "yes"], "softmax"),
        ([("a", "p", "n")], None, "triplet"),
    ],
)
def test_auto_picks_the_objective_from_the_data(X, y, expected):
    assert planned("auto", X, y)[0].objective == expected


def test_loss_given_the_wrong_data_names_expected_data_and_the_fitting_loss():
    with pytest.raises(
        ValueError, match=r"loss='softmax' trains on pairs with class labels.*use loss='cosine'"
    ):
        planned("softmax", PAIRS, [0.5, 1.5, 2.5])
    with pytest.raises(ValueError, match=r"loss='triplet' trains on triplets.*use loss='softmax'"):
        planned("triplet", PAIRS, [0, 1, 0])
    with pytest.raises(
        ValueError,
        match=r"batch_hard_triplet' trains on texts with class labels, but y\[0\] = 0.5 is a "
        r"real-valued score.*use loss='cosine' or loss='cosent' for scores",
    ):
        planned("batch_hard_triplet", PAIRS, [0.5, 1.5, 2.5])
    with pytest.raises(
        ValueError,
        match=r"batch_hard_triplet' trains on texts with class labels, but fit got pairs with "
        r"class labels. For pairs with class labels, use loss='softmax'",
    ):
        planned("batch_hard_triplet", PAIRS, [0, 1, 0])


def test_supervised_loss_on_unlabelled_texts_suggests_simcse_or_no_fine_tuning():
    with pytest.raises(
        ValueError, match=r"use loss='simcse' to fine-tune, or 'auto' to embed without"
    ):
        planned("contrastive", TEXTS)


def test_triplets_with_y_are_rejected():
    with pytest.raises(ValueError, match="without y"):
        planned("auto", [("a", "p", "n")], [1])


def test_integer_labels_of_single_texts_stay_labels_for_score_objectives():
    assert planned("cosine", TEXTS, [0, 1, 2] * 4)[0].data_kind == "labelled_texts"


# -- every default resolved and recorded -----------------------------------------------------


@pytest.mark.parametrize(
    ("loss", "X", "y", "resolved"),
    [
        ("contrastive", TEXTS, LABELS, {"margin": 0.5, "scale": None, "pairs_per_text": 32,
                                        "rows_per_epoch": 8192, "positive_fraction": 0.5,
                                        "texts_per_class": None}),
        ("batch_all_triplet", TEXTS, LABELS, {"margin": 1.0, "texts_per_class": 4,
                                              "positive_fraction": None}),
        ("mnrl", PAIRS, None, {"scale": 20.0, "margin": None, "pairs_per_text": None}),
        ("cosine", PAIRS, [0.5, 2.5, 5.0], {"score_range": (0.5, 5.0), "margin": None}),
        ("softmax", PAIRS, [0, 1, 0], {"pair_features": ("u", "v", "abs_diff")}),
    ],
)  # fmt: skip
def test_the_plan_fills_in_each_default_that_applies_and_only_those(loss, X, y, resolved):
    plan = planned(loss, X, y)[0]
    for name, value in resolved.items():
        assert getattr(plan, name) == value, name


def test_given_settings_win_over_defaults():
    plan = planned("contrastive", TEXTS, LABELS, margin=0.3, pairs_per_text=6)[0]
    assert (plan.margin, plan.pairs_per_text) == (0.3, 6)


def test_the_plan_counts_rows_and_steps():
    plan = planned("cosine", PAIRS * 20, [0.5, 2.5, 5.0] * 20, batch_size=8, epochs=3)[0]
    assert (plan.n_train, plan.steps_per_epoch, plan.total_steps) == (60, 8, 24)


# -- the default budget on labelled texts -----------------------------------------------------


def many_texts(n, n_classes=10):
    return [f"text {i}" for i in range(n)], [f"class {i % n_classes}" for i in range(n)]


@pytest.mark.parametrize(
    ("n", "per_text", "steps"),
    [(48, 32, 48), (384, 11, 132), (1200, 4, 150), (4000, 2, 250), (20000, 2, 256)],
)
def test_the_default_budget_shrinks_rows_per_text_and_caps_an_epoch(n, per_text, steps):
    plan = planned("auto", *many_texts(n), early_stopping=False)[0]
    assert (plan.objective, plan.pairs_per_text, plan.rows_per_epoch) == ("mnrl", per_text, 8192)
    assert plan.steps_per_epoch == plan.total_steps == steps  # 32 rows a step, at most 256


def test_the_default_budget_grows_sublinearly_and_is_bounded():
    steps = [planned("auto", *many_texts(n), early_stopping=False)[0].total_steps
             for n in (100, 1000, 10000, 100000)]  # fmt: skip
    assert steps == sorted(steps) and steps[-1] <= 8192 // 32
    assert steps[1] < 10 * steps[0] and steps[3] < 10 * steps[2]


def test_the_default_learning_rate_is_higher_on_labelled_texts_and_a_given_one_wins():
    assert planned("auto", *many_texts(48))[0].learning_rate == 5e-5
    assert planned("auto", PAIRS, [0.5, 2.5, 5.0])[0].learning_rate == 2e-5
    assert planned("auto", *many_texts(48), learning_rate=1e-5)[0].learning_rate == 1e-5


def test_a_given_budget_is_not_capped_and_warns_when_large():
    with pytest.warns(UserWarning, match=r"trains 3750 steps of batch_size=32.*max_steps"):
        plan = planned("auto", *many_texts(20000), pairs_per_text=6, early_stopping=False)[0]
    assert (plan.pairs_per_text, plan.rows_per_epoch, plan.total_steps) == (6, None, 3750)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # bounded by max_steps: no warning
        plan = planned("mnrl", *many_texts(20000), pairs_per_text=6, max_steps=100)[0]
    assert plan.total_steps == 100


@pytest.mark.parametrize(
    ("n", "X_val", "expected"), [(200, False, False), (2000, False, True), (200, True, True)]
)
def test_auto_early_stopping_guards_labelled_texts_with_enough_rows_or_x_val(n, X_val, expected):
    X, y = many_texts(n)
    val = dict(X_val=X[:20], y_val=y[:20]) if X_val else {}
    plan = make_plan({**PARAMS, "random_state": 0}, X, y, **val)[0]
    assert plan.early_stopping is expected
    assert plan.n_validation == (20 if X_val else n // 10 if expected else 0)
    assert planned("auto", PAIRS * 1000, [0.5, 2.5, 5.0] * 1000)[0].early_stopping is False


def test_the_seed_comes_from_random_state():
    assert planned("auto", PAIRS)[0].seed == planned("auto", PAIRS)[0].seed
    assert planned("auto", PAIRS)[0].seed != planned("auto", PAIRS, random_state=1)[0].seed


def test_int8_trains_in_float32():
    assert planned("mnrl", PAIRS, precision="int8")[0].precision == "float32"


def test_the_plan_is_immutable():
    plan = planned("mnrl", PAIRS)[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.epochs = 3


def test_no_fine_tuning_plans_nothing_but_the_data_kind():
    plan, data = planned("auto", TEXTS)
    assert plan == FitPlan("texts", None, plan.seed, device="cpu", normalize=False)
    assert data.training.texts == TEXTS


def test_epochs_zero_trains_nothing_even_with_labels():
    assert planned("auto", TEXTS, LABELS, epochs=0)[0].objective is None


# -- rules between parameters ----------------------------------------------------------------


def test_objective_rules():
    with pytest.raises(ValueError, match="matryoshka_dims does not apply to loss='softmax'"):
        planned("softmax", PAIRS, [0, 1, 0], matryoshka_dims=(4,))
    with pytest.raises(ValueError, match=r"batch_size=6 holds fewer than 2 x texts_per_class=4"):
        planned("batch_all_triplet", TEXTS, LABELS, batch_size=6)


@pytest.mark.parametrize(
    ("params", "X", "y", "match"),
    [
        ({"loss": "cosine", "margin": 0.5}, PAIRS, [0.5, 2.5, 5.0], "margin=0.5 has no effect"),
        ({"loss": "auto", "score_range": (0, 5)}, TEXTS, None, "score_range=.* has no effect"),
        ({"loss": "mnrl", "pairs_per_text": 4}, PAIRS, None, "pairs_per_text=4 has no effect"),
        ({"loss": "contrastive", "texts_per_class": 2}, TEXTS, LABELS, "texts_per_class=2"),
        ({"loss": "auto", "early_stopping": True}, TEXTS, None, "nothing is trained"),
    ],
)
def test_a_parameter_without_effect_warns(params, X, y, match):
    with pytest.warns(UserWarning, match=match):
        make_plan({**PARAMS, **params}, X, y)


# -- held-out rows ---------------------------------------------------------------------------


def test_early_stopping_holds_out_a_stratified_disjoint_part():
    plan, data = planned(
        "contrastive", TEXTS, LABELS, early_stopping=True, validation_fraction=0.5
    )
    assert (plan.n_train, plan.n_validation) == (6, 6)
    (scored,) = data.validation.batches
    held = [data.validation.texts[i] for i in scored.index[:, 0]]
    assert set(data.training.texts).isdisjoint(held) and sorted(scored.target) == [
        0,
        0,
        1,
        1,
        2,
        2,
    ]
    assert plan.validation_metric == "accuracy" and plan.n_iter_no_change == 2
    probe = [data.validation.texts[i] for i in data.validation.reference.index[:, 0]]
    assert probe == data.training.texts  # the centroids come from the training texts


def test_a_split_too_small_for_the_classes_names_the_fix():
    with pytest.raises(ValueError, match=r"validation_fraction=0.1 of the 12 rows.*stratified"):
        planned("contrastive", TEXTS, LABELS, early_stopping=True)


def test_an_error_about_the_kept_rows_says_so():
    with pytest.raises(ValueError, match=r"needs y in \{0, 1\}.*rows kept for training"):
        planned(
            "contrastive", PAIRS * 4, ["same", "other"] * 6, early_stopping=True,
            validation_fraction=0.25,
        )  # fmt: skip


def test_scored_pairs_are_validated_by_spearman_on_raw_scores():
    scores = np.array([0.5, 2.5, 5.0, 1.0, 4.0, 2.0] * 2)
    plan, data = planned(
        "cosine", PAIRS * 4, scores, early_stopping=True, validation_fraction=0.25
    )
    assert plan.validation_metric == "spearman"
    (batch,) = data.validation.batches
    assert batch.target.max() > 1  # not scaled onto [0, 1]
