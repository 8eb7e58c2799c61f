"""Files: atomic saves under faults, loads that name the bad file, no code or network unasked."""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from skbert import SBERTVectorizer, _embedder, _persistence
from skbert._persistence import SKBERT_CONFIG
from tests.conftest import PAIRS, SCORES

TEXTS = ["a man plays the guitar", "a dog runs fast", "what is the answer"]
ROOT = Path(__file__).resolve().parents[1]


def digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def fitted(tiny_st_model):
    vec = SBERTVectorizer(tiny_st_model, loss="cosine", batch_size=4, random_state=0)
    return vec.fit(PAIRS, SCORES)


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    return fitted.save(tmp_path_factory.mktemp("saved") / "model")


@pytest.fixture
def copy(saved, tmp_path):
    return Path(shutil.copytree(saved, tmp_path / "copy"))


# -- save is atomic -------------------------------------------------------------------------


def _break_weights(vec, monkeypatch, error):
    """Write the weights, then cut the file in half and fail: a crash in mid-write."""
    cls = type(vec.encoder_.transformer)
    original = cls.save_pretrained

    def save_pretrained(self, folder, *args, **kwargs):
        original(self, folder, *args, **kwargs)
        weights = Path(folder) / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:100])
        raise error

    monkeypatch.setattr(cls, "save_pretrained", save_pretrained)


def _break_tokenizer(vec, monkeypatch, error):
    monkeypatch.setattr(type(vec.tokenizer_), "save_pretrained", _raiser(error))


def _break_st_files(vec, monkeypatch, error):
    monkeypatch.setattr(_embedder, "write_config", _raiser(error))


def _break_manifest(vec, monkeypatch, error):
    monkeypatch.setattr(_persistence, "manifest", _raiser(error))


def _break_flush(vec, monkeypatch, error):
    monkeypatch.setattr(_persistence, "_fsync", _raiser(error))


def _break_rename(monkeypatch, error):
    """Make renaming the staging folder into place raise ``error``."""
    original = Path.rename

    def rename(self, target):
        if self.name.endswith(".partial"):
            raise error
        return original(self, target)

    monkeypatch.setattr(Path, "rename", rename)


def _break_final_step(vec, monkeypatch, error):
    """Fail the step that puts the new folder in place: a rename, or the atomic exchange."""
    _break_rename(monkeypatch, error)
    monkeypatch.setattr(_persistence, "_exchange", _raiser(error))


def _raiser(error):
    def fail(*args, **kwargs):
        raise error

    return fail


FAULTS = {
    "weights_half_written": _break_weights,
    "tokenizer": _break_tokenizer,
    "sentence_transformers_files": _break_st_files,
    "manifest": _break_manifest,
    "flush": _break_flush,
    "final_step": _break_final_step,
}


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()], ids=repr)
@pytest.mark.parametrize("fault", FAULTS)
def test_a_failed_first_save_leaves_nothing(fitted, tmp_path, monkeypatch, fault, error):
    FAULTS[fault](fitted, monkeypatch, error)
    with pytest.raises(type(error)):
        fitted.save(tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()], ids=repr)
@pytest.mark.parametrize("fault", FAULTS)
def test_a_failed_overwrite_keeps_the_old_folder(fitted, copy, monkeypatch, fault, error):
    before = digest(copy)
    FAULTS[fault](fitted, monkeypatch, error)
    with pytest.raises(type(error)):
        fitted.save(copy, overwrite=True)
    monkeypatch.undo()
    assert [p.name for p in copy.parent.iterdir()] == ["copy"]
    assert digest(copy) == before
    np.testing.assert_array_equal(
        SBERTVectorizer.load(copy).transform(TEXTS), fitted.transform(TEXTS)
    )


def test_exchange_swaps_two_folders(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "x").mkdir(parents=True)
    (b / "y").mkdir(parents=True)
    if not _persistence._exchange(a, b):
        pytest.skip("this system or filesystem has no atomic exchange; save uses two renames")
    assert [p.name for p in a.iterdir()] == ["y"] and [p.name for p in b.iterdir()] == ["x"]


def test_an_overwrite_leaves_only_the_new_folder(fitted, copy):
    (copy / "stale.txt").write_text("from before")
    fitted.save(copy, overwrite=True)
    assert not (copy / "stale.txt").exists()
    assert [p.name for p in copy.parent.iterdir()] == ["copy"]


