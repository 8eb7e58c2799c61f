"""Data-parallel fits on torch.distributed: two gloo processes on the loopback address.

The processes run the tiny random BERT without dropout and are compared with one process
fitting the same data here: the same losses and weights within float tolerance, each
process encoding half of the rows, the same weights on both ranks, uneven batches,
validation, checkpoints and saving by rank 0 only, no thread of the process group left once
it is destroyed, and clear errors for processes that were given other data or that stop
answering. Every launch has a time limit.
"""

import itertools
import os
import pickle
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from skbert import SBERTVectorizer
from skbert._checkpoint import FILE
from skbert._testing import make_tiny_bert
from skbert.distributed import fit_distributed

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 300  # seconds a launch of two processes may take, far above what it needs
ATOL = 1e-5  # weights of 2 ranks vs 1 process; fine-tuning moves them by > 1e-3

_SUBJECTS = ["a man", "a woman", "the dog", "a cat", "the person", "who"]
_ACTIONS = ["plays the guitar", "plays piano", "runs fast", "eats food", "drives the car"]
PAIRS = [
    (f"{s} {a}", f"{s} is happy" if i % 2 else f"{s} {a} in the city")
    for i, (s, a) in enumerate(itertools.product(_SUBJECTS, _ACTIONS))
][:24]
SCORES = np.linspace(0.0, 1.0, 24)
LABELS = np.arange(24) % 3
TEXTS = [a for a, _ in PAIRS]
KINDS = [text.split()[1] for text in TEXTS]  # the subject: 4 to 5 texts of each
LABEL_SETS = np.stack([LABELS == 0, LABELS == 1, np.arange(24) % 2 == 0], axis=1).astype(int)

# name: (parameters, X, y, other fit arguments); every fit trains 2 epochs at batch 8.
SCENARIOS = {
    "cosine": (
        {"loss": "cosine", "eval_steps": 2, "early_stopping": True, "n_iter_no_change": 9},
        PAIRS,
        SCORES,
        {"X_val": PAIRS[:6], "y_val": SCORES[:6]},
    ),
    "mnrl": ({"loss": "mnrl"}, PAIRS, None, {}),
    "softmax": ({"loss": "softmax"}, PAIRS, LABELS, {}),
    "batch_hard_triplet": (
        {"loss": "batch_hard_triplet", "texts_per_class": 2, "pairs_per_text": 2},
        TEXTS,
        KINDS,
        {},
    ),
    "label_sets": ({"loss": "cosent", "pairs_per_text": 2}, TEXTS, LABEL_SETS, {}),
    "targets": (
        {
            "loss": "head",
            "pairs_per_text": 2,
            "eval_steps": 2,
            "early_stopping": False,  # scored, not stopped: on 6 rows the ridge probe's score
        },  # may never improve, and the fit would keep its starting weights
        TEXTS,
        SCORES + 0.01,
        {"X_val": TEXTS[:6], "y_val": SCORES[:6] + 0.01},
    ),
    # batches of 5 rows (3 + 2 on 2 ranks) and, each epoch, one of a single row
    "uneven": ({"loss": "cosine", "batch_size": 5}, PAIRS[:21], SCORES[:21], {}),
}


def make(model, **params):
    defaults = {"batch_size": 8, "epochs": 2, "learning_rate": 1e-3, "random_state": 0}
    return SBERTVectorizer(model, **{**defaults, **params})


def weights(vec):
    return {k: v.detach().numpy().copy() for k, v in vec.encoder_.state_dict().items()}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(script, folder, *args, limit=LIMIT):
    """Run ``script`` with ``torchrun --nproc-per-node 2`` on the loopback address.

    The script gets ``folder`` and ``args``; the output of both processes is returned. The
    launcher and its processes are killed together past ``limit`` seconds.
    """
    path = Path(folder, "script.py")
    path.write_text(script)
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
        "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
        str(path), str(folder), *map(str, args),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    log = Path(folder, "torchrun.log")
    with log.open("w") as file:  # a file, not a pipe: a full pipe would stall a process
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        process.wait(timeout=limit)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    output = log.read_text()
    assert process.returncode == 0, output[-4000:]
    return output


