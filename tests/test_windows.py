"""Long texts in windows: splitting, pooling, independence, settings, persistence, training."""

import pickle
import warnings

import numpy as np
import pytest
import torch

from skbert import SBERTVectorizer, TruncationWarning
from skbert._batching import Batch, training_views
from skbert._cache import EMBEDDINGS
from skbert._embedder import load_embedder
from skbert._encoder import Tokens
from skbert._windows import Windows, make_windows, split

CPU = torch.device("cpu")
LENGTH = 16  # max_seq_length of these tests: 14 text tokens and [CLS] ... [SEP] per window
SHORT = ["a cat", "the dog runs fast", ""]
LONG = [
    "the man plays the guitar and the woman plays the piano " * 3,  # 33 text tokens
    "a dog runs fast in the car " * 5 + "what",
]
TEXTS = [*SHORT, *LONG]


def windows_embedder(model, stride=None):
    return load_embedder(
        model, device=CPU, max_seq_length=LENGTH, long_texts="windows", window_stride=stride
    )


def embed(embedder, texts, batch_size=4, use_cache=False):
    return embedder.embed(texts, batch_size=batch_size, precision="float32", use_cache=use_cache)


def tokens_of(lengths):
    """Tokens of texts of the given lengths: id 1 and 2 around ids counting up from 10."""
    ids = [np.r_[1, np.arange(10, 10 + n - 2), 2] for n in lengths]
    offsets = np.r_[0, np.cumsum([len(i) for i in ids])]
    return Tokens(np.concatenate(ids), offsets, 0)


def test_split_covers_every_token_in_windows_that_each_carry_the_special_tokens():
    tokens = tokens_of([2, 5, 6, 13])  # 0, 3, 4 and 11 text tokens
    windows, owner = split(tokens, Windows(size=4, stride=3, front=1, back=1))
    assert owner.tolist() == [0, 1, 2, 3, 3, 3, 3]
    got = [
        windows.ids[a:b].tolist()
        for a, b in zip(windows.offsets[:-1], windows.offsets[1:], strict=True)
    ]
    assert got == [
        [1, 2],
        [1, 10, 11, 12, 2],
        [1, 10, 11, 12, 13, 2],
        [1, 10, 11, 12, 13, 2],
        [1, 13, 14, 15, 16, 2],
        [1, 16, 17, 18, 19, 2],
        [1, 19, 20, 2],
    ]


def test_texts_that_fit_embed_exactly_as_with_truncation(tiny_model):
    cut = load_embedder(tiny_model, device=CPU, max_seq_length=LENGTH)
    np.testing.assert_array_equal(
        embed(windows_embedder(tiny_model), SHORT)[0], embed(cut, SHORT)[0]
    )


def test_a_long_text_is_the_token_weighted_mean_of_its_windows(tiny_st_model):
    embedder = windows_embedder(tiny_st_model)
    tokens = embedder.tokenize(LONG[:1])
    windows, _ = split(tokens, embedder.windows)
    rows = np.arange(len(windows))
    with torch.no_grad():
        vectors = embedder.encoder(*windows.padded(rows, embedder.pad_id), False).numpy()
    expected = (vectors * windows.lengths[:, None]).sum(axis=0) / windows.lengths.sum()
    expected /= np.linalg.norm(expected)  # the model normalises: after pooling the windows
    assert len(windows) == 4  # 33 text tokens: windows at 0, 7, 14 and 21
    np.testing.assert_allclose(embed(embedder, LONG[:1])[0][0], expected, atol=1e-5)


def test_a_texts_vector_depends_on_no_other_text_batch_size_chunk_or_cache(
    tiny_model, monkeypatch
):
    embedder = windows_embedder(tiny_model)
    together, n_truncated = embed(embedder, TEXTS)
    assert n_truncated == 0
    for batch_size in (1, 3, 64):
        alone = np.stack([embed(embedder, [t], batch_size)[0][0] for t in TEXTS])
        np.testing.assert_allclose(alone, together, atol=1e-5)
    np.testing.assert_allclose(embed(embedder, TEXTS[::-1])[0][::-1], together, atol=1e-5)
    monkeypatch.setattr("skbert._windows.CHUNK_CHARS", 40)  # a chunk per text or two
    np.testing.assert_allclose(embed(embedder, TEXTS)[0], together, atol=1e-5)
    EMBEDDINGS.clear()
    np.testing.assert_allclose(
        embed(embedder, TEXTS[3:], use_cache=True)[0], together[3:], atol=1e-5
    )
    np.testing.assert_allclose(embed(embedder, TEXTS, use_cache=True)[0], together, atol=1e-5)


def test_cache_keys_tell_truncation_and_each_stride_apart(tiny_model):
    cut = load_embedder(tiny_model, device=CPU, max_seq_length=LENGTH)
    identities = {
        cut.identity(),
        windows_embedder(tiny_model).identity(),
        windows_embedder(tiny_model, stride=3).identity(),
    }
    assert len(identities) == 3
    EMBEDDINGS.clear()
    truncated = embed(cut, LONG, use_cache=True)[0]
    whole = embed(windows_embedder(tiny_model), LONG, use_cache=True)[0]
    assert np.abs(whole - truncated).max() > 1e-3


