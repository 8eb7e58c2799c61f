"""Partial fine-tuning (``trainable_layers``): what trains, what is frozen, the kept states."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from skbert import SBERTVectorizer, _frozen_states, _training
from skbert._batching import Batch
from skbert._cache import FROZEN_STATES
from skbert._embedder import load_embedder
from skbert._frozen_states import FrozenStates
from skbert._testing import make_tiny_bert

TEXTS = [
    "a man plays the guitar",
    "a woman plays piano",
    "a man plays music",
    "a dog runs fast",
    "a cat eats food",
    "a dog is running",
    "what is the answer",
    "who is the person",
    "where is the city",
]
LABELS = [0, 0, 0, 1, 1, 1, 2, 2, 2]


@pytest.fixture(scope="module")
def three_layers(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random BERT of 3 layers, so a lower, a middle and a top layer exist."""
    return str(make_tiny_bert(tmp_path_factory.mktemp("three"), num_layers=3))


@pytest.fixture(scope="module")
def no_dropout(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The same without dropout: frozen layers then compute alike in train and eval mode."""
    return str(make_tiny_bert(tmp_path_factory.mktemp("still"), num_layers=3, dropout=0.0))


@pytest.fixture(autouse=True)
def no_shared_states():
    """Each test starts with no frozen states kept by an earlier one."""
    FROZEN_STATES.clear()
    yield
    FROZEN_STATES.clear()


@pytest.fixture
def frozen_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows run through the embeddings (hence the frozen layers) from now on, per call."""
    from transformers.models.bert.modeling_bert import BertEmbeddings

    rows: list[int] = []
    real = BertEmbeddings.forward

    def counting(module, input_ids=None, **kwargs):
        rows.append(len(input_ids))
        return real(module, input_ids=input_ids, **kwargs)

    monkeypatch.setattr(BertEmbeddings, "forward", counting)
    return rows


def make(model: str, **params) -> SBERTVectorizer:
    defaults = {"epochs": 2, "batch_size": 4, "pairs_per_text": 2, "learning_rate": 1e-3,
                "random_state": 0}  # fmt: skip
    return SBERTVectorizer(model, **{**defaults, **params})


def weights(model: str) -> dict[str, torch.Tensor]:
    encoder = SBERTVectorizer(model, epochs=0).fit(TEXTS).encoder_
    return {k: v.clone() for k, v in encoder.state_dict().items()}


def test_only_the_top_layers_change_and_the_rest_stays_bitwise_equal(three_layers):
    before = weights(three_layers)
    after = make(three_layers, trainable_layers=1).fit(TEXTS, LABELS).encoder_.state_dict()
    frozen = [k for k in before if "layer.2." not in k and "pooler" not in k]
    assert any(k.startswith("transformer.embeddings.word_embeddings") for k in frozen)
    for name in frozen:
        assert torch.equal(before[name], after[name]), name
    trained = [k for k in before if "layer.2." in k]
    assert all(not torch.equal(before[k], after[k]) for k in trained if k.endswith("weight"))


def test_two_layers_train_the_top_two(three_layers):
    before = weights(three_layers)
    after = make(three_layers, trainable_layers=2).fit(TEXTS, LABELS).encoder_.state_dict()
    for name in before:
        if "layer.0." in name or "embeddings" in name:
            assert torch.equal(before[name], after[name]), name
        elif ("layer.1." in name or "layer.2." in name) and name.endswith("dense.weight"):
            assert not torch.equal(before[name], after[name]), name


def test_the_kept_states_give_the_fit_without_them(no_dropout, monkeypatch):
    cached = make(no_dropout, trainable_layers=1).fit(TEXTS, LABELS)

    @contextlib.contextmanager
    def frozen_only(embedder, plan, tokens, batches, *_):  # the same weights frozen, no states
        params = _frozen_states._frozen_parameters(embedder.encoder, plan.trainable_layers)
        for param in params:
            param.requires_grad_(False)
        yield None

    monkeypatch.setattr(_training, "partial_fine_tuning", frozen_only)
    uncached = make(no_dropout, trainable_layers=1).fit(TEXTS, LABELS)
    losses = [[r["loss"] for r in v.history_ if "loss" in r] for v in (cached, uncached)]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    np.testing.assert_allclose(cached.transform(TEXTS), uncached.transform(TEXTS), atol=1e-5)


def test_the_top_layers_on_kept_states_embed_as_the_whole_model(three_layers):
    embedder = load_embedder(three_layers, device=torch.device("cpu"))
    tokens = embedder.tokenize(TEXTS)
    states = FrozenStates.compute(
        embedder.encoder, tokens, np.arange(len(TEXTS)), 2,
        pad_id=embedder.pad_id, device=embedder.device, precision="float32",
    )  # fmt: skip
    rows = np.array([[0, 8], [3, 4], [6, 1]])
    with torch.no_grad():
        columns = states.forward(Batch(rows, None))
        ids, mask = tokens.padded(rows.T.ravel(), embedder.pad_id)
        whole = embedder.encoder(ids, mask)
    torch.testing.assert_close(torch.cat(columns), whole, atol=1e-6, rtol=1e-5)


def test_the_states_are_kept_in_the_training_precision(three_layers):
    embedder = load_embedder(three_layers, device=torch.device("cpu"))
    tokens = embedder.tokenize(TEXTS)
    for precision, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        states = FrozenStates.compute(
            embedder.encoder, tokens, np.arange(len(TEXTS)), 1,
            pad_id=embedder.pad_id, device=embedder.device, precision=precision,
        )  # fmt: skip
        assert states.states.dtype == dtype
        assert states.nbytes == tokens.lengths.sum() * 32 * dtype.itemsize


def test_the_loss_goes_down(three_layers):
    vec = make(three_layers, epochs=6, pairs_per_text=8, trainable_layers=1).fit(TEXTS, LABELS)
    records = [r for r in vec.history_ if "loss" in r]
    first, last = ([r["loss"] for r in records if r["epoch"] == e] for e in (0, 5))
    assert np.mean(last) < 0.2 * np.mean(first)
    assert vec.plan_.trainable_layers == 1


def test_the_frozen_states_are_computed_once_per_distinct_text(three_layers, frozen_rows):
    texts, labels = TEXTS * 2, LABELS * 2  # every text twice: still computed once
    vec = make(three_layers, epochs=3, trainable_layers=2).fit(texts, labels)
    assert len([r for r in vec.history_ if "loss" in r]) > 3  # several steps and epochs
    assert sum(frozen_rows) == len(set(TEXTS))


def test_the_clones_of_a_search_share_the_frozen_states(no_dropout, frozen_rows):
    from sklearn.base import clone

    first = make(no_dropout, trainable_layers=1).fit(TEXTS, LABELS)
    assert sum(frozen_rows) == len(TEXTS) and len(FROZEN_STATES) == len(TEXTS)
    frozen_rows.clear()
    other = clone(first).set_params(pooling="max", loss="cosine")
    other.fit(TEXTS[:6], LABELS[:6])  # another candidate on another fold
    assert sum(frozen_rows) == 0
    frozen_rows.clear()
    shared = clone(first).fit(TEXTS, LABELS)
    FROZEN_STATES.clear()
    alone = clone(first).fit(TEXTS, LABELS)
    assert sum(frozen_rows) == len(TEXTS)  # computed by the last fit only
    for name, value in alone.encoder_.state_dict().items():
        torch.testing.assert_close(shared.encoder_.state_dict()[name], value, rtol=0, atol=0)


def test_other_frozen_weights_layers_or_precision_compute_their_own_states(
    three_layers, frozen_rows
):
    make(three_layers, trainable_layers=1).fit(TEXTS, LABELS)
    for params in ({"trainable_layers": 2}, {"trainable_layers": 1, "precision": "bfloat16"}):
        frozen_rows.clear()
        make(three_layers, **params).fit(TEXTS, LABELS)
        assert sum(frozen_rows) == len(TEXTS), params
    vec = make(three_layers).fit(TEXTS, LABELS)  # every layer trained: other lower weights
    frozen_rows.clear()
    vec.set_params(warm_start=True, trainable_layers=1).fit(TEXTS, LABELS)
    assert sum(frozen_rows) == len(TEXTS)


def test_cache_embeddings_false_keeps_no_states(three_layers, frozen_rows):
    for _ in range(2):
        make(three_layers, trainable_layers=1, cache_embeddings=False).fit(TEXTS, LABELS)
    assert sum(frozen_rows) == 2 * len(TEXTS)
    assert len(FROZEN_STATES) == 0


def test_long_texts_windows_key_the_states_by_the_windows_trained_on(three_layers, monkeypatch):
    long = [f"{t} and " * 6 for t in TEXTS]
    computed = []
    real = FrozenStates.compute.__func__

    def recording(cls, encoder, tokens, rows, *args, **kwargs):
        computed.append((tokens, rows))
        return real(cls, encoder, tokens, rows, *args, **kwargs)

    monkeypatch.setattr(FrozenStates, "compute", classmethod(recording))
    before = weights(three_layers)
    params = {"max_seq_length": 12, "long_texts": "windows", "trainable_layers": 1}
    vec = make(three_layers, **params).fit(long, LABELS)
    (tokens, rows), = computed  # fmt: skip
    assert len(tokens) > len(long) and tokens.lengths.max() <= 12  # windows, not whole texts
    assert len(rows) <= len(tokens)
    after = vec.encoder_.state_dict()
    assert torch.equal(before["transformer.encoder.layer.0.output.dense.weight"],
                       after["transformer.encoder.layer.0.output.dense.weight"])  # fmt: skip


def test_the_frozen_layers_train_again_in_a_later_warm_start(three_layers):
    vec = make(three_layers, trainable_layers=1).fit(TEXTS, LABELS)
    assert all(p.requires_grad for p in vec.encoder_.parameters())
    name = "transformer.encoder.layer.0.output.dense.weight"
    partial = vec.encoder_.state_dict()[name].clone()
    vec.set_params(warm_start=True, trainable_layers=None).fit(TEXTS, LABELS)
    assert not torch.equal(vec.encoder_.state_dict()[name], partial)


def test_a_partial_fit_resumes_from_its_checkpoint_to_the_same_weights(three_layers, tmp_path,
                                                                      monkeypatch):  # fmt: skip
    params = {"trainable_layers": 2, "checkpoint_dir": tmp_path, "checkpoint_steps": 2}
    whole = make(three_layers, trainable_layers=2).fit(TEXTS, LABELS)
    real = _training._Loop.step

    def interrupted(self, tokens, batch, epoch, i):
        if i == 3:
            raise KeyboardInterrupt
        return real(self, tokens, batch, epoch, i)

    monkeypatch.setattr(_training._Loop, "step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        make(three_layers, **params).fit(TEXTS, LABELS)
    monkeypatch.undo()
    resumed = make(three_layers, **params).fit(TEXTS, LABELS)
    for name, value in whole.encoder_.state_dict().items():
        torch.testing.assert_close(resumed.encoder_.state_dict()[name], value, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "trainable_layers=0 would train no weight"),
        (4, "trainable_layers=4 exceeds the 3 layers of the model; use 1 to 3"),
        (-1, "trainable_layers"),
        (1.5, "trainable_layers"),
    ],
)
def test_bad_values_raise_naming_the_parameter(three_layers, value, message):
    with pytest.raises(ValueError, match=message):
        make(three_layers, trainable_layers=value).fit(TEXTS, LABELS)