# Each rank: every scenario, then a fit interrupted and resumed from rank 0's checkpoint,
# a fit given other data on rank 1, and a save; what it saw goes to rank<r>.pkl.
WORKER = """
import os, pickle, sys
import torch
torch.set_num_threads(1)
from skbert import _persistence, _training
from skbert._encoder import SentenceEncoder
from tests.test_torch_distributed import SCENARIOS, TEXTS, make, weights

out, model = sys.argv[1], sys.argv[2]
rank = int(os.environ["RANK"])
encoded, written = [], []
encode = SentenceEncoder.forward
def counting(self, input_ids, *args, **kwargs):
    if torch.is_grad_enabled():
        encoded.append(len(input_ids))
    return encode(self, input_ids, *args, **kwargs)
SentenceEncoder.forward = counting
save_file, save_folder = torch.save, _persistence.save
torch.save = lambda obj, f, **kw: written.append("checkpoint") or save_file(obj, f, **kw)
_persistence.save = lambda *a, **kw: written.append("model") or save_folder(*a, **kw)

def record(vec):
    return {"weights": weights(vec), "history": vec.history_, "encoded": sum(encoded),
            "embeddings": vec.transform(TEXTS[:4]), "stop_reason": vec.stop_reason_}

results = {}
for name, (params, X, y, fit_params) in SCENARIOS.items():
    encoded.clear()
    results[name] = record(make(model, **params).fit(X, y, **fit_params))

params, X, y, fit_params = SCENARIOS["cosine"]
params = {**params, "checkpoint_dir": os.path.join(out, "checkpoints"), "checkpoint_steps": 2}
step = _training._Loop.step
def interrupted(self, tokens, batch, epoch, index):
    if index == 5:
        raise KeyboardInterrupt
    return step(self, tokens, batch, epoch, index)
_training._Loop.step = interrupted
try:
    make(model, **params).fit(X, y, **fit_params)
except KeyboardInterrupt:
    results["checkpoint_files"] = sorted(os.listdir(params["checkpoint_dir"]))
_training._Loop.step = step
vec = make(model, **params).fit(X, y, **fit_params)
results["resumed"] = record(vec)
try:
    make(model, loss="cosine").fit(X, y + rank)
except ValueError as exc:
    results["other_data"] = str(exc)
results["saved"] = str(vec.save(os.path.join(out, "saved")))
results["written"] = written
torch.distributed.destroy_process_group()  # then no thread of the group may be left
tasks = "/proc/self/task"  # Linux names threads there
results["gloo_threads"] = None if not os.path.isdir(tasks) else sum(
    "gloo" in open(os.path.join(tasks, t, "comm")).read() for t in os.listdir(tasks)
)
with open(os.path.join(out, f"rank{rank}.pkl"), "wb") as f:
    pickle.dump(results, f)
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(make_tiny_bert(tmp_path_factory.mktemp("tiny-bert-no-dropout"), dropout=0.0))


@pytest.fixture(scope="module")
def one_process(model):
    """Each scenario fitted here, in one process, with one thread as each rank has."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the softmax probe's solver turns thread-dependent rounding
    try:  # into differences that training amplifies past the tolerance
        return {
            name: make(model, **params).fit(X, y, **fit_params)
            for name, (params, X, y, fit_params) in SCENARIOS.items()
        }
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ranks(model, tmp_path_factory):
    """What each of two processes that torchrun started saw (they set nothing up)."""
    out = tmp_path_factory.mktemp("ranks")
    torchrun(WORKER, out, model)
    return [pickle.loads((out / f"rank{rank}.pkl").read_bytes()) for rank in (0, 1)], out


