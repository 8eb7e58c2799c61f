"""The example scripts run: each, at its smallest sizes, prints its result and saves a PNG.

Each script runs as a user runs it, in a subprocess from the repository root, on the
default model and on the skbert of this checkout; it reads ``../shared/data`` where present
and its own small data set otherwise, so these tests run either way (``.ci/run`` runs them
both ways). ``examples/quickstart.py`` is run by ``test_docs.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NUMBER = r"(-?\d+\.\d+)"


def frozen_then_fine_tuned(rows: list[tuple[str, ...]], stdout: str) -> None:
    assert [row[0] for row in rows] == ["frozen", "fine-tuned"], stdout


def every_candidate_once(rows: list[tuple[str, ...]], stdout: str) -> None:
    grid = [
        f"{pooling} {loss}" for pooling in ("mean", "max", "cls") for loss in ("cosine", "cosent")
    ]
    assert sorted(" ".join(row[0].split()) for row in rows) == sorted(grid), stdout


def a_rising_curve(rows: list[tuple[str, ...]], stdout: str) -> None:
    steps, scores = [int(row[0]) for row in rows], [float(row[1]) for row in rows]
    # The starting weights, then at least two evaluations while training.
    assert steps[0] == 0 and len(steps) >= 3 and steps == sorted(set(steps)), stdout
    assert max(scores) > scores[0], stdout  # fine-tuning raised the dev score
    best = steps[int(np.argmax(scores))]
    assert f"weights kept: after step {best} (the best dev score)" in stdout, stdout


# Script -> (small arguments, pattern of each result line, (low, high) of the numbers after
# its first group, what its rows must show).
EXAMPLES = {
    "fewshot_classification.py": (
        ["--per-class", "2", "--test-size", "30"],
        rf"^(frozen|fine-tuned) +\S+ +{NUMBER} +\d+$",
        (0.0, 1.0),
        frozen_then_fine_tuned,
    ),
    "semantic_similarity.py": (
        ["--train-size", "32", "--test-size", "60"],
        rf"^(frozen|fine-tuned) +\S+ +{NUMBER} +\d+$",
        (50.0, 100.0),  # Spearman x100; all-MiniLM-L6-v2 scores 82 zero-shot on STSb
        frozen_then_fine_tuned,
    ),
    "grid_search.py": (
        ["--size", "24", "--folds", "2"],
        rf"^ +\d +((?:mean|max|cls) +(?:cosine|cosent)) +{NUMBER} \+- {NUMBER} +\d+\.\d$",
        (-1.0, 1.0),
        every_candidate_once,
    ),
    "clustering.py": (
        ["--per-class", "2", "--size", "30"],
        rf"^(frozen|fine-tuned) +{NUMBER} +\d+$",
        (-1.0, 1.0),
        frozen_then_fine_tuned,
    ),
    "training_curve.py": (
        ["--size", "64", "--eval-steps", "2"],
        rf"^ +(\d+) +(?:-|\d+\.\d+) +{NUMBER}$",
        (0.0, 1.0),  # dev Spearman: at the start 0.87 on sts-dev, 0.49 on generated pairs
        a_rising_curve,
    ),
    "pair_classification.py": (
        ["--train-size", "48", "--test-size", "30"],
        rf"^(frozen|fine-tuned) +\S+ +{NUMBER} +{NUMBER} +\d+$",
        (0.0, 1.0),
        frozen_then_fine_tuned,
    ),
}


def test_every_example_script_is_run_by_a_test():
    scripts = {p.name for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_")}
    assert scripts - {"quickstart.py"} == set(EXAMPLES)


@pytest.mark.slow  # each loads the real model and fine-tunes it, for seconds to a minute
@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_example_prints_its_results_and_saves_its_picture(script, tmp_path):
    arguments, pattern, (low, high), check_rows = EXAMPLES[script]
    out = tmp_path / "picture.png"
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    run = subprocess.run(
        [sys.executable, f"examples/{script}", *arguments, "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr

    rows = [m.groups() for m in re.finditer(pattern, run.stdout, re.MULTILINE)]
    check_rows(rows, run.stdout)
    numbers = [float(v) for row in rows for v in row[1:]]
    assert all(low <= v <= high for v in numbers), run.stdout
    assert f"picture: {out}" in run.stdout
    picture = out.read_bytes()
    assert picture.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(picture) > 10_000  # axes, labels and points, not an empty canvas
