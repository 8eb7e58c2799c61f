"""The documentation runs: code blocks of README.md and docs/*.md, and docstring examples.

Each page's ``python`` code blocks run in order in one namespace, the way a reader pastes
them into one session, and none may warn. A block whose info string carries ``skip`` (a
fence opened with three backticks and ``python skip``) is shown but not run: for code that
needs a GPU, a network or data that is not shipped.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
import runpy
import warnings
from pathlib import Path

import pytest

import skbert
from skbert import PrecisionWarning

ROOT = Path(__file__).resolve().parents[1]
SKBERT = Path(skbert.__file__).parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(?P<info>[^`\n]*)\n(?P<code>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
# Modules whose docstring examples load the real default model and fine-tune it, or start
# processes.
SLOW_DOCTESTS = {"skbert.vectorizer", "skbert.distributed"}


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """``(line of the opening fence, code)`` of each python block of ``page`` not marked skip."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        words = match["info"].split()
        if words[:1] == ["python"] and "skip" not in words[1:]:
            blocks.append((text.count("\n", 0, match.start()) + 1, match["code"]))
    return blocks


def test_fences_are_found_with_their_line_numbers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n```python\nx = 1\n```\n\n```bash\nls\n```\n\n"
        "```python skip\ngpu()\n```\n\n```python\ny = x + 1\n```\n",
        encoding="utf-8",
    )
    assert python_blocks(page) == [(3, "x = 1\n"), (15, "y = x + 1\n")]


def run_page(page: Path) -> tuple[dict[str, object], list[str]]:
    """Run the python blocks of ``page`` in one namespace: the namespace, and the warnings
    a reader would see from them (``file:line: category: message``).

    Those are the warnings that point at the page or into skbert, and every UserWarning
    (skbert's kind: one with a wrong ``stacklevel`` points into scikit-learn's ``fit``
    wrapper); other libraries' deprecation notices are not the page's. A PrecisionWarning is
    left out: it judges the CPU the page runs on, not the example.
    """
    namespace: dict[str, object] = {"__name__": "__main__"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # A block that no longer runs raises here.
        for line, code in python_blocks(page):
            # Padding puts each line at its line number in the page, so a traceback and a
            # warning point there.
            exec(compile("\n" * line + code, str(page), "exec"), namespace)
    warned = [
        f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}"
        for w in caught
        if not issubclass(w.category, PrecisionWarning)
        and (
            issubclass(w.category, UserWarning)
            or Path(w.filename) == page
            or Path(w.filename).is_relative_to(SKBERT)
        )
    ]
    return namespace, warned


def test_the_warnings_a_reader_would_see_are_reported_where_they_point(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n```python\nimport warnings\n\nwarnings.warn('has no effect')\n"
        "warnings.warn_explicit('points elsewhere', UserWarning, 'sklearn/base.py', 1)\n"
        "warnings.warn_explicit('old', DeprecationWarning, 'lib.py', 2)\n```\n",
        encoding="utf-8",
    )
    namespace, warned = run_page(page)
    assert "warnings" in namespace
    assert warned == [
        f"{page}:6: UserWarning: has no effect",
        "sklearn/base.py:1: UserWarning: points elsewhere",
    ]


@pytest.mark.slow  # the pages use the real default model, and fine-tune it
@pytest.mark.parametrize(
    "page",
    [page for page in PAGES if python_blocks(page)],
    ids=lambda page: page.relative_to(ROOT).as_posix(),
)
def test_code_blocks_of_page_run_without_warnings(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # blocks that write files write them here
    namespace, warned = run_page(page)
    assert set(namespace) - {"__name__", "__builtins__"}, "the page's blocks defined nothing"
    assert not warned, "\n".join(warned)  # no documented example warns


def _modules_with_examples() -> list[object]:
    params = []
    for info in pkgutil.iter_modules(skbert.__path__, "skbert."):
        module = importlib.import_module(info.name)
        if any(test.examples for test in doctest.DocTestFinder().find(module)):
            marks = [pytest.mark.slow] if info.name in SLOW_DOCTESTS else []
            params.append(pytest.param(info.name, marks=marks, id=info.name))
    return params


@pytest.mark.parametrize("module_name", _modules_with_examples())
def test_docstring_examples_of_module_run(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed; see stdout"


@pytest.mark.slow
def test_quickstart_example_fine_tuning_beats_frozen_embeddings(capsys):
    runpy.run_path(str(ROOT / "examples" / "quickstart.py"), run_name="__main__")
    rows = {
        line.split()[0]: [float(v) for v in line.split()[-2:]]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("  ")
    }
    for measure, (frozen, tuned) in rows.items():
        assert tuned > frozen, measure
    assert len(rows) == 2
