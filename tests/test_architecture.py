"""The shape of the package: what imports what, how large a module grows, where names live."""

import ast
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

from skbert._objectives import OBJECTIVES

PACKAGE = Path(__file__).resolve().parents[1] / "skbert"
# The training side: nothing that embeds (transform, score, save, load) may import these.
TRAINING = {
    "skbert._batching",
    "skbert._checkpoint",
    "skbert._frozen_states",
    "skbert._objectives",
    "skbert._parameters",
    "skbert._planning",
    "skbert._probe",
    "skbert._training",
    "skbert._training_set",
    "skbert._validation",
    "skbert._validation_set",
    "skbert.losses",
    "skbert.pairs",
}


def _imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_inference_imports_no_module_of_the_training_side():
    loaded = _imported_after("import skbert._embedder")
    assert "skbert._embedder" in loaded
    assert not loaded & TRAINING, sorted(loaded & TRAINING)


def test_the_training_side_list_names_real_modules():
    assert {f"skbert.{p.stem}" for p in PACKAGE.glob("*.py")} >= TRAINING


def test_the_plan_record_imports_no_module_of_skbert():
    tree = ast.parse((PACKAGE / "_plan.py").read_text(encoding="utf-8"))
    runtime = [
        node
        for node in tree.body  # imports under ``if TYPE_CHECKING`` are nested, not here
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert runtime == []


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_no_module_grows_past_400_lines(path):
    if path.name == "vectorizer.py":  # its docstring documents every parameter
        return
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 400


# Literals equal to an objective's name that mean something else.
NOT_OBJECTIVES = {("_st_format.py", "cosine")}  # sentence-transformers' similarity function


def _objective_literals(path: Path) -> list[tuple[int, str]]:
    found = []
    with path.open(encoding="utf-8") as f:
        for token in tokenize.generate_tokens(f.readline):
            if token.type != tokenize.STRING:
                continue
            try:
                value = ast.literal_eval(token.string)
            except (ValueError, SyntaxError):  # f-strings
                continue
            if value in OBJECTIVES and (path.name, value) not in NOT_OBJECTIVES:
                found.append((token.start[0], value))
    return found


def test_only_the_registry_names_an_objective_in_code():
    named = {
        path.name: _objective_literals(path)
        for path in PACKAGE.glob("*.py")
        if path.name not in ("_objectives.py", "losses.py")
    }
    assert {name: lines for name, lines in named.items() if lines} == {}


def test_the_grep_finds_a_named_objective(tmp_path):
    stray = tmp_path / "stray.py"
    stray.write_text('if objective == "softmax":\n    pass\n', encoding="utf-8")
    assert _objective_literals(stray) == [(1, "softmax")]