def test_trainable_layers_without_training_warns(three_layers):
    with pytest.warns(UserWarning, match="trainable_layers=1 has no effect with no fine-tuning"):
        SBERTVectorizer(three_layers, epochs=0, trainable_layers=1).fit(TEXTS)


def test_a_model_of_another_structure_is_refused(three_layers, monkeypatch):
    monkeypatch.setattr(_frozen_states, "SUPPORTED_MODELS", ("roberta",))
    with pytest.raises(ValueError, match="trainable_layers needs a BERT-like model"):
        make(three_layers, trainable_layers=1).fit(TEXTS, LABELS)


def test_a_fit_of_several_processes_is_refused(three_layers, monkeypatch):
    class TwoProcesses:
        size = 2

        @classmethod
        def current(cls):
            return cls()

    monkeypatch.setattr(_frozen_states, "World", TwoProcesses)
    with pytest.raises(ValueError, match="trainable_layers=1 is not supported in a fit of"):
        make(three_layers, trainable_layers=1).fit(TEXTS, LABELS)


@pytest.mark.filterwarnings("ignore:y has 1 class")  # halving's first, smallest round
@pytest.mark.parametrize("search", ["grid", "halving", "cross_val_score"])
def test_a_search_computes_each_texts_frozen_states_once(no_dropout, monkeypatch, search):
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline

    stored: list[bytes] = []
    real = FROZEN_STATES.store
    monkeypatch.setattr(
        FROZEN_STATES,
        "store",
        lambda key, items, values: stored.extend(items) or real(key, items, values),
    )
    texts = TEXTS + [f"{text} again" for text in TEXTS]
    labels = LABELS * 2
    pipe = make_pipeline(make(no_dropout, trainable_layers=1), LogisticRegression())
    grid = {"sbertvectorizer__pooling": ["mean", "max", "cls"]}
    if search == "grid":
        GridSearchCV(pipe, grid, cv=2).fit(texts, labels)
    elif search == "halving":
        HalvingGridSearchCV(pipe, grid, cv=2, factor=2, min_resources=12).fit(texts, labels)
    else:
        cross_val_score(pipe, texts, labels, cv=3)
    assert len(stored) == len(set(stored)) == len(texts)  # each text once, for all the fits
