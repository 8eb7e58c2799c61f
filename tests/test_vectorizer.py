import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from skbert import SBERTVectorizer
from tests.conftest import PAIRS, SCORES

TEXTS = ["a man plays the guitar", "a dog runs fast", "what is the answer", "a cat eats food"]


def make(model, **params):
    return SBERTVectorizer(model, **{"random_state": 0, "batch_size": 4, **params})


def test_transform_returns_float32_rows_in_input_order(tiny_model):
    vec = make(tiny_model).fit(TEXTS)
    E = vec.transform(TEXTS)
    assert E.dtype == np.float32 and E.shape == (4, 32)
    np.testing.assert_allclose(vec.transform(TEXTS[::-1]), E[::-1], atol=1e-5)


def test_a_row_does_not_depend_on_the_other_rows(tiny_model):
    vec = make(tiny_model, batch_size=2).fit(TEXTS)
    full = vec.transform([*TEXTS, "a much longer sentence about a woman who plays the piano"])
    np.testing.assert_allclose(vec.transform(TEXTS[1:3]), full[1:3], atol=1e-5)
    np.testing.assert_allclose(vec.transform([TEXTS[0]]), full[:1], atol=1e-5)


@pytest.mark.parametrize(
    "container",
    [list, tuple, np.array, lambda t: np.array(t, dtype=object), pd.Series],
)
def test_transform_accepts_every_1d_container(tiny_model, container):
    vec = make(tiny_model).fit(TEXTS)
    np.testing.assert_allclose(vec.transform(container(TEXTS)), vec.transform(TEXTS), atol=1e-6)


def test_duplicates_get_identical_rows(tiny_model):
    vec = make(tiny_model).fit(TEXTS)
    E = vec.transform(["a dog", "a cat", "a dog"])
    np.testing.assert_array_equal(E[0], E[2])


def test_transform_of_nothing_has_zero_rows_and_full_width(tiny_model):
    vec = make(tiny_model).fit(TEXTS)
    assert vec.transform([]).shape == (0, 32)


def test_transform_rejects_a_bare_string(tiny_model):
    vec = make(tiny_model).fit(TEXTS)
    with pytest.raises(TypeError, match="Iterable over raw text documents expected"):
        vec.transform("a dog")


def test_transform_rejects_triplets(tiny_model):
    vec = make(tiny_model).fit(TEXTS)
    with pytest.raises(ValueError, match="texts or pairs, got triplets"):
        vec.transform([("a", "b", "c")])


def test_pairs_give_u_v_absdiff_features(tiny_model):
    vec = make(tiny_model).fit(TEXTS)
    u, v = vec.transform(["a dog"]), vec.transform(["a cat"])
    features = vec.transform([("a dog", "a cat")])
    np.testing.assert_allclose(features, np.hstack([u, v, np.abs(u - v)]), atol=1e-6)


def test_pair_features_parameter_chooses_the_parts(tiny_model):
    vec = make(tiny_model, pair_features=("abs_diff", "product")).fit(TEXTS)
    u, v = vec.transform(["a dog"]), vec.transform(["a cat"])
    np.testing.assert_allclose(
        vec.transform([("a dog", "a cat")]), np.hstack([np.abs(u - v), u * v]), atol=1e-6
    )


def test_texts_without_labels_load_the_encoder_without_training(tiny_model):
    vec = make(tiny_model).fit(TEXTS)
    assert vec.loss_ is None and vec.history_ == []


def test_epochs_zero_skips_training_even_with_labels(tiny_model):
    frozen = make(tiny_model).fit(TEXTS)
    vec = make(tiny_model, epochs=0).fit(PAIRS, SCORES)
    assert vec.loss_ is None
    np.testing.assert_allclose(vec.transform(TEXTS), frozen.transform(TEXTS), atol=1e-6)


