import re
from pathlib import Path

import pytest

from skbert import SBERTVectorizer
from skbert._objectives import AUTO_LOSS, DATA_DESCRIPTIONS, OBJECTIVES, build_loss
from skbert._planning import make_plan
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
GUIDE = Path(__file__).resolve().parents[1] / "docs" / "objectives.md"
PAIRS = [("a", "b"), ("c", "d"), ("e", "f")]
TEXTS = [f"text {i}" for i in range(12)]
LABELS = ["x", "y", "z"] * 4


def plan_of(loss, X, y=None, **params):
    return make_plan({**PARAMS, "loss": loss, **params}, X, y)[0]


def loss_of(plan, dim, *, n_classes=None, normalize=False):
    settings = {name: getattr(plan, name) for name in OBJECTIVES[plan.objective].settings}
    return build_loss(
        plan.objective,
        dim,
        n_classes=n_classes,
        settings=settings,
        matryoshka_dims=plan.matryoshka_dims,
        normalize=normalize,
    )


def test_every_objective_is_defined_on_data_it_can_be_given():
    kinds = set(DATA_DESCRIPTIONS)
    assert all(set(o.data) <= kinds for o in OBJECTIVES.values())
    assert {kind for o in OBJECTIVES.values() for kind in o.data} == kinds
    assert all(
        AUTO_LOSS[kind] is None or kind in OBJECTIVES[AUTO_LOSS[kind]].data for kind in kinds
    )


def test_auto_picks_at_most_one_objective_per_kind_of_data():
    picks = [kind for o in OBJECTIVES.values() for kind in o.auto_for]
    assert len(picks) == len(set(picks)) and set(picks) <= set(o for o in AUTO_LOSS)


# The choices docs/objectives.md justifies by measurement (its tables); a change to the
# registry that moves one must come with a new table, and with a change here.
MEASURED_AUTO = {
    "texts": None,
    "labelled_texts": "mnrl",
    "multilabel_texts": "cosent",
    "scored_texts": "cosent",
    "pairs": "mnrl",
    "scored_pairs": "cosine",
    "labelled_pairs": "softmax",
    "triplets": "triplet",
}


def test_auto_picks_the_objective_the_docs_measured():
    assert dict(AUTO_LOSS) == MEASURED_AUTO


def _docs_table() -> dict[str, tuple[set[str], str]]:
    """The data table of docs/objectives.md: objectives and auto choice per kind of data."""
    names = {
        "texts": "texts",
        "texts + labels": "labelled_texts",
        "texts + label sets": "multilabel_texts",
        "texts + real-valued targets": "scored_texts",
        "pairs": "pairs",
        "pairs + scores": "scored_pairs",
        "pairs + labels": "labelled_pairs",
        "triplets": "triplets",
    }
    table = {}
    for line in GUIDE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[0] in names:
            table[names[cells[0]]] = (set(re.findall(r"`(\w+)`", cells[3])), cells[4])
    return table


def test_the_docs_objective_table_is_the_registry():
    table = _docs_table()
    assert set(table) == set(DATA_DESCRIPTIONS)
    for kind, (listed, auto) in table.items():
        trained = {o.name for o in OBJECTIVES.values() if kind in o.data}
        if kind == "labelled_pairs":  # whole-number labels are scores to these
            trained |= {o.name for o in OBJECTIVES.values() if o.trains_on_scores}
        assert listed == trained, kind
        expected = AUTO_LOSS[kind]
        assert auto == ("no fine-tuning" if expected is None else f"`{expected}`"), kind


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
    built = loss_of(plan_of(loss, X, y), 8)
    assert isinstance(built, cls) and getattr(built, attr) == default
    given = loss_of(plan_of(loss, X, y, **{attr: 3.0}), 8)
    assert getattr(given, attr) == 3.0


def test_softmax_classifier_is_sized_by_the_classes_and_pair_features():
    plan = plan_of("softmax", PAIRS, [0, 1, 2], pair_features=("u", "v", "abs_diff", "product"))
    built = loss_of(plan, 8, n_classes=3)
    assert isinstance(built, SoftmaxLoss) and built.classifier.weight.shape == (3, 32)


def test_matryoshka_dims_wrap_the_loss():
    plan = plan_of("mnrl", PAIRS, matryoshka_dims=(8, 4))
    built = loss_of(plan, 8, normalize=True)
    assert isinstance(built, MatryoshkaLoss) and built.dims == (8, 4) and built.normalize


# -- the user guide ---------------------------------------------------------------------------


@pytest.mark.slow
def test_objectives_guide_code_blocks_run_and_state_the_auto_choice(real_model, capsys):
    text = GUIDE.read_text(encoding="utf-8")
    namespace: dict = {}
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL):
        exec(compile(block, str(GUIDE), "exec"), namespace)
    auto = MEASURED_AUTO["labelled_texts"]
    assert namespace["pipe"][0].loss_ == auto
    assert f"| `{auto}` |" in text and f"## Why `{auto}` for labelled texts" in text
    assert capsys.readouterr().out.splitlines()[0] == auto
