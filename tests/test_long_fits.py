"""Long fits under control: budgets, validation data, checkpoints, warm starts, progress."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn import config_context
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skbert import SBERTVectorizer, _training
from skbert._checkpoint import FILE
from tests.conftest import PAIRS, SCORES

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["a man plays the guitar", "a dog runs fast", "what is the answer"]
X = [(a + " " + w, b) for w in ["now", "then", "again"] for a, b in PAIRS]  # 24 pairs
Y = np.tile(SCORES, 3) + np.linspace(0, 0.3, 24)
X_VAL, Y_VAL = PAIRS[:6], SCORES[:6]


def make(model, **params):
    return SBERTVectorizer(
        model, **{"loss": "cosine", "batch_size": 4, "random_state": 0, **params}
    )


def steps(vec):
    return [r for r in vec.history_ if "loss" in r]


# -- budgets -----------------------------------------------------------------------------------


def test_max_steps_stops_there_and_the_schedule_is_planned_for_them(tiny_model):
    vec = make(tiny_model, epochs=3, max_steps=5, warmup_ratio=0.0).fit(X, Y)
    assert vec.plan_.total_steps == 5 and len(steps(vec)) == 5
    assert vec.stop_reason_ == "max_steps"
    assert steps(vec)[-1]["learning_rate"] == pytest.approx(2e-5 / 5)  # the decay's last step


def test_max_time_stops_at_a_step_boundary_and_says_so(tiny_model, monkeypatch):
    clock = iter(range(0, 10_000, 10))  # each reading of the clock is 10 s after the last
    monkeypatch.setattr(_training.time, "monotonic", lambda: next(clock))
    vec = make(tiny_model, epochs=3, max_time=35).fit(X, Y)
    assert vec.stop_reason_ == "max_time" and len(steps(vec)) == 4
    assert vec.plan_.total_steps == 18  # planned for every step, as the stop was not known


def test_a_fit_that_runs_every_step_completes(tiny_model):
    assert make(tiny_model).fit(X, Y).stop_reason_ == "completed"
    assert make(tiny_model, epochs=0).fit(X, Y).stop_reason_ is None


# -- validation data ---------------------------------------------------------------------------


def test_x_val_is_scored_at_the_start_every_eval_steps_and_each_epoch(tiny_model):
    vec = make(tiny_model, epochs=2, eval_steps=4).fit(X, Y, X_val=X_VAL, y_val=Y_VAL)
    records = [r for r in vec.history_ if "validation_score" in r]
    assert [r["steps_run"] for r in records] == [0, 4, 6, 8, 12]
    assert vec.plan_.validation == "given" and vec.plan_.n_validation == 6
    assert vec.plan_.n_train == 24  # nothing held out of X
    assert len(steps(vec)) == 12  # without early_stopping, scores are only recorded


def test_x_val_drives_early_stopping_when_given(tiny_model):
    vec = make(tiny_model, epochs=3, early_stopping=True, n_iter_no_change=1)
    vec.fit(X, Y, X_val=X_VAL, y_val=Y_VAL)
    assert vec.plan_.validation == "given" and vec.plan_.validation_metric == "spearman"
    assert vec.plan_.n_train == 24


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"y_val": Y_VAL}, "y_val was given without X_val"),
        ({"X_val": TEXTS, "y_val": [1.0, 2.0, 3.0]}, "X_val holds texts but X holds pairs"),
        ({"X_val": X_VAL}, "y_val must be given"),
        ({"X_val": X_VAL, "y_val": Y_VAL[:5]}, "X_val has 6 rows but y_val has 5"),
        ({"X_val": [("a", None)], "y_val": [1.0]}, r"X_val\[0\]\[1\] is None"),
    ],
)
def test_bad_validation_data_is_named_before_the_model_loads(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make("/no/such/model").fit(X, Y, **kwargs)


def test_validation_data_routes_through_pipeline_and_grid_search(tiny_model):
    texts = [f"{w} is the {n}" for w in ["what", "who", "where"] for n in ["answer", "name"]]
    kinds = ["what", "what", "who", "who", "where", "where"] * 2
    X_texts = texts + [t + " now" for t in texts]
    with config_context(enable_metadata_routing=True):
        vec = SBERTVectorizer(
            tiny_model, loss="contrastive", pairs_per_text=2, batch_size=8, random_state=0
        ).set_fit_request(X_val=True, y_val=True)
        pipe = make_pipeline(vec, LogisticRegression(max_iter=200))
        search = GridSearchCV(pipe, {"logisticregression__C": [0.1, 1.0]}, cv=2)
        search.fit(X_texts, kinds, X_val=texts[:3], y_val=kinds[:3])
    fitted = search.best_estimator_[0]
    assert fitted.plan_.validation == "given" and fitted.plan_.n_validation == 3
    assert any("validation_score" in r for r in fitted.history_)


# -- checkpoints -------------------------------------------------------------------------------

FIT_SCRIPT = """
import hashlib, os, signal, sys
import numpy as np, torch
torch.set_num_threads(1)
from skbert import SBERTVectorizer, _training
from tests.test_long_fits import X, Y, X_VAL, Y_VAL