def test_without_an_atomic_exchange_a_failed_overwrite_still_restores(fitted, copy, monkeypatch):
    before = digest(copy)
    _break_rename(monkeypatch, KeyboardInterrupt())
    monkeypatch.setattr(_persistence, "_exchange", lambda a, b: False)
    with pytest.raises(KeyboardInterrupt):
        fitted.save(copy, overwrite=True)
    monkeypatch.undo()
    monkeypatch.setattr(_persistence, "_exchange", lambda a, b: False)
    assert [p.name for p in copy.parent.iterdir()] == ["copy"]
    assert digest(copy) == before
    fitted.save(copy, overwrite=True)
    assert [p.name for p in copy.parent.iterdir()] == ["copy"]


def test_load_points_to_a_previous_version_stranded_by_a_killed_save(copy):
    stranded = copy.rename(copy.with_name(".copy.0123.old"))
    with pytest.raises(FileNotFoundError, match=f"previous version at {stranded}: rename it"):
        SBERTVectorizer.load(copy)


KILL_SCRIPT = """
import os, signal, sys
from pathlib import Path
from skbert import SBERTVectorizer, _embedder, _persistence

vec = SBERTVectorizer.load(sys.argv[1])
point = sys.argv[3]
exchange = _persistence._exchange

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

def exchange_then_die(a, b):
    exchange(a, b)
    die()

if point == "weights":
    type(vec.encoder_.transformer).save_pretrained = die
elif point == "sentence_transformers_files":
    _embedder.write_config = die
elif point == "exchange":
    _persistence._exchange = die
elif point == "after_exchange":
    _persistence._exchange = exchange_then_die
else:  # two renames, killed between them
    _persistence._exchange = lambda a, b: False
    rename = Path.rename
    Path.rename = lambda self, target: die() if self.name.endswith(".partial") else rename(
        self, target
    )
vec.set_params(loss="auto").fit(["a dog"])  # a fit unlike the saved one
vec.save(sys.argv[2], overwrite=True)
"""


def kill_save(saved, target, point):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(saved), str(target), point],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert run.returncode == -signal.SIGKILL, run.stderr.decode()[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("point", ["weights", "sentence_transformers_files", "exchange"])
def test_a_save_killed_before_the_swap_keeps_the_old_folder(saved, tmp_path, point):
    target = Path(shutil.copytree(saved, tmp_path / "m"))
    before = digest(target)
    kill_save(saved, target, point)
    assert digest(target) == before
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "m"]
    assert all(name.startswith(".m.") and name.endswith(".partial") for name in leftovers)
    assert SBERTVectorizer.load(target).loss_ == "cosine"


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="the atomic exchange is Linux's renameat2")
def test_a_save_killed_after_the_swap_leaves_the_complete_new_folder(saved, tmp_path):
    target = Path(shutil.copytree(saved, tmp_path / "m"))
    kill_save(saved, target, "after_exchange")
    assert SBERTVectorizer.load(target).loss_ is None  # the new fit, whole


@pytest.mark.slow
def test_a_save_killed_between_two_renames_is_recoverable(saved, tmp_path):
    target = Path(shutil.copytree(saved, tmp_path / "m"))
    before = digest(target)
    kill_save(saved, target, "between_renames")
    with pytest.raises(FileNotFoundError, match=r"previous version at .*rename it to m") as info:
        SBERTVectorizer.load(target)
    stranded = Path(re.search(r"previous version at (\S+):", str(info.value)).group(1))
    assert digest(stranded) == before


# -- load names the missing or damaged file -------------------------------------------------

SAVED_FILES = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
]


def test_the_saved_folder_lists_every_file_it_holds(saved):
    listed = json.loads((saved / SKBERT_CONFIG).read_text())["files"]
    assert set(SAVED_FILES) <= set(listed)
    assert set(listed) == set(digest(saved)) - {SKBERT_CONFIG}


@pytest.mark.parametrize("name", SAVED_FILES)
def test_load_names_a_missing_file(copy, name):
    (copy / name).unlink()
    with pytest.raises(FileNotFoundError, match=f"{name} is missing.*Save the vectorizer again"):
        SBERTVectorizer.load(copy)


