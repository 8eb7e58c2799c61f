import json

import pytest

from skbert._st_format import read_config, write_config


def test_plain_huggingface_folder_states_nothing(tmp_path):
    config = read_config(tmp_path)
    assert (config.pooling, config.normalize, config.max_seq_length) == (None, False, None)
    assert config.transformer_path == tmp_path


@pytest.mark.parametrize("pooling", ["mean", "max", "cls"])
@pytest.mark.parametrize("normalize", [True, False])
def test_written_config_reads_back(tmp_path, pooling, normalize):
    write_config(tmp_path, pooling=pooling, normalize=normalize, max_seq_length=77, dim=8)
    config = read_config(tmp_path)
    assert (config.pooling, config.normalize, config.max_seq_length) == (pooling, normalize, 77)


def test_sentence_transformers_6_layout_is_read(tmp_path):
    modules = [
        {
            "idx": 0,
            "name": "0",
            "path": "",
            "type": "sentence_transformers.base.modules.transformer.Transformer",
        },
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling",
        },
        {
            "idx": 2,
            "name": "2",
            "path": "2_Normalize",
            "type": "sentence_transformers.base.modules.normalize.Normalize",
        },
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({"embedding_dimension": 8, "pooling_mode": "cls", "include_prompt": True})
    )
    config = read_config(tmp_path)
    assert (config.pooling, config.normalize) == ("cls", True)


def test_unsupported_module_is_an_error_not_a_silent_skip(tmp_path):
    modules = [
        {"idx": 0, "name": "0", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ValueError, match="Dense"):
        read_config(tmp_path)


def test_corrupt_json_names_the_file(tmp_path):
    (tmp_path / "modules.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"modules\.json"):
        read_config(tmp_path)
