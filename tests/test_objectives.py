import re
from pathlib import Path

import pytest

from skbert import SBERTVectorizer
from skbert._objectives import AUTO_LOSS, OBJECTIVE_DATA, build_loss
from skbert._plan import make_plan
from skbert.losses import (
    BatchHardTripletLoss,
    ContrastiveLoss,
    CoSENTLoss,
    MatryoshkaLoss,
    MultipleNegativesRankingLoss,
    SoftmaxLoss,
    TripletLoss,
)

PARAMS = SBERTVectorizer().get_params()
PAIRS = [("a", "b"), ("c", "d"), ("e", "f")]
TEXTS = [f"text {i}" for i in range(12)]
LABELS = ["x", "y", "z"] * 4


def plan_of(loss, X, y=None, **params):
    return make_plan({**PARAMS, "loss": loss, **params}, X, y)[0]


def test_every_objective_is_defined_on_data_it_can_be_given():
    kinds = {"texts", "labelled_texts", "pairs", "scored_pairs", "labelled_pairs", "triplets"}
    assert all(set(data) <= kinds for data in OBJECTIVE_DATA.values())
    assert {kind for data in OBJECTIVE_DATA.values() for kind in data} == kinds
    assert all(
        AUTO_LOSS[kind] is None or kind in OBJECTIVE_DATA[AUTO_LOSS[kind]] for kind in kinds
    )


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
    built = build_loss(plan_of(loss, X, y), 8, n_classes=None, normalize=False)
    assert isinstance(built, cls) and getattr(built, attr) == default
    given = build_loss(plan_of(loss, X, y, **{attr: 3.0}), 8, n_classes=None, normalize=False)
    assert getattr(given, attr) == 3.0


def test_softmax_classifier_is_sized_by_the_classes_and_pair_features():
    plan = plan_of("softmax", PAIRS, [0, 1, 2], pair_features=("u", "v", "abs_diff", "product"))
    built = build_loss(plan, 8, n_classes=3, normalize=False)
    assert isinstance(built, SoftmaxLoss) and built.classifier.weight.shape == (3, 32)


def test_matryoshka_dims_wrap_the_loss():
    plan = plan_of("mnrl", PAIRS, matryoshka_dims=(8, 4))
    built = build_loss(plan, 8, n_classes=None, normalize=True)
    assert isinstance(built, MatryoshkaLoss) and built.dims == (8, 4) and built.normalize


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
