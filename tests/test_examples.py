"""The example scripts run: each, at its smallest sizes, prints its result and saves a PNG.

Each script runs as a user runs it, in a subprocess from the repository root, on the
default model; it reads ``../shared/data`` where present and its own small data set
otherwise, so these tests run either way. ``examples/quickstart.py`` is run by
``test_docs.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NUMBER = r"(-?\d+\.\d+)"
# Script -> (small arguments, pattern of each result line, (low, high) of its numbers).
EXAMPLES = {
    "fewshot_classification.py": (
        ["--per-class", "2", "--test-size", "30"],
        rf"^(frozen|fine-tuned) +\S+ +{NUMBER} +\d+$",
        (0.0, 1.0),
    ),
    "semantic_similarity.py": (
        ["--train-size", "32", "--test-size", "60"],
        rf"^(frozen|fine-tuned) +\S+ +{NUMBER} +\d+$",
        (50.0, 100.0),  # Spearman x100; all-MiniLM-L6-v2 scores 82 zero-shot on STSb
    ),
    "grid_search.py": (
        ["--size", "24", "--folds", "2"],
        rf"^ +\d +(mean|max|cls) +(?:cosine|cosent) +{NUMBER} \+- {NUMBER} +\d+\.\d$",
        (-1.0, 1.0),
    ),
    "clustering.py": (
        ["--per-class", "2", "--size", "30"],
        rf"^(frozen|fine-tuned) +{NUMBER} +\d+$",
        (-1.0, 1.0),
    ),
    "training_curve.py": (
        ["--size", "64", "--eval-steps", "2"],
        rf"^ +(\d+) +(?:-|\d+\.\d+) +{NUMBER}$",
        (0.5, 1.0),  # dev Spearman; all-MiniLM-L6-v2 scores 0.87 zero-shot on sts-dev
    ),
    "pair_classification.py": (
        ["--train-size", "48", "--test-size", "30"],
        rf"^(frozen|fine-tuned) +\S+ +{NUMBER} +{NUMBER} +\d+$",
        (0.0, 1.0),
    ),
}
# How many result lines each script prints: frozen and fine-tuned, or one per candidate,
# or one per evaluation.
ROWS = {"grid_search.py": 6, "training_curve.py": 3}


def test_every_example_script_is_run_by_a_test():
    scripts = {p.name for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_")}
    assert scripts - {"quickstart.py"} == set(EXAMPLES)


@pytest.mark.slow  # each loads the real model and fine-tunes it, for seconds to a minute
@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_example_prints_its_results_and_saves_its_picture(script, tmp_path):
    arguments, pattern, (low, high) = EXAMPLES[script]
    out = tmp_path / "picture.png"
    run = subprocess.run(
        [sys.executable, f"examples/{script}", *arguments, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr

    rows = [m.groups() for m in re.finditer(pattern, run.stdout, re.MULTILINE)]
    assert len(rows) == ROWS.get(script, 2), run.stdout
    numbers = [float(v) for row in rows for v in row[1:]]
    assert all(low <= v <= high for v in numbers), run.stdout
    assert f"picture: {out}" in run.stdout
    picture = out.read_bytes()
    assert picture.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(picture) > 10_000  # axes, labels and points, not an empty canvas