model, folder, out, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ran = []
real_step = _training._Loop.step
def step(self, tokens, batch, epoch, index):
    if index == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    ran.append(index)
    return real_step(self, tokens, batch, epoch, index)
_training._Loop.step = step
vec = SBERTVectorizer(model, loss="cosine", batch_size=4, epochs=3, random_state=0,
                      early_stopping=True, n_iter_no_change=10, eval_steps=5,
                      checkpoint_dir=folder, checkpoint_steps=4)
vec.fit(X, Y, X_val=X_VAL, y_val=Y_VAL)
weights = b"".join(t.numpy().tobytes() for t in vec.encoder_.state_dict().values())
with open(out, "w") as f:
    print(hashlib.sha256(weights).hexdigest(), ran[0], len(ran), repr(vec.history_), file=f)
"""


def run_fit(model, folder, out, kill_at=-1):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FIT_SCRIPT), model, str(folder), str(out),
         str(kill_at)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.slow  # three fits in subprocesses
def test_a_fit_killed_mid_way_resumes_to_the_same_weights_bit_for_bit(tiny_model, tmp_path):
    killed = run_fit(tiny_model, tmp_path / "ckpt", tmp_path / "none", kill_at=10)
    assert killed.returncode == -9 and (tmp_path / "ckpt" / FILE).is_file()
    resumed = run_fit(tiny_model, tmp_path / "ckpt", tmp_path / "resumed.txt")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    whole = run_fit(tiny_model, tmp_path / "fresh", tmp_path / "whole.txt")
    assert whole.returncode == 0, whole.stderr[-2000:]
    digest, first, count, history = (tmp_path / "resumed.txt").read_text().split(" ", 3)
    expected, first_whole, count_whole, history_whole = (
        (tmp_path / "whole.txt").read_text().split(" ", 3)
    )
    assert (first, count) == ("8", "10") and (first_whole, count_whole) == ("0", "18")
    assert digest == expected and history == history_whole
    assert list((tmp_path / "ckpt").iterdir()) == []  # emptied after the successful fit


def test_a_checkpoint_of_another_fit_is_refused(tiny_model, tmp_path, monkeypatch):
    interrupt_at(monkeypatch, 6)
    with pytest.raises(KeyboardInterrupt):
        make(tiny_model, epochs=2, checkpoint_dir=tmp_path, checkpoint_steps=2).fit(X, Y)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="is the checkpoint of another fit"):
        make(tiny_model, epochs=2, checkpoint_dir=tmp_path, learning_rate=1e-4).fit(X, Y)


def interrupt_at(monkeypatch, index):
    real = _training._Loop.step

    def step(self, tokens, batch, epoch, i):
        if i == index:
            raise KeyboardInterrupt
        return real(self, tokens, batch, epoch, i)

    monkeypatch.setattr(_training._Loop, "step", step)


def test_ctrl_c_keeps_the_earlier_fit_and_the_checkpoint(tiny_model, tmp_path, monkeypatch):
    vec = make(tiny_model, epochs=2, checkpoint_dir=tmp_path, checkpoint_steps=2).fit(X, Y)
    before = vec.transform(TEXTS)
    assert list(tmp_path.iterdir()) == []
    interrupt_at(monkeypatch, 5)
    with pytest.raises(KeyboardInterrupt):
        vec.set_params(learning_rate=1e-3).fit(X, Y)
    np.testing.assert_array_equal(vec.transform(TEXTS), before)
    assert torch.load(tmp_path / FILE, weights_only=True)["step"] == 4
    monkeypatch.undo()
    vec.fit(X, Y)  # the same fit again resumes, then empties the folder
    assert list(tmp_path.iterdir()) == [] and len(steps(vec)) == 12


def test_resuming_skips_the_steps_already_run(tiny_model, tmp_path, monkeypatch):
    interrupt_at(monkeypatch, 7)
    params = {"epochs": 2, "checkpoint_dir": tmp_path, "checkpoint_steps": 3}
    with pytest.raises(KeyboardInterrupt):
        make(tiny_model, **params).fit(X, Y)
    monkeypatch.undo()
    ran = []
    real = _training._Loop.step
    monkeypatch.setattr(
        _training._Loop, "step", lambda self, t, b, e, i: ran.append(i) or real(self, t, b, e, i)
    )
    vec = make(tiny_model, **params).fit(X, Y)
    assert ran == list(range(6, 12)) and len(steps(vec)) == 12


# -- warm starts -------------------------------------------------------------------------------


def test_warm_start_continues_from_the_fitted_encoder(tiny_model):
    vec = make(tiny_model, learning_rate=1e-3).fit(X, Y)
    tuned = vec.transform(TEXTS)
    vec.set_params(warm_start=True, epochs=0).fit(X, Y)  # starts from the fit, trains nothing
    np.testing.assert_array_equal(vec.transform(TEXTS), tuned)
    vec.set_params(warm_start=False).fit(X, Y)  # starts from the model files
    assert not np.allclose(vec.transform(TEXTS), tuned)


def test_a_warm_start_trains_a_copy(tiny_model):
    vec = make(tiny_model, learning_rate=1e-3).fit(X, Y)
    first_encoder = vec.encoder_
    weights = {k: v.clone() for k, v in first_encoder.state_dict().items()}
    vec.set_params(warm_start=True).fit(X, Y)
    assert vec.encoder_ is not first_encoder
    torch.testing.assert_close(first_encoder.state_dict(), weights)  # untouched


def test_warm_start_refuses_a_changed_structure(tiny_model):
    vec = make(tiny_model).fit(X, Y).set_params(warm_start=True, pooling="max")
    with pytest.raises(ValueError, match="warm_start=True continues the fitted encoder"):
        vec.fit(X, Y)


def test_warm_start_without_a_fit_loads_the_model(tiny_model):
    cold = make(tiny_model).fit(X, Y).transform(TEXTS)
    np.testing.assert_array_equal(
        make(tiny_model, warm_start=True).fit(X, Y).transform(TEXTS), cold
    )


# -- progress ----------------------------------------------------------------------------------


def test_the_progress_bar_shows_the_time_left_the_loss_and_the_validation_score(
    tiny_model, capsys
):
    make(tiny_model, epochs=2, verbose=1).fit(X, Y, X_val=X_VAL, y_val=Y_VAL)
    err = capsys.readouterr().err
    assert "12/12" in err and "<00:00" in err and "loss=" in err and "val score=" in err


callback = pytest.importorskip("sklearn.callback", reason="scikit-learn < 1.9 has no callbacks")


def test_scoring_monitor_scores_the_vectorizer_after_every_epoch(tiny_model):
    monitor = callback.ScoringMonitor(scoring={"spearman": lambda est, X, y: est.score(X, y)})
    vec = make(tiny_model, epochs=3).set_callbacks(monitor).fit(X, Y)
    scores = [r["spearman"] for r in monitor.get_logs().data if "spearman" in r]
    assert len(scores) == 4 and all(-1 <= s <= 1 for s in scores)  # 3 epochs and the end
    assert scores[-1] == pytest.approx(vec.score(X, Y))


def test_a_callback_can_stop_the_fit_at_the_end_of_an_epoch(tiny_model):
    class StopAfterFirstEpoch:
        def setup(self, estimator, context):
            pass

        def teardown(self, estimator, context):
            pass

        def on_fit_task_begin(self, estimator, context):
            pass

        def on_fit_task_end(self, estimator, context):
            return context.task_name == "epoch"

    vec = make(tiny_model, epochs=3).set_callbacks(StopAfterFirstEpoch()).fit(X, Y)
    assert vec.stop_reason_ == "callback" and len(steps(vec)) == 6


def test_the_progress_bar_callback_runs_inside_a_grid_search(tiny_model):
    pytest.importorskip("rich")
    search = GridSearchCV(make(tiny_model, epochs=1), {"pooling": ["mean", "max"]}, cv=2)
    search.set_callbacks(callback.ProgressBar()).fit(X, Y)
    assert search.best_params_["pooling"] in ("mean", "max")