@pytest.mark.parametrize("name", SAVED_FILES)
@pytest.mark.parametrize(
    "damage",
    [lambda b: b[: len(b) // 2], lambda b: bytes([b[0] ^ 1]) + b[1:]],
    ids=["truncated", "one_bit_flipped"],
)
def test_load_names_a_damaged_file(copy, name, damage):
    path = copy / name
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=f"{name} is damaged or was changed after it was saved"):
        SBERTVectorizer.load(copy)


def test_load_names_a_corrupt_skbert_config(copy):
    (copy / SKBERT_CONFIG).write_text('{"params": {}, "fitted": {}, "files": 3}')
    with pytest.raises(ValueError, match=f"{SKBERT_CONFIG} is corrupt.*save the vectorizer again"):
        SBERTVectorizer.load(copy)


def test_a_file_list_pointing_outside_the_folder_is_corrupt(copy):
    config = json.loads((copy / SKBERT_CONFIG).read_text())
    config["files"]["../elsewhere"] = {"bytes": 1, "sha256": "0"}
    (copy / SKBERT_CONFIG).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="outside the folder"):
        SBERTVectorizer.load(copy)


@pytest.fixture
def st_folder(tiny_st_model, tmp_path):
    """A sentence-transformers folder not written by skbert: no file list to check against."""
    return Path(shutil.copytree(tiny_st_model, tmp_path / "st"))


def _swap_weights(folder):
    """Weights of a model with one layer fewer than config.json describes."""
    from skbert._testing import make_tiny_bert

    other = make_tiny_bert(folder.parent / "other", num_layers=1)
    shutil.copy(other / "model.safetensors", folder / "model.safetensors")


FOREIGN_DAMAGE = {
    "no_config": (
        lambda f: (f / "config.json").unlink(),
        FileNotFoundError,
        "config.json is missing",
    ),
    "config_not_json": (
        lambda f: (f / "config.json").write_text("{"),
        ValueError,
        "config.json is not valid JSON",
    ),
    "config_without_model_type": (
        lambda f: (f / "config.json").write_text("{}"),
        OSError,
        "Could not load the model in .*model_type",
    ),
    "weights_truncated": (
        lambda f: (f / "model.safetensors").write_bytes(
            (f / "model.safetensors").read_bytes()[:999]
        ),
        ValueError,
        "model.safetensors is damaged",
    ),
    "weights_of_another_model": (
        _swap_weights,
        ValueError,
        "lack .* parameters .*'encoder.layer.1",
    ),
    "no_tokenizer": (
        lambda f: [(f / n).unlink() for n in ("tokenizer.json", "vocab.txt")],
        FileNotFoundError,
        "No tokenizer vocabulary",
    ),
    "tokenizer_not_json": (
        lambda f: (f / "tokenizer.json").write_text("[1, "),
        ValueError,
        "tokenizer.json is not valid JSON",
    ),
    "modules_not_json": (
        lambda f: (f / "modules.json").write_text("{"),
        ValueError,
        "modules.json is not valid JSON",
    ),
    "pooling_config_missing": (
        lambda f: (f / "1_Pooling" / "config.json").unlink(),
        FileNotFoundError,
        "1_Pooling/config.json is missing",
    ),
}


@pytest.mark.parametrize("case", FOREIGN_DAMAGE)
def test_a_damaged_model_folder_is_named_in_fit_and_load(st_folder, case):
    damage, error, pattern = FOREIGN_DAMAGE[case]
    damage(st_folder)
    with pytest.raises(error, match=pattern):
        SBERTVectorizer(str(st_folder)).fit(TEXTS)
    with pytest.raises(error, match=pattern):
        SBERTVectorizer.load(st_folder)


# -- no pickles, no remote code, no network unless asked ------------------------------------


@pytest.fixture
def pickle_folder(tiny_model, tmp_path):
    """The tiny model with its weights as pytorch_model.bin (a pickle) instead of safetensors."""
    from transformers import AutoModel

    folder = Path(shutil.copytree(tiny_model, tmp_path / "pickled"))
    torch.save(AutoModel.from_pretrained(tiny_model).state_dict(), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    return folder


def test_pickle_weights_are_refused_unless_allowed(pickle_folder, tiny_model):
    with pytest.raises(OSError, match=r"pytorch_model.bin.*allow_pickle=True"):
        SBERTVectorizer(str(pickle_folder)).fit(TEXTS)
    with pytest.raises(OSError, match="allow_pickle=True"):
        SBERTVectorizer.load(pickle_folder)
    allowed = SBERTVectorizer(str(pickle_folder), allow_pickle=True).fit(TEXTS)
    reference = SBERTVectorizer(tiny_model).fit(TEXTS)
    np.testing.assert_array_equal(allowed.transform(TEXTS), reference.transform(TEXTS))
    loaded = SBERTVectorizer.load(pickle_folder, allow_pickle=True)
    np.testing.assert_array_equal(loaded.transform(TEXTS), reference.transform(TEXTS))


@pytest.fixture
def remote_code_folder(tiny_model, tmp_path):
    """A model whose config.json asks to run the Python file shipped with it."""
    folder = Path(shutil.copytree(tiny_model, tmp_path / "remote"))
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.Config", "AutoModel": "evil.Model"}
    (folder / "config.json").write_text(json.dumps(config))
    marker = tmp_path / "code-ran"
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    return folder, marker


def test_code_shipped_with_a_model_does_not_run_by_default(remote_code_folder):
    folder, marker = remote_code_folder
    assert SBERTVectorizer(str(folder)).fit(TEXTS).transform(TEXTS).shape == (3, 32)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "unknown"}))
    with pytest.raises(OSError, match="trust_remote_code=True"):
        SBERTVectorizer(str(folder)).fit(TEXTS)
    assert not marker.exists()


