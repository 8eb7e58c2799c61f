"""skbert: Sentence-BERT as a scikit-learn transformer.

``import skbert`` is cheap: torch and transformers load the first time
:class:`SBERTVectorizer` is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["PrecisionWarning", "SBERTVectorizer", "TruncationWarning", "__version__"]

from .exceptions import PrecisionWarning, TruncationWarning

if TYPE_CHECKING:
    from .vectorizer import SBERTVectorizer


def __getattr__(name: str) -> Any:
    if name == "SBERTVectorizer":
        from .vectorizer import SBERTVectorizer

        return SBERTVectorizer
    raise AttributeError(f"module 'skbert' has no attribute {name!r}")
