"""A process-level, size-bounded cache of embeddings, shared by every vectorizer.

An encoder embeds a text exactly as any other encoder with the same weights, tokenizer and
settings does, so searches that refit a vectorizer for every candidate and fold
(``GridSearchCV`` over a downstream ``C``) need not embed the same texts again. The key is
the embedder's identity (a digest of its weights, tokenizer and output settings, see
:mod:`skbert._embedder`) with the device and precision, and the text itself; a fine-tuned
encoder has an identity of its own and is cached alike. The cache lives in the process,
not in the estimator: pickles stay small.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

MAX_BYTES = 256 * 2**20
# Python's share of an entry beside its data: array and str headers, key tuple, dict slot.
ENTRY_OVERHEAD = 256


def entry_bytes(text: str, row: np.ndarray) -> int:
    """Memory one cached embedding holds, as counted against the bound."""
    return row.nbytes + len(text) + ENTRY_OVERHEAD


class EmbeddingCache:
    """Least-recently-used embeddings, at most ``max_bytes`` of them.

    Parameters
    ----------
    max_bytes : int
        Bound on the stored embeddings, their texts and the bookkeeping of each entry.
    """

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._rows: OrderedDict[tuple[Hashable, str], np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def lookup(self, key: Hashable, texts: list[str]) -> list[np.ndarray | None]:
        """Return the cached embedding of each text under ``key``, or None where absent."""
        with self._lock:
            found = []
            for text in texts:
                row = self._rows.get((key, text))
                if row is not None:
                    self._rows.move_to_end((key, text))
                found.append(row)
            return found

    def store(self, key: Hashable, texts: list[str], embeddings: np.ndarray) -> None:
        """Remember ``embeddings[i]`` for ``texts[i]``, evicting the least recently used.

        Only the last rows that fit within the bound are copied: the earlier ones would be
        evicted by the later ones anyway, so a huge input never makes the cache overshoot.
        """
        first, budget = len(texts), self.max_bytes
        while first > 0 and entry_bytes(texts[first - 1], embeddings[first - 1]) <= budget:
            first -= 1
            budget -= entry_bytes(texts[first], embeddings[first])
        with self._lock:
            for text, row in zip(texts[first:], embeddings[first:], strict=True):
                entry = (key, text)
                if entry in self._rows:
                    continue
                self._rows[entry] = row.copy()
                self._bytes += entry_bytes(text, row)
            while self._bytes > self.max_bytes and self._rows:
                (_, text), row = self._rows.popitem(last=False)
                self._bytes -= entry_bytes(text, row)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._rows.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._rows)


EMBEDDINGS = EmbeddingCache()
