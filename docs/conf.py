"""Sphinx configuration of the skbert documentation.

Build with ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (what CI runs).
Pages are Markdown (MyST); the API reference comes from the numpydoc docstrings.
"""

from __future__ import annotations

import skbert

project = "skbert"
author = "skbert developers"
copyright = "skbert developers"
release = skbert.__version__
version = release

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]

myst_heading_anchors = 3  # #section links from Markdown, as on GitHub
myst_enable_extensions = ["deflist"]  # "term" then ": definition" lists

autodoc_typehints = "none"  # types are in the numpydoc parameter lists
autodoc_member_order = "bysource"
numpydoc_show_class_members = False  # members are listed explicitly in api.rst

html_theme = "pydata_sphinx_theme"
html_title = f"skbert {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
