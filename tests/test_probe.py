from unittest import mock

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from skbert import SBERTVectorizer, _probe, _training
from skbert._embedder import load_embedder
from skbert._planning import make_plan
from skbert._probe import copy_probe, probe_head, probe_rows
from skbert.losses import SoftmaxLoss
from tests.conftest import PAIRS

PARAMS = SBERTVectorizer().get_params()
CPU = torch.device("cpu")
LABELS = {2: ["near", "far"] * 4, 3: ["yes", "no", "maybe", "no"] * 2}


@pytest.mark.parametrize("n_classes", [2, 3])
def test_copied_probe_gives_the_probes_probabilities(n_classes):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 6))
    y = rng.integers(n_classes, size=60)
    probe = LogisticRegression().fit(X, y)
    classifier = nn.Linear(6, n_classes)
    copy_probe(classifier, probe)
    with torch.no_grad():
        logits = classifier(torch.from_numpy(X).float())
    np.testing.assert_allclose(logits.softmax(dim=1).numpy(), probe.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize(
    "n_classes, parts",
    [(2, ("u", "v", "abs_diff")), (3, ("u", "v", "abs_diff")), (3, ("product",))],
)
def test_probe_head_predicts_as_the_probe_on_the_frozen_pair_features(
    tiny_model, n_classes, parts
):
    params = {**PARAMS, "loss": "softmax", "pair_features": parts}
    plan, data = make_plan(params, PAIRS, LABELS[n_classes])
    embedder = load_embedder(tiny_model, device=CPU)
    loss = SoftmaxLoss(embedder.dim, n_classes, parts)
    probe = probe_head(
        loss,
        embedder,
        data.training,
        batch_size=plan.batch_size,
        precision=plan.precision,
        seed=plan.seed,
    )
    vectorizer = SBERTVectorizer(tiny_model, epochs=0, pair_features=parts)
    features = vectorizer.fit(PAIRS).transform(PAIRS)
    with torch.no_grad():
        predicted = loss.classifier(torch.from_numpy(features)).argmax(dim=1).numpy()
    np.testing.assert_array_equal(predicted, probe.predict(features))
    np.testing.assert_array_equal(probe.classes_, np.arange(n_classes))


def test_softmax_fit_trains_from_the_probe_head(tiny_model):
    seen = {}

    def spy(embedder, loss_fn, *args, **kwargs):
        seen["weight"] = loss_fn.classifier.weight.detach().clone()
        return train(embedder, loss_fn, *args, **kwargs)

    train = _training.train
    with mock.patch.object(_training, "train", spy):
        SBERTVectorizer(tiny_model, loss="softmax", batch_size=4).fit(PAIRS, LABELS[3])
    features = SBERTVectorizer(tiny_model, epochs=0).fit(PAIRS).transform(PAIRS)
    probe = LogisticRegression(C=_probe.PROBE_C, max_iter=1000).fit(features, LABELS[3])
    np.testing.assert_allclose(seen["weight"].numpy(), probe.coef_, atol=1e-4)


def test_probe_rows_draw_from_the_seed_and_keep_every_class(monkeypatch):
    monkeypatch.setattr(_probe, "PROBE_MAX_ROWS", 10)
    target = np.array([0] * 50 + [1] * 50 + [2])  # class 2: one row, rarely drawn
    rows = probe_rows(target, 3, seed=4)
    assert set(target[rows]) == {0, 1, 2} and 10 <= len(rows) <= 11
    np.testing.assert_array_equal(rows, probe_rows(target, 3, seed=4))
    assert not np.array_equal(rows, probe_rows(target, 3, seed=5))
    assert len(probe_rows(target[:10], 1, seed=4)) == 10  # few rows: all of them