TRIPLETS = [(a, b, c[1]) for (a, b), c in zip(PAIRS[::2], PAIRS[1::2], strict=True)]
QUESTIONS = [
    "what is the answer", "what is the question", "what is a number", "what is the name",
    "who is the man", "who is the woman", "who is the person", "who was the man",
    "where is the city", "where is the country", "where is the car", "where was the dog",
    "how fast is the car", "how happy is the cat", "how good is the food", "how sad is the dog",
]  # fmt: skip
KINDS = ["what"] * 4 + ["who"] * 4 + ["where"] * 4 + ["how"] * 4
EVERY_OBJECTIVE = {
    "softmax": (PAIRS, ["close", "far"] * 4),
    "cosine": (PAIRS, SCORES),
    "cosent": (PAIRS, SCORES),
    "contrastive": (PAIRS, [1, 0] * 4),
    "online_contrastive": (PAIRS, [1, 0] * 4),
    "triplet": (TRIPLETS, None),
    "mnrl": (PAIRS, None),
    "simcse": (QUESTIONS, None),
    "head": (QUESTIONS, np.linspace(0.05, 0.95, 16)),
    "batch_hard_triplet": (QUESTIONS, KINDS),
    "batch_all_triplet": (QUESTIONS, KINDS),
}


def test_every_registered_objective_has_data_to_train_on_here():
    from skbert._objectives import OBJECTIVES

    assert set(EVERY_OBJECTIVE) == set(OBJECTIVES)


