import shutil

import pytest

from skbert._model_files import (
    check_loaded_weights,
    check_manifest,
    check_model_folder,
    loading,
    manifest,
    read_json,
)


@pytest.fixture
def folder(tiny_model, tmp_path):
    return shutil.copytree(tiny_model, tmp_path / "model")


def test_an_intact_folder_passes_and_says_safetensors(folder):
    assert check_model_folder(folder) is True


def test_read_json_names_a_missing_and_an_invalid_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"a.json is missing.*download it again"):
        read_json(tmp_path / "a.json")
    (tmp_path / "a.json").write_text("{")
    with pytest.raises(ValueError, match=r"a.json is not valid JSON"):
        read_json(tmp_path / "a.json")
    (tmp_path / "a.json").write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match=r"Could not read .*a.json"):
        read_json(tmp_path / "a.json")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[: len(b) // 2], "holds .* bytes where its header describes"),
        (lambda b: b + b"\0", "holds .* bytes where its header describes"),
        (lambda b: b[:5], "header is cut short"),
        (lambda b: (10**9).to_bytes(8, "little") + b[8:], "header is cut short"),
        (lambda b: b[:8] + b"#" + b[9:], "header is unreadable"),
    ],
    ids=["truncated", "trailing", "tiny", "header_too_long", "header_garbage"],
)
def test_a_damaged_safetensors_file_is_named(folder, damage, message):
    weights = folder / "model.safetensors"
    weights.write_bytes(damage(weights.read_bytes()))
    with pytest.raises(ValueError, match=rf"model.safetensors is damaged: (its |it )?{message}"):
        check_model_folder(folder)


def test_a_missing_config_is_named(folder):
    (folder / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"config.json is missing"):
        check_model_folder(folder)


def test_a_folder_without_weights_is_named(folder):
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"No weights in .*model.safetensors is missing"):
        check_model_folder(folder)


def test_pickle_weights_need_the_opt_in(folder):
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(
        OSError, match=r"only pickle-based ones \(pytorch_model.bin\).*allow_pickle"
    ):
        check_model_folder(folder)
    assert check_model_folder(folder, allow_pickle=True) is False


def test_a_folder_without_a_vocabulary_is_refused(folder):
    for name in ("tokenizer.json", "vocab.txt"):
        (folder / name).unlink()
    with pytest.raises(FileNotFoundError, match=r"No tokenizer vocabulary.*knows no words"):
        check_model_folder(folder)


@pytest.mark.parametrize("name", ["tokenizer.json", "tokenizer_config.json"])
def test_a_damaged_tokenizer_file_is_named(folder, name):
    (folder / name).write_text('{"truncated": ')
    with pytest.raises(ValueError, match=f"{name} is not valid JSON"):
        check_model_folder(folder)


def test_missing_weights_are_refused_except_the_unused_pooler():
    check_loaded_weights({"missing_keys": {"pooler.dense.weight"}}, "m")
    with pytest.raises(ValueError, match=r"lack 1 parameters .*'encoder.layer.1.output'"):
        check_loaded_weights({"missing_keys": {"encoder.layer.1.output"}}, "m")


def test_loading_names_the_folder_and_keeps_the_cause():
    expected = pytest.raises(OSError, match="Could not load the tokenizer in here: boom")
    with expected as info, loading("tokenizer", "here"):
        raise RuntimeError("boom")
    assert isinstance(info.value.__cause__, RuntimeError)


def test_loading_lets_an_interrupt_through():
    with pytest.raises(KeyboardInterrupt), loading("model", "here"):
        raise KeyboardInterrupt


def test_manifest_detects_missing_resized_and_changed_files(folder):
    files = {name: (entry["bytes"], entry["sha256"]) for name, entry in manifest(folder).items()}
    assert "model.safetensors" in files and "vocab.txt" in files
    check_manifest(folder, files)
    vocab = folder / "vocab.txt"
    text = vocab.read_bytes()
    vocab.write_bytes(text[::-1])  # same size, other content
    with pytest.raises(ValueError, match=r"vocab.txt is damaged or was changed.*SHA-256"):
        check_manifest(folder, files)
    vocab.write_bytes(text + b"x")
    with pytest.raises(ValueError, match=r"vocab.txt .*\d+ bytes instead of"):
        check_manifest(folder, files)
    vocab.unlink()
    with pytest.raises(FileNotFoundError, match=r"vocab.txt is missing"):
        check_manifest(folder, files)