def test_load_never_takes_trust_or_pickle_settings_from_the_folder(copy):
    config = json.loads((copy / SKBERT_CONFIG).read_text())
    config["params"].update(trust_remote_code=True, allow_pickle=True, future_option=1)
    (copy / SKBERT_CONFIG).write_text(json.dumps(config))
    with pytest.warns(UserWarning, match=r"\['future_option'\]; they are ignored"):
        vec = SBERTVectorizer.load(copy)
    assert vec.trust_remote_code is False and vec.allow_pickle is False


@pytest.fixture
def no_network(monkeypatch):
    """Record, and refuse, every connection and every Hugging Face download."""
    import huggingface_hub
    import transformers.utils.hub

    attempts = []

    def refuse(name):
        def refused(*args, **kwargs):
            attempts.append((name, args[:2], kwargs.get("local_files_only")))
            if kwargs.get("local_files_only"):
                return original_snapshot(*args, **kwargs)
            raise OSError(f"test: {name} is not allowed")

        return refused

    original_snapshot = huggingface_hub.snapshot_download
    for module, name in [
        (socket.socket, "connect"),
        (socket, "create_connection"),
        (socket, "getaddrinfo"),
        (huggingface_hub, "snapshot_download"),
        (huggingface_hub, "hf_hub_download"),
        (transformers.utils.hub, "hf_hub_download"),
    ]:
        monkeypatch.setattr(module, name, refuse(name))
    return attempts


def test_a_local_folder_never_touches_the_network(no_network, tiny_st_model, saved):
    SBERTVectorizer(tiny_st_model, loss="cosine", batch_size=4).fit(PAIRS, SCORES)
    SBERTVectorizer.load(saved).transform(TEXTS)
    assert no_network == []


def test_hf_hub_offline_set_at_run_time_keeps_a_hub_id_off_the_network(no_network, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="not contacted, since HF_HUB_OFFLINE is set"):
        SBERTVectorizer("someone/some-model").fit(TEXTS)
    assert [attempt[2] for attempt in no_network] == [True]  # the local cache only


# -- a model fitted on a GPU -----------------------------------------------------------------

GPU_SCRIPT = """
import pickle, sys
import numpy as np
from skbert import SBERTVectorizer
texts = ["a man plays the guitar", "a dog runs fast"]
vec = SBERTVectorizer.load(sys.argv[1], device="cpu")
with open(sys.argv[2], "rb") as f:
    unpickled = pickle.load(f)
assert unpickled.device_.type == "cpu", unpickled.device_
np.testing.assert_allclose(vec.transform(texts), np.load(sys.argv[3]), atol=1e-4)
np.testing.assert_allclose(unpickled.transform(texts), np.load(sys.argv[3]), atol=1e-4)
"""


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_vectorizer_fitted_on_a_gpu_saves_pickles_and_loads_on_a_cpu(tiny_model, tmp_path):
    import pickle

    vec = SBERTVectorizer(tiny_model, loss="cosine", batch_size=4, device="cuda", random_state=0)
    vec.fit(PAIRS, SCORES)
    assert vec.device_.type == "cuda"
    np.save(tmp_path / "expected.npy", vec.transform(TEXTS[:2]))
    vec.save(tmp_path / "saved")
    (tmp_path / "vec.pkl").write_bytes(pickle.dumps(vec))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    args = [str(tmp_path / name) for name in ("saved", "vec.pkl", "expected.npy")]
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(GPU_SCRIPT), *args],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
