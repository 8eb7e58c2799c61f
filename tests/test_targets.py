"""Targets of texts beyond class labels: label sets, real-valued targets, unlabelled rows."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.semi_supervised import SelfTrainingClassifier

from skbert import SBERTVectorizer
from skbert._batching import Sampling, epoch_batches
from skbert._planning import make_plan
from skbert._target_pairs import jaccard, label_set_pairs, score_pairs

TEXTS = [
    "what is the answer", "what is the question", "what is a number", "what is the name",
    "who is the man", "who is the woman", "who is the person", "who was the man",
    "where is the city", "where is the country", "where is the car", "where was the dog",
    "how fast is the car", "how happy is the cat", "how good is the food", "how sad is the dog",
]  # fmt: skip
# label sets: "what"/"who"/"where"/"how" plus a second label on every other text
LABEL_SETS = np.zeros((16, 5), dtype=int)
LABEL_SETS[np.arange(16), np.repeat(np.arange(4), 4)] = 1
LABEL_SETS[::2, 4] = 1
TARGETS = np.repeat([0.1, 0.4, 0.6, 0.9], 4) + np.tile([0.0, 0.01, 0.02, 0.03], 4)
CLASSES = np.repeat(["what", "who", "where", "how"], 4)
TRAIN = {"learning_rate": 3e-3, "epochs": 8, "warmup_ratio": 0.0, "batch_size": 8}
QUICK = {"learning_rate": 1e-3, "epochs": 1, "pairs_per_text": 2, "batch_size": 8}


def make(model, **params):
    return SBERTVectorizer(model, **{"random_state": 0, "batch_size": 4, **params})


def params(**given):
    return {**SBERTVectorizer().get_params(), "device": "cpu", **given}


# -- reading the type of y ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("y", "kind", "target_type"),
    [
        (CLASSES, "labelled_texts", "multiclass"),
        (CLASSES == "who", "labelled_texts", "binary"),
        (LABEL_SETS, "multilabel_texts", "multilabel-indicator"),
        (sp.csr_matrix(LABEL_SETS), "multilabel_texts", "multilabel-indicator"),
        (LABEL_SETS.astype(bool), "multilabel_texts", "multilabel-indicator"),
        (TARGETS, "scored_texts", "continuous"),
    ],
    ids=["multiclass", "binary", "dense", "sparse", "bool", "continuous"],
)
def test_the_plan_reads_the_target_type_as_scikit_learn_does(y, kind, target_type):
    plan, _ = make_plan(params(), TEXTS, y)
    assert (plan.data_kind, plan.target_type) == (kind, target_type)
    assert plan.objective == {"labelled_texts": "mnrl"}.get(kind, "cosent")


def test_a_sparse_indicator_trains_as_its_dense_matrix():
    dense = make_plan(params(random_state=0), TEXTS, LABEL_SETS)[1].training
    sparse = make_plan(params(random_state=0), TEXTS, sp.csc_matrix(LABEL_SETS))[1].training
    assert sparse.labels_kind == "label_sets" and np.array_equal(sparse.labels, dense.labels)


def test_real_valued_targets_train_standardised():
    training = make_plan(params(loss="head"), TEXTS, TARGETS * 100 + 7)[1].training
    assert training.labels_kind == "scores"
    assert abs(training.labels.mean()) < 1e-6 and abs(training.labels.std() - 1) < 1e-5


# -- the pairs drawn from label sets and targets ---------------------------------------------


def test_label_set_pairs_are_scored_by_jaccard_and_positives_share_a_label():
    sets = LABEL_SETS.astype(bool)
    rng = np.random.default_rng(0)
    left, right, similarity = label_set_pairs(sets, per_text=6, positive_fraction=0.5, rng=rng)
    assert len(left) == 16 * 6 and (left != right).all()
    inter = (sets[left] & sets[right]).sum(1)
    union = (sets[left] | sets[right]).sum(1)
    np.testing.assert_allclose(similarity, inter / union)
    assert (inter > 0).sum() >= 16 * 3  # every text's 3 close partners share a label


def test_jaccard_of_two_empty_sets_is_1():
    empty = np.zeros((1, 3), dtype=bool)
    assert jaccard(empty, empty).tolist() == [1.0]


def test_score_pairs_are_scored_by_closeness_and_positives_are_near():
    rng = np.random.default_rng(0)
    scores = np.linspace(0.0, 1.0, 200)
    left, right, similarity = score_pairs(scores, per_text=4, positive_fraction=0.5, rng=rng)
    assert (left != right).all()
    np.testing.assert_allclose(similarity, 1 - np.abs(scores[left] - scores[right]), atol=1e-6)
    near = np.abs(left - right) <= 10  # 5% of 200 texts on either side
    assert near.sum() >= 200 * 2


@pytest.mark.parametrize("y", [LABEL_SETS, TARGETS], ids=["label_sets", "targets"])
@pytest.mark.parametrize("loss", ["cosine", "cosent", "head"])
def test_an_epoch_covers_every_text_with_targets_in_the_objectives_range(loss, y):
    plan, data = make_plan(params(loss=loss, pairs_per_text=4, random_state=0), TEXTS, y)
    lengths = np.ones(16, dtype=np.int64)
    batches = epoch_batches(data.training, Sampling.of(plan), lengths, np.random.default_rng(1))
    index = np.concatenate([b.index for b in batches])
    target = np.concatenate([b.target for b in batches])
    assert len(index) == 16 * 4 and set(index[:, 0]) == set(range(16))
    if loss == "head":
        expected = data.training.labels[index[:, 0]]
        np.testing.assert_array_equal(target, expected.astype(np.float32))
    else:
        assert target.min() >= 0.0 and target.max() <= 1.0 and target.std() > 0


# -- training ----------------------------------------------------------------------------------


@pytest.mark.parametrize("y", [LABEL_SETS, TARGETS], ids=["label_sets", "targets"])
@pytest.mark.parametrize("loss", ["cosine", "cosent", "head"])
def test_every_objective_of_label_sets_and_targets_lowers_its_loss(tiny_model, loss, y):
    frozen = make(tiny_model).fit(TEXTS).transform(TEXTS)
    vec = make(tiny_model, loss=loss, pairs_per_text=4, **TRAIN).fit(TEXTS, y)
    losses = [r["loss"] for r in vec.history_ if "loss" in r]
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert last < 0.8 * first, (loss, losses)
    assert vec.loss_ == loss and not np.allclose(vec.transform(TEXTS), frozen)


def test_the_head_is_dropped_and_transform_returns_embeddings(tiny_model):
    vec = make(tiny_model, loss="head", **QUICK).fit(TEXTS, LABEL_SETS)
    assert vec.transform(TEXTS).shape == (16, 32)
    assert not hasattr(vec, "classes_")


@pytest.mark.parametrize(
    ("y", "metric"), [(LABEL_SETS, "micro_f1"), (TARGETS, "ridge_spearman")], ids=["sets", "y"]
)
def test_validation_rows_are_scored_with_the_measure_of_their_target(tiny_model, y, metric):
    vec = make(tiny_model, **{**QUICK, "epochs": 2}, early_stopping=True)
    vec.fit(TEXTS[:12], y[:12], X_val=TEXTS[12:], y_val=y[12:])
    assert vec.plan_.validation_metric == metric
    scores = [r["validation_score"] for r in vec.history_ if "validation_score" in r]
    assert len(scores) == 3 and all(-1.0 <= s <= 1.0 for s in scores)


def test_validation_targets_must_be_of_the_kind_of_y(tiny_model):
    with pytest.raises(ValueError, match="y_val holds labels; give y_val the same kind"):
        make(tiny_model).fit(TEXTS[:12], LABEL_SETS[:12], X_val=TEXTS[12:], y_val=CLASSES[12:])
    with pytest.raises(ValueError, match="y has 5 label columns but y_val has 4"):
        make(tiny_model).fit(
            TEXTS[:12], LABEL_SETS[:12], X_val=TEXTS[12:], y_val=LABEL_SETS[12:, :4]
        )


def test_auto_early_stopping_holds_out_texts_with_targets(tiny_model):
    many = TEXTS * 125  # 2,000 texts: early stopping turns on by itself
    plan, data = make_plan(params(), many, np.tile(TARGETS, 125))
    assert plan.early_stopping and plan.validation_metric == "ridge_spearman"
    assert plan.n_validation == 200 and data.validation.reference is not None


@pytest.mark.parametrize(
    ("y", "downstream"),
    [
        (LABEL_SETS, OneVsRestClassifier(LogisticRegression())),
        (TARGETS, Ridge()),
        (np.where(np.arange(16) % 4 == 3, -1, np.arange(16) // 4), None),
    ],
    ids=["one_vs_rest", "ridge", "self_training"],
)
def test_each_target_type_fits_in_a_pipeline_before_its_estimator(tiny_model, y, downstream):
    unlabelled = -1 if downstream is None else None
    downstream = downstream or SelfTrainingClassifier(LogisticRegression())
    pipe = make_pipeline(make(tiny_model, unlabelled=unlabelled, **QUICK), downstream)
    pipe.fit(TEXTS, y)
    assert pipe[0].plan_.objective is not None
    assert len(pipe.predict(TEXTS[:3])) == 3


def test_grid_search_over_the_objectives_of_real_valued_targets(tiny_model):
    pipe = make_pipeline(make(tiny_model, **QUICK), Ridge())
    search = GridSearchCV(
        pipe, {"sbertvectorizer__loss": ["cosine", "cosent", "head"]}, cv=KFold(2)
    )
    search.fit(TEXTS, TARGETS)
    assert search.best_params_["sbertvectorizer__loss"] in ("cosine", "cosent", "head")


def test_warm_start_and_checkpoints_work_for_label_sets(tiny_model, tmp_path):
    vec = make(
        tiny_model, loss="cosent", checkpoint_dir=tmp_path / "ckpt", checkpoint_steps=2, **QUICK
    )
    first = vec.fit(TEXTS, LABEL_SETS).transform(TEXTS)
    vec.set_params(warm_start=True)
    second = vec.fit(TEXTS, LABEL_SETS).transform(TEXTS)
    assert not np.allclose(first, second)
    assert not any((tmp_path / "ckpt").glob("*"))  # cleared after a completed fit


# -- partly labelled data --------------------------------------------------------------------

PARTLY = np.where(np.arange(16) % 4 == 3, -1, np.arange(16) // 4)  # 4 of 16 unlabelled


def test_unlabelled_rows_are_not_a_class():
    plan, data = make_plan(params(unlabelled=-1, loss="contrastive"), TEXTS, PARTLY)
    assert plan.n_unlabelled == 4 and plan.n_train == 12
    assert data.training.classes.tolist() == [0, 1, 2, 3]
    assert len(data.training.texts) == 12 and TEXTS[3] not in data.training.texts


def test_without_the_marker_minus_1_is_a_class():
    plan, data = make_plan(params(loss="contrastive"), TEXTS, PARTLY)
    assert plan.n_unlabelled == 0 and -1 in data.training.classes.tolist()


def test_string_markers_and_remaining_binary_labels():
    y = np.array(["a", "b", "?", "a", "b", "?"])
    plan, _ = make_plan(params(unlabelled="?"), TEXTS[:6], y)
    assert plan.target_type == "binary" and plan.n_unlabelled == 2 and plan.n_train == 4


def test_every_row_unlabelled_embeds_without_fine_tuning(tiny_model):
    frozen = make(tiny_model).fit(TEXTS).transform(TEXTS)
    with pytest.warns(UserWarning, match=r"Every row of y is unlabelled=-1.*no fine-tuning"):
        vec = make(tiny_model, unlabelled=-1).fit(TEXTS, [-1] * 16)
    assert vec.loss_ is None and vec.plan_.n_unlabelled == 16
    np.testing.assert_array_equal(vec.transform(TEXTS), frozen)


def test_every_row_unlabelled_with_a_supervised_loss_is_refused(tiny_model):
    with (
        pytest.warns(UserWarning, match="Every row of y is unlabelled"),
        pytest.raises(ValueError, match="but fit got texts without labels"),
    ):
        make(tiny_model, unlabelled=-1, loss="mnrl").fit(TEXTS, [-1] * 16)


def test_the_marker_drops_unlabelled_validation_rows(tiny_model):
    rows = [0, 3, 4, 7]  # labels 0, -1, 1, -1
    vec = make(tiny_model, unlabelled=-1, **QUICK)
    vec.fit(TEXTS, PARTLY, X_val=[TEXTS[i] for i in rows], y_val=PARTLY[rows])
    assert vec.plan_.n_validation == 2


def test_the_marker_without_y_warns(tiny_model):
    with pytest.warns(UserWarning, match="unlabelled=-1 has no effect: fit got no y"):
        make(tiny_model, unlabelled=-1).fit(TEXTS)