@pytest.mark.parametrize("loss", sorted(EVERY_OBJECTIVE))
def test_every_objective_lowers_its_loss_and_changes_the_embeddings(tiny_model, loss):
    X, y = EVERY_OBJECTIVE[loss]
    frozen = make(tiny_model).fit(TEXTS).transform(TEXTS)
    budget = {"pairs_per_text": 2} if "batch" in loss else {}
    vec = make(
        tiny_model, loss=loss, learning_rate=3e-3, epochs=20, warmup_ratio=0.0, batch_size=8,
        **budget,
    ).fit(X, y)  # fmt: skip
    losses = [r["loss"] for r in vec.history_]
    k = max(1, len(losses) // 5)
    assert vec.loss_ == loss and len(losses) == 20 * vec.plan_.steps_per_epoch
    assert np.mean(losses[-k:]) < np.mean(losses[:k])  # the last fifth below the first
    assert not np.allclose(vec.transform(TEXTS), frozen, atol=1e-4)


def test_early_stopping_through_the_estimator_keeps_the_best_weights(tiny_model):
    from skbert._planning import make_plan
    from skbert._validation import evaluate
    from skbert.losses import MultipleNegativesRankingLoss

    X = [(a + " " + w, b) for w in ["now", "then", "again"] for a, b in PAIRS]
    vec = make(
        tiny_model, loss="mnrl", learning_rate=1e-2, epochs=6, early_stopping=True,
        validation_fraction=0.5, n_iter_no_change=10, random_state=0, cache_embeddings=False,
    ).fit(X)  # fmt: skip
    values = [r["validation_loss"] for r in vec.history_ if "validation_loss" in r]
    best = int(np.argmin(values))
    assert len(values) == 7 and 0 < best < 6 and values[-1] > values[best]  # worse later
    plan, data = make_plan(vec.get_params(), X, None)  # the same held-out rows
    loss_fn = MultipleNegativesRankingLoss(plan.scale)
    final, _ = evaluate(
        vec._fitted.embedder, loss_fn, data.validation, batch_size=4, precision="float32"
    )
    assert final == pytest.approx(values[best], abs=1e-6)
    assert vec.stop_reason_ == "completed"


def test_softmax_records_any_hashable_classes(tiny_model):
    vec = make(tiny_model, loss="softmax").fit(PAIRS, ["b", "a", "c", "a", "b", "c", "a", "b"])
    assert vec.classes_.tolist() == ["a", "b", "c"]


def test_history_records_warmup_and_decay(tiny_model):
    vec = make(tiny_model, loss="cosine", epochs=5, batch_size=2).fit(PAIRS, SCORES)
    rates = [r["learning_rate"] for r in vec.history_]
    assert 0.0 < rates[0] < max(rates) and max(rates) == pytest.approx(2e-5)
    assert [r["epoch"] for r in vec.history_][-1] == 4


def test_same_random_state_same_model_other_seed_other_model(tiny_model):
    def fit(seed):
        vec = make(tiny_model, loss="cosine", learning_rate=1e-3, random_state=seed)
        return vec.fit(PAIRS, SCORES).transform(TEXTS)

    np.testing.assert_array_equal(fit(1), fit(1))
    assert not np.array_equal(fit(1), fit(2))


def test_fit_does_not_change_global_torch_rng(tiny_model):
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    make(tiny_model, loss="cosine").fit(PAIRS, SCORES)
    assert torch.rand(1) == expected


def test_fit_never_modifies_the_model_files(tiny_model):
    def digest():
        return {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in Path(tiny_model).iterdir()
        }

    before = digest()
    make(tiny_model, loss="cosine", learning_rate=1e-2).fit(PAIRS, SCORES)
    assert digest() == before


@pytest.mark.parametrize("pooling", ["mean", "max", "cls"])
def test_pooling_parameter_is_used(tiny_model, pooling):
    vec = make(tiny_model, pooling=pooling).fit(TEXTS)
    assert vec.pooling_ == pooling
    other = make(tiny_model, pooling="max" if pooling != "max" else "mean").fit(TEXTS)
    assert not np.allclose(vec.transform(TEXTS), other.transform(TEXTS))


def test_normalize_follows_the_sentence_transformers_model_or_the_parameter(tiny_st_model):
    auto = make(tiny_st_model, normalize="auto").fit(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(auto.transform(TEXTS), axis=1), 1.0, rtol=1e-5)
    unit = make(tiny_st_model, normalize=True).fit(TEXTS).transform(TEXTS)
    np.testing.assert_allclose(unit, auto.transform(TEXTS), atol=1e-6)
    raw = make(tiny_st_model).fit(TEXTS)  # the default hands the pooled vectors on unscaled
    assert raw.normalize_ is False
    assert not np.allclose(np.linalg.norm(raw.transform(TEXTS), axis=1), 1.0)
    pairs = make(tiny_st_model, epochs=0).fit(PAIRS, SCORES)  # pairs: the model's choice
    assert pairs.normalize_ is True


def test_max_seq_length_truncates(tiny_model):
    long_text = "a dog runs fast " * 20
    short = make(tiny_model, max_seq_length=8).fit(TEXTS)
    cut = make(tiny_model).fit(TEXTS)
    tokens = cut.tokenizer_(long_text)["input_ids"]
    prefix = cut.tokenizer_.decode(tokens[1:7])
    assert short.max_seq_length_ == 8
    np.testing.assert_allclose(short.transform([long_text]), cut.transform([prefix]), atol=1e-5)


def test_device_auto_resolves_in_fit(tiny_model):
    vec = make(tiny_model)
    assert vec.device == "auto" and not hasattr(vec, "device_")
    vec.fit(TEXTS)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert vec.device_.type == expected or torch.backends.mps.is_available()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_a_clear_error(tiny_model):
    with pytest.raises(ValueError, match="device='cuda' but cuda is not available"):
        make(tiny_model, device="cuda").fit(TEXTS)


def test_unused_margin_warns(tiny_model):
    with pytest.warns(UserWarning, match="margin=0.5 has no effect with the 'cosine' objective"):
        make(tiny_model, margin=0.5).fit(PAIRS, SCORES)


def test_unused_score_range_warns(tiny_model):
    with pytest.warns(UserWarning, match="score_range=.* has no effect"):
        make(tiny_model, score_range=(0, 5)).fit(TEXTS)


def test_refit_replaces_all_fitted_state(tiny_model):
    vec = make(tiny_model, loss="softmax").fit(PAIRS, ["x", "y"] * 4)
    assert hasattr(vec, "classes_")
    vec.set_params(loss="cosine").fit(PAIRS, SCORES)
    assert not hasattr(vec, "classes_") and vec.score_range_ == (0.0, 4.8)


def test_score_is_spearman_of_cosine_similarity(tiny_model):
    from scipy.stats import spearmanr

    vec = make(tiny_model, cache_embeddings=False).fit(TEXTS)
    embeddings = vec.transform([a for a, _ in PAIRS] + [b for _, b in PAIRS])
    u, v = embeddings[:8], embeddings[8:]  # embedded together, as score embeds them
    cosine = (u * v).sum(1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
    assert vec.score(PAIRS, SCORES) == pytest.approx(spearmanr(cosine, SCORES).statistic, abs=1e-6)


def test_score_needs_pairs(tiny_model):
    vec = make(tiny_model).fit(TEXTS)
    with pytest.raises(ValueError, match="score needs pairs"):
        vec.score(TEXTS, [1.0, 2.0, 3.0, 4.0])


def test_verbose_shows_a_progress_bar_with_the_loss(tiny_model, capsys):
    make(tiny_model, loss="cosine", verbose=1).fit(PAIRS, SCORES)
    assert "loss=" in capsys.readouterr().err


def test_not_fitted_transform_raises(tiny_model):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        make(tiny_model).transform(TEXTS)


def test_transform_in_chunks_equals_one_pass(tiny_model, monkeypatch):
    from skbert import _embedder

    vec = make(tiny_model, batch_size=2, cache_embeddings=False).fit(TEXTS)
    texts = [f"{t} {i}" for i, t in enumerate(TEXTS * 5)]
    whole = vec.transform(texts)
    monkeypatch.setattr(_embedder, "CHUNK", 3)
    np.testing.assert_allclose(vec.transform(texts), whole, atol=1e-5)


# -- labelled texts and the full family of objectives -----------------------------------------

LABELLED = [
    "a man plays the guitar", "a woman plays the piano", "a man plays music",
    "a dog runs fast", "a dog is running", "the cat is running",
    "what is the answer", "what is the question", "who is the person",
    "a cat eats food", "the dog eats food", "a happy cat eats",
]  # fmt: skip
CLASSES = ["music"] * 3 + ["running"] * 3 + ["question"] * 3 + ["food"] * 3
TRIPLETS = [(a, b, c[1]) for (a, b), c in zip(PAIRS[::2], PAIRS[1::2], strict=True)]


BUDGET = {"pairs_per_text": 4}


@pytest.mark.parametrize(
    ("loss", "X", "y", "params"),
    [
        ("contrastive", LABELLED, CLASSES, BUDGET),
        ("online_contrastive", LABELLED, CLASSES, BUDGET),
        ("cosine", LABELLED, CLASSES, BUDGET),
        ("cosent", LABELLED, CLASSES, BUDGET),
        ("triplet", LABELLED, CLASSES, BUDGET),
        ("mnrl", LABELLED, CLASSES, BUDGET),
        ("batch_hard_triplet", LABELLED, CLASSES, BUDGET),
        ("batch_all_triplet", LABELLED, CLASSES, BUDGET),
        ("simcse", LABELLED, CLASSES, {}),
        ("simcse", LABELLED, None, {}),
        ("mnrl", PAIRS, None, {}),
        ("mnrl", TRIPLETS, None, {}),
        ("cosent", PAIRS, SCORES, {}),
        ("contrastive", PAIRS, [1, 0] * 4, {}),
        ("online_contrastive", PAIRS, [1, 0] * 4, {}),
    ],
)
def test_every_objective_fits_its_data_end_to_end(tiny_model, loss, X, y, params):
    frozen = make(tiny_model).fit(TEXTS).transform(TEXTS)
    vec = make(tiny_model, loss=loss, learning_rate=1e-3, batch_size=8, epochs=2, **params)
    vec.set_params(warmup_ratio=0.0).fit(X, y)
    assert vec.loss_ == loss
    assert len(vec.history_) >= 2 and all(math.isfinite(r["loss"]) for r in vec.history_)
    assert not np.allclose(vec.transform(TEXTS), frozen, atol=1e-4)


def test_auto_fine_tunes_on_labelled_texts_with_mnrl(tiny_model):
    # mnrl was chosen across datasets (docs/objectives.md); (anchor, positive) rows, one
    # per anchor and pairs_per_text
    vec = make(tiny_model, batch_size=8, pairs_per_text=4).fit(LABELLED, CLASSES)
    assert vec.loss_ == "mnrl"
    assert len(vec.history_) == math.ceil(12 * 4 / 8)


def test_pairs_per_text_sets_the_steps_of_an_epoch(tiny_model):
    vec = make(tiny_model, loss="contrastive", batch_size=8, pairs_per_text=6)
    vec.fit(LABELLED, CLASSES)
    assert len(vec.history_) == math.ceil(12 * 6 / 8)


def test_texts_without_labels_train_only_when_simcse_is_named(tiny_model):
    assert make(tiny_model).fit(LABELLED).loss_ is None
    vec = make(tiny_model, loss="simcse").fit(LABELLED)
    assert vec.loss_ == "simcse" and len(vec.history_) == 3  # 12 texts, batch 4, no dedupe


def test_a_loss_on_data_it_cannot_use_names_the_data_and_the_fitting_loss(tiny_model):
    with pytest.raises(
        ValueError,
        match=r"loss='softmax' trains on pairs with class labels, but "
        r"fit got texts with class labels. For texts with class labels, use loss=",
    ):
        make(tiny_model, loss="softmax").fit(LABELLED, CLASSES)


def test_one_class_is_an_error_naming_y(tiny_model):
    with pytest.raises(ValueError, match="y holds a single class"):
        make(tiny_model, loss="contrastive").fit(LABELLED, ["a"] * 12)


def test_single_example_class_warns_and_still_fits(tiny_model):
    with pytest.warns(UserWarning, match=r"\('lonely'\): with loss='triplet' such a text"):
        vec = make(tiny_model, loss="triplet", pairs_per_text=2).fit(
            [*LABELLED, "a lonely text"], [*CLASSES, "lonely"]
        )
    assert vec.loss_ == "triplet"


@pytest.mark.parametrize(
    ("params", "X", "y", "match"),
    [
        ({"scale": 5.0, "loss": "cosine"}, PAIRS, SCORES, "scale=5.0 has no effect with the"),
        ({"pairs_per_text": 5}, PAIRS, SCORES, "pairs_per_text=5 has no effect .* on pairs with"),
        (
            {"positive_fraction": 0.3, "loss": "batch_hard_triplet", "batch_size": 8},
            LABELLED,
            CLASSES,
            "positive_fraction=0.3 has no effect with the 'batch_hard_triplet'",
        ),
        ({"texts_per_class": 2, "loss": "contrastive"}, LABELLED, CLASSES, "texts_per_class=2"),
        ({"early_stopping": True}, TEXTS, None, "early_stopping=True has no effect with no fine"),
        ({"matryoshka_dims": (8,)}, TEXTS, None, r"matryoshka_dims=\(8,\) has no effect"),
        ({"margin": 0.3, "loss": "mnrl"}, PAIRS, None, "margin=0.3 has no effect with the 'mnrl'"),
    ],
)
def test_parameters_without_effect_warn(tiny_model, params, X, y, match):
    with pytest.warns(UserWarning, match=match):
        make(tiny_model, **params).fit(X, y)


def test_batch_mining_needs_two_classes_per_batch(tiny_model):
    with pytest.raises(ValueError, match=r"batch_size=4 holds fewer than 2 x texts_per_class=4"):
        make(tiny_model, loss="batch_hard_triplet").fit(LABELLED, CLASSES)


# -- early stopping ---------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:y has .* with a single example")  # 3 texts per class, halved
def test_early_stopping_records_the_held_out_accuracy_per_epoch(tiny_model):
    vec = make(
        tiny_model, loss="contrastive", batch_size=8, pairs_per_text=4, epochs=3,
        early_stopping=True, validation_fraction=0.5, n_iter_no_change=5,
    )  # fmt: skip
    vec.fit(LABELLED, CLASSES)
    records = [r for r in vec.history_ if "validation_score" in r]  # the centroid accuracy
    assert [r["epoch"] for r in records] == [0, 0, 1, 2]  # the starting weights, each epoch
    assert all(0 <= r["validation_score"] <= 1 for r in records)
    steps = [r for r in vec.history_ if "step" in r]
    assert len(steps) == 3 * math.ceil(6 * 4 / 8)  # half the texts trained


def test_early_stopping_on_scored_pairs_records_spearman(tiny_model):
    vec = make(tiny_model, loss="cosine", epochs=2, early_stopping=True, validation_fraction=0.25)
    vec.fit(PAIRS * 2, np.tile(SCORES, 2))
    records = [r for r in vec.history_ if "validation_score" in r]
    assert len(records) == 3 and all(-1 <= r["validation_score"] <= 1 for r in records)


def test_early_stopping_split_too_small_names_validation_fraction(tiny_model):
    with pytest.raises(ValueError, match=r"validation_fraction=0\.1 of the 12 rows"):
        make(tiny_model, loss="contrastive", early_stopping=True).fit(LABELLED, CLASSES)
    with pytest.raises(ValueError, match=r"about the rows kept for training.*validation_fraction"):
        make(tiny_model, loss="contrastive", early_stopping=True, validation_fraction=0.6).fit(
            LABELLED, CLASSES
        )


# -- output size ------------------------------------------------------------------------------


def test_truncate_dim_keeps_the_leading_dimensions_renormalised(tiny_st_model):
    full = make(tiny_st_model, normalize="auto").fit(TEXTS).transform(TEXTS)
    vec = make(tiny_st_model, normalize="auto", truncate_dim=8).fit(TEXTS)
    short = vec.transform(TEXTS)
    expected = full[:, :8] / np.linalg.norm(full[:, :8], axis=1, keepdims=True)
    np.testing.assert_allclose(short, expected, atol=1e-5)
    assert vec.embedding_dim_ == 8 and len(vec.get_feature_names_out()) == 8


def test_truncate_dim_without_normalisation_is_a_plain_slice(tiny_model):
    full = make(tiny_model).fit(TEXTS).transform(TEXTS)
    short = make(tiny_model, truncate_dim=5).fit(TEXTS).transform(TEXTS)
    np.testing.assert_allclose(short, full[:, :5], atol=1e-6)


def test_pair_features_and_their_names_follow_truncate_dim(tiny_model):
    vec = make(tiny_model, truncate_dim=4, epochs=0).fit(PAIRS, SCORES)
    assert vec.transform(PAIRS).shape == (8, 12)
    names = vec.get_feature_names_out()
    assert names[4] == "sbertvectorizer_v0" and len(names) == 12


def test_matryoshka_trains_every_prefix_and_sizes_beyond_the_model_are_errors(
    tiny_st_model, monkeypatch
):
    from skbert import _training
    from skbert.losses import MatryoshkaLoss

    built = []
    real = _training.build_loss
    monkeypatch.setattr(
        _training, "build_loss", lambda *a, **k: built.append(real(*a, **k)) or built[-1]
    )
    params = {
        "loss": "mnrl", "matryoshka_dims": (32, 8), "normalize": "auto", "cache_embeddings": False
    }  # fmt: skip
    full = make(tiny_st_model, **params).fit(PAIRS)
    cut = make(tiny_st_model, truncate_dim=8, **params).fit(PAIRS)
    assert [type(b) for b in built] == [MatryoshkaLoss] * 2
    assert built[0].dims == (32, 8) and built[0].normalize  # the model ends in Normalize
    assert full.plan_.matryoshka_dims == (32, 8)
    head = full.transform(TEXTS)[:, :8]
    np.testing.assert_allclose(
        cut.transform(TEXTS), head / np.linalg.norm(head, axis=1, keepdims=True), atol=1e-6
    )
    tiny_model = tiny_st_model
    with pytest.raises(ValueError, match="truncate_dim=64 exceeds the 32 dimensions"):
        make(tiny_model, truncate_dim=64).fit(TEXTS)
    with pytest.raises(ValueError, match=r"matryoshka_dims=\(64, 8\) exceeds the 32"):
        make(tiny_model, loss="mnrl", matryoshka_dims=(64, 8)).fit(PAIRS)
    with pytest.raises(ValueError, match="matryoshka_dims does not apply to loss='softmax'"):
        make(tiny_model, loss="softmax", matryoshka_dims=(8,)).fit(PAIRS, ["a", "b"] * 4)
