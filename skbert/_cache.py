"""Process-level, size-bounded caches shared by every vectorizer.

An encoder embeds a text exactly as any other encoder with the same weights, tokenizer and
settings does, so searches that refit a vectorizer for every candidate and fold
(``GridSearchCV`` over a downstream ``C``) need not embed the same texts again. The key is
the embedder's identity (a digest of its weights, tokenizer and output settings, see
:mod:`skbert._embedder`) with the device and precision, and the text itself; a fine-tuned
encoder has an identity of its own and is cached alike. Partial fine-tuning keeps the
frozen layers' token states the same way (:data:`FROZEN_STATES`, keyed by a digest of the
frozen weights and the token ids, see :mod:`skbert._frozen_states`), so the clones of a
search compute them once. The caches live in the process, not in the estimator: pickles
stay small.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence

import numpy as np
import torch

MAX_BYTES = 256 * 2**20
FROZEN_STATES_MAX_BYTES = 2**30
# Python's share of an entry beside its data: array and str headers, key tuple, dict slot.
ENTRY_OVERHEAD = 256

Item = str | bytes  # a text, or the token ids of one
Value = np.ndarray | torch.Tensor


def entry_bytes(item: Item, row: Value) -> int:
    """Memory one cached entry holds, as counted against the bound."""
    return row.nbytes + len(item) + ENTRY_OVERHEAD


def _copy(row: Value) -> Value:
    """Copy ``row`` into memory of its own: a view would keep a caller's larger array alive."""
    return row.copy() if isinstance(row, np.ndarray) else row.detach().clone()


class EmbeddingCache:
    """Least-recently-used rows (embeddings or token states), at most ``max_bytes`` of them.

    Parameters
    ----------
    max_bytes : int
        Bound on the stored rows, their items (texts or token ids) and the bookkeeping of
        each entry.
    """

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._rows: OrderedDict[tuple[Hashable, Item], Value] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def lookup(self, key: Hashable, texts: Sequence[Item]) -> list[Value | None]:
        """Return the cached row of each text under ``key``, or None where absent."""
        with self._lock:
            found = []
            for text in texts:
                row = self._rows.get((key, text))
                if row is not None:
                    self._rows.move_to_end((key, text))
                found.append(row)
            return found

    def store(self, key: Hashable, texts: Sequence[Item], embeddings: Sequence[Value]) -> None:
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
                self._rows[entry] = _copy(row)
                self._bytes += entry_bytes(text, row)
            while self._bytes > self.max_bytes and self._rows:
                (_, text), row = self._rows.popitem(last=False)
                self._bytes -= entry_bytes(text, row)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._rows.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        """Memory the entries take, as counted against the bound."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._rows)


EMBEDDINGS = EmbeddingCache()
FROZEN_STATES = EmbeddingCache(FROZEN_STATES_MAX_BYTES)