def test_the_truncation_warning_counts_the_cut_texts_and_names_the_setting(tiny_model):
    vec = SBERTVectorizer(tiny_model, max_seq_length=LENGTH, cache_embeddings=False).fit(SHORT)
    with pytest.warns(TruncationWarning, match=r"2 of 5 texts .* long_texts='windows'"):
        vec.transform(TEXTS)
    vec = SBERTVectorizer(tiny_model, max_seq_length=LENGTH, long_texts="windows").fit(SHORT)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncationWarning)
        vec.transform(TEXTS)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"window_stride": 0}, r"window_stride=0 must lie in \[1, 14\].*window_stride=7"),
        ({"window_stride": 15}, r"window_stride=15 must lie in \[1, 14\]"),
        ({"max_seq_length": 2}, r"max_seq_length=2 holds only the 2 special tokens.*>= 3"),
    ],
)
def test_windows_that_do_not_fit_max_seq_length_are_refused(tiny_model, settings, message):
    params = {"max_seq_length": LENGTH, "long_texts": "windows", **settings}
    with pytest.raises(ValueError, match=message):
        SBERTVectorizer(tiny_model, **params).fit(SHORT)


def test_a_stride_without_windows_warns_that_it_has_no_effect(tiny_model):
    with pytest.warns(
        UserWarning, match="window_stride=5 has no effect with long_texts='trunc"
    ) as w:
        SBERTVectorizer(tiny_model, window_stride=5).fit(SHORT)
    assert w[0].filename == __file__  # points at the call of fit


def test_an_empty_text_has_one_window_and_embeds_as_with_truncation(tiny_model):
    cut = load_embedder(tiny_model, device=CPU, max_seq_length=LENGTH)
    whole = embed(windows_embedder(tiny_model), [""])[0]
    assert np.isfinite(whole).all()
    np.testing.assert_array_equal(whole, embed(cut, [""])[0])


def test_pickle_save_and_load_keep_the_windows(tiny_st_model, tmp_path):
    vec = SBERTVectorizer(
        tiny_st_model, max_seq_length=LENGTH, long_texts="windows", window_stride=5
    ).fit(SHORT)
    expected = vec.transform(TEXTS)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(vec)).transform(TEXTS), expected)
    loaded = SBERTVectorizer.load(vec.save(tmp_path / "m"))
    assert loaded.get_params()["long_texts"] == "windows"
    assert loaded.get_params()["window_stride"] == 5
    np.testing.assert_array_equal(loaded.transform(TEXTS), expected)


def test_sentence_transformers_loads_the_saved_folder_and_truncates_as_it_does(
    tiny_st_model, tmp_path
):
    st = pytest.importorskip("sentence_transformers")
    vec = SBERTVectorizer(tiny_st_model, max_seq_length=LENGTH, long_texts="windows").fit(SHORT)
    model = st.SentenceTransformer(str(vec.save(tmp_path / "m")), device="cpu")
    cut = SBERTVectorizer(tiny_st_model, max_seq_length=LENGTH, cache_embeddings=False)
    cut.fit(SHORT)
    with pytest.warns(TruncationWarning):
        np.testing.assert_allclose(model.encode(TEXTS), cut.transform(TEXTS), atol=1e-5)


def test_training_views_draw_a_window_of_the_same_text_reproducibly():
    tokens = tokens_of([5, 13, 30])  # 1, 4 and 9 windows of 4 text tokens every 3
    batch = Batch(np.array([[0, 1], [2, 2], [1, 0]] * 50), np.arange(150))
    first = training_views(tokens, Windows(4, 3, 1, 1), [[batch]], seed=3)
    again = training_views(tokens, Windows(4, 3, 1, 1), [[batch]], seed=3)
    windows, owner = split(tokens, Windows(4, 3, 1, 1))
    (view,) = first[1][0]
    assert first[0].ids.tolist() == windows.ids.tolist()
    np.testing.assert_array_equal(owner[view.index], batch.index)
    np.testing.assert_array_equal(view.target, batch.target)
    np.testing.assert_array_equal(view.index, again[1][0][0].index)
    assert len(np.unique(view.index[batch.index == 2])) == 9  # every window is drawn


def test_fine_tuning_on_windows_keeps_the_plan_and_trains(tiny_model):
    texts = [f"{t} {i}" for i, t in enumerate(LONG * 4)]
    labels = [0, 1] * 4
    params = {"max_seq_length": LENGTH, "batch_size": 4, "random_state": 0}
    cut = SBERTVectorizer(tiny_model, **params)
    with pytest.warns(TruncationWarning):
        cut.fit(texts, labels)
    whole = SBERTVectorizer(tiny_model, long_texts="windows", **params).fit(texts, labels)
    again = SBERTVectorizer(tiny_model, long_texts="windows", **params).fit(texts, labels)
    assert whole.plan_ == cut.plan_ and whole.n_truncated_ == 0 and cut.n_truncated_ == 8
    frozen = SBERTVectorizer(tiny_model, long_texts="windows", max_seq_length=LENGTH)
    frozen.fit(texts)
    assert np.abs(whole.transform(texts) - frozen.transform(texts)).max() > 1e-4
    np.testing.assert_array_equal(whole.transform(texts), again.transform(texts))
    assert [r["loss"] for r in whole.history_] != [r["loss"] for r in cut.history_]


def test_a_warm_start_takes_the_windows_asked_for_now(tiny_model):
    texts, labels = LONG * 4, [0, 1] * 4
    vec = SBERTVectorizer(
        tiny_model, max_seq_length=LENGTH, batch_size=4, loss="mnrl", random_state=0
    )
    with pytest.warns(TruncationWarning):
        vec.fit(texts, labels)
    vec.set_params(warm_start=True, long_texts="windows").fit(texts, labels)
    assert vec._fitted.embedder.windows is not None and vec.n_truncated_ == 0


def test_special_tokens_are_counted_without_the_tokenizers_own_padding(tiny_model):
    tokenizer = load_embedder(tiny_model, device=CPU).tokenizer
    tokenizer.backend_tokenizer.enable_padding(length=32)  # as all-MiniLM-L6-v2's file does
    windows = make_windows("windows", None, LENGTH, tokenizer)
    assert (windows.front, windows.back, windows.size, windows.stride) == (1, 1, 14, 7)