# Weights whose gradient is zero in exact arithmetic, so that AdamW turns rounding noise into
# steps of +-learning_rate, in one process as in two: a key bias adds the same score to every
# key of a query, which softmax ignores; the last bias before pooling moves every embedding
# by the same vector, which Euclidean distances ignore.
NOISE_ONLY = ("attention.self.key.bias",)
EUCLIDEAN_NOISE_ONLY = ("layer.1.output.LayerNorm.bias",)


def assert_equal_fits(seen, vec, start, noise_only=NOISE_ONLY):
    moved = max(np.abs(w - start[k]).max() for k, w in weights(vec).items())
    assert moved > 100 * ATOL  # training moved the weights far more than the tolerance
    for k, w in weights(vec).items():
        if not k.endswith(noise_only):
            np.testing.assert_allclose(seen["weights"][k], w, rtol=0, atol=ATOL, err_msg=k)
    assert [r.keys() for r in seen["history"]] == [r.keys() for r in vec.history_]
    for record, expected in zip(seen["history"], vec.history_, strict=True):
        for key, value in expected.items():
            assert record[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_two_ranks_fit_as_one_process_at_the_same_global_batch(ranks, one_process, model, name):
    (rank0, rank1), _ = ranks
    start = weights(make(model, epochs=0).fit(TEXTS))
    euclidean = name == "batch_hard_triplet"
    noise_only = NOISE_ONLY + (EUCLIDEAN_NOISE_ONLY if euclidean else ())
    assert_equal_fits(rank0[name], one_process[name], start, noise_only)
    for key, value in rank0[name]["weights"].items():  # and the ranks hold the same weights
        np.testing.assert_array_equal(rank1[name]["weights"][key], value)
    np.testing.assert_array_equal(rank1[name]["embeddings"], rank0[name]["embeddings"])
    assert rank1[name]["history"] == rank0[name]["history"]


@pytest.mark.parametrize("name", ["cosine", "mnrl", "softmax", "batch_hard_triplet"])
def test_each_rank_encodes_half_of_the_rows(ranks, name):
    (rank0, rank1), _ = ranks
    rows = [rank0[name]["encoded"], rank1[name]["encoded"]]
    assert rows[0] == rows[1] > 0  # batches of 8 rows: 4 on each rank


def test_uneven_batches_finish_and_a_rank_without_rows_encodes_one_stand_in(ranks):
    (rank0, rank1), _ = ranks
    # 2 epochs of 4 batches of 5 rows (3 + 2) and one of 1 row (1 + a stand-in), 2 columns
    assert (rank0["uneven"]["encoded"], rank1["uneven"]["encoded"]) == (2 * 2 * 13, 2 * 2 * 9)
    assert rank0["uneven"]["stop_reason"] == rank1["uneven"]["stop_reason"] == "completed"


def test_validation_and_early_stopping_agree_on_every_rank(ranks):
    (rank0, rank1), _ = ranks
    scores = [r for r in rank1["cosine"]["history"] if "validation_score" in r]
    assert [r["steps_run"] for r in scores] == [0, 2, 3, 4, 6]
    assert rank1["cosine"]["history"] == rank0["cosine"]["history"]


def test_only_rank_0_writes_checkpoints_and_saves(ranks, model):
    (rank0, rank1), out = ranks
    assert rank0["checkpoint_files"] == [FILE] and rank1["checkpoint_files"] == [FILE]
    assert "checkpoint" in rank0["written"] and "model" in rank0["written"]
    assert rank1["written"] == []
    assert rank0["saved"] == rank1["saved"] == str(out / "saved")
    loaded = SBERTVectorizer.load(out / "saved", device="cpu")
    np.testing.assert_allclose(loaded.transform(TEXTS[:4]), rank0["resumed"]["embeddings"])
    assert list((out / "checkpoints").iterdir()) == []  # cleared by rank 0 after the fit


def test_destroying_the_process_group_ends_its_threads(ranks):
    # A group that outlived destroy_process_group kept its gloo threads into the
    # interpreter's shutdown, where they aborted 5 launches in 91 (SIGABRT).
    (rank0, rank1), _ = ranks
    if rank0["gloo_threads"] is None:
        pytest.skip("the names of a process's threads are read from /proc, on Linux only")
    assert rank0["gloo_threads"] == rank1["gloo_threads"] == 0


def test_a_fit_resumes_on_every_rank_from_rank_0s_checkpoint(ranks, one_process, model):
    (rank0, rank1), _ = ranks
    start = weights(make(model, epochs=0).fit(TEXTS))
    assert_equal_fits(rank0["resumed"], one_process["cosine"], start)
    assert rank1["resumed"]["history"] == rank0["resumed"]["history"]


def test_processes_given_other_data_fail_on_every_rank_with_a_clear_error(ranks):
    (rank0, rank1), _ = ranks
    assert rank0["other_data"] == rank1["other_data"]
    assert "Rank(s) [1]" in rank0["other_data"] and "do not shard the data" in rank0["other_data"]


STALLED = """
import os, sys, time, datetime
import torch
from torch import distributed as dist
from tests.test_torch_distributed import PAIRS, SCORES, make

dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=3))
if dist.get_rank() == 1:
    time.sleep(8)  # never reaches fit
    sys.exit(0)
started = time.monotonic()
try:
    make(sys.argv[2], loss="cosine").fit(PAIRS, SCORES)
except RuntimeError as exc:
    print(f"after {time.monotonic() - started:.0f} s: {exc}", flush=True)
os._exit(0)  # leaving a broken gloo group at exit may abort
"""


@pytest.mark.slow  # two more processes, and a wait for the timeout
def test_a_collective_that_cannot_complete_fails_after_the_timeout(model, tmp_path):
    output = torchrun(STALLED, tmp_path, model)
    assert "Rank 0 of the 2 processes of a data-parallel fit could not complete" in output
    assert "stalled for longer than the process group's timeout" in output
    assert float(output.split("after ")[1].split(" s")[0]) < 15


def test_fit_distributed_returns_the_fit_of_one_process(model, one_process):
    params, X, y, _ = SCENARIOS["mnrl"]
    fitted = fit_distributed(make(model, **params), X, y, n_processes=2, timeout=60)
    start = weights(make(model, epochs=0).fit(TEXTS))
    assert_equal_fits(
        {"weights": weights(fitted), "history": fitted.history_}, one_process["mnrl"], start
    )
    assert fitted.transform(TEXTS[:2]).shape == (2, 32)


@pytest.mark.slow  # two more processes
def test_fit_distributed_raises_the_error_of_a_process(model):
    with pytest.raises(ValueError, match="loss='softmax' trains on") as info:
        fit_distributed(make(model, loss="softmax"), PAIRS, SCORES, n_processes=2, timeout=60)
    assert "Traceback" in str(info.value.__cause__)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_processes": 0}, "n_processes=0 must be an int >= 1"),
        ({"n_processes": 2, "timeout": 0}, "timeout=0 must be a positive number"),
        ({"n_processes": 2, "backend": "mpi"}, "backend='mpi' is not one of"),
        ({"n_processes": 2, "backend": "nccl"}, "backend='nccl' needs a GPU per process"),
    ],
)
def test_fit_distributed_checks_its_arguments_before_starting_processes(kwargs, match):
    if torch.cuda.device_count() >= 2 and kwargs.get("backend") == "nccl":
        pytest.skip("this machine has a GPU per process")
    with pytest.raises(ValueError, match=match):
        fit_distributed(SBERTVectorizer(), PAIRS, SCORES, **kwargs)


def test_fit_distributed_with_one_process_fits_a_copy_here(model):
    vec = make(model, loss="mnrl")
    fitted = fit_distributed(vec, PAIRS, n_processes=1)
    assert fitted is not vec and "_fitted" not in vars(vec)
    np.testing.assert_array_equal(
        fitted.transform(TEXTS[:2]), make(model, loss="mnrl").fit(PAIRS).transform(TEXTS[:2])
    )
