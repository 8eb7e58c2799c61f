"""Texts longer than ``max_seq_length``: token windows, their pooling, and training views.

With ``long_texts="windows"`` a text is tokenized whole, its tokens (special tokens aside)
are cut into windows of ``max_seq_length`` tokens that start every ``window_stride`` tokens,
and each window gets the text's special tokens back, so a window is encoded exactly like a
short text. The windows of every text of a chunk are embedded together in length-sorted
batches, as short texts are; a text's vector is the mean of its windows' vectors before
normalisation, weighted by each window's number of tokens (for mean pooling, the mean over
every token of every window). A text that fits in one window has that window only, so it
embeds exactly as with truncation.

A text's windows are pooled in their own order, whatever else the call holds, so its vector
does not depend on the other texts, the batch size or the cache. Fine-tuning sees each
occurrence of a text in a training row as one of its windows, drawn at random from the
fit's seed (:func:`skbert._batching.training_views`): the rows and steps of the plan, and
so its budget, are those of the texts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ._encoder import Tokens

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerBase


# Characters tokenized at once in windows mode: a whole long text's encoding is held by the
# tokenizer until it is split, so chunks are bounded by size rather than by count.
CHUNK_CHARS = 2_000_000


@dataclass(frozen=True)
class Windows:
    """How a long text is split: ``size`` text tokens per window, a window every ``stride``.

    ``front`` and ``back`` are the numbers of special tokens the tokenizer puts before and
    after a text (1 and 1 for BERT's ``[CLS] ... [SEP]``); every window gets them too, so
    ``front + size + back`` is ``max_seq_length``.
    """

    size: int
    stride: int
    front: int
    back: int


def special_tokens(backend: Tokenizer) -> tuple[int, int]:
    """Numbers of special tokens ``backend`` adds before and after a single text."""
    mask = whole_backend(backend).encode("a", add_special_tokens=True).special_tokens_mask
    front = next(i for i, special in enumerate(mask) if not special)
    back = next(i for i, special in enumerate(reversed(mask)) if not special)
    return front, back


def make_windows(
    long_texts: str,
    window_stride: int | None,
    max_seq_length: int,
    tokenizer: PreTrainedTokenizerBase,
) -> Windows | None:
    """Check the long-text settings against ``max_seq_length``; None means truncate.

    Parameters
    ----------
    long_texts : {"truncate", "windows"}
        What happens to a text longer than ``max_seq_length`` tokens.
    window_stride : int or None
        Tokens from the start of one window to the next; None: half a window.
    max_seq_length : int
        Longest input in tokens, special tokens included: a window's length.
    tokenizer : transformers.PreTrainedTokenizerBase
        The fast tokenizer, for the number of special tokens around a text.

    Returns
    -------
    windows : Windows or None

    Raises
    ------
    ValueError
        If a window holds no text beside the special tokens, or ``window_stride`` is below
        1 or longer than a window (tokens between windows would be skipped).
    """
    if long_texts == "truncate":
        return None
    front, back = special_tokens(tokenizer.backend_tokenizer)
    size = max_seq_length - front - back
    if size < 1:
        raise ValueError(
            f"long_texts='windows' needs room for text in each window, but max_seq_length="
            f"{max_seq_length} holds only the {front + back} special tokens; pass "
            f"max_seq_length >= {front + back + 1} (or None for the model's limit)."
        )
    stride = max(size // 2, 1) if window_stride is None else window_stride
    if not 1 <= stride <= size:
        raise ValueError(
            f"window_stride={window_stride} must lie in [1, {size}]: a window holds {size} "
            f"tokens of text (max_seq_length={max_seq_length} less {front + back} special "
            f"tokens), and a larger stride would skip the tokens between windows. Pass "
            f"window_stride={max(size // 2, 1)} (half a window, the default with None) or "
            f"{size} (windows that do not overlap)."
        )
    return Windows(size, stride, front, back)


def whole_backend(backend: Tokenizer) -> Tokenizer:
    """Return a copy of ``backend`` that neither truncates nor pads, configured once."""
    from tokenizers import Tokenizer

    whole = Tokenizer.from_str(backend.to_str())
    whole.no_truncation()
    whole.no_padding()
    return whole


def char_chunks(texts: list[str], max_texts: int) -> Iterator[slice]:
    """Consecutive slices of at most ``max_texts`` texts and about ``CHUNK_CHARS`` characters.

    A text longer than that is a chunk of its own.
    """
    start = 0
    while start < len(texts):
        end, chars = start, 0
        while end < len(texts) and end - start < max_texts:
            chars += len(texts[end])
            if chars > CHUNK_CHARS and end > start:
                break
            end += 1
        yield slice(start, end)
        start = end


def split(tokens: Tokens, windows: Windows) -> tuple[Tokens, np.ndarray]:
    """Cut each text of ``tokens`` (whole, with special tokens) into windows.

    Returns
    -------
    window_tokens : Tokens
        Every window, each with the text's special tokens, text by text and in order.
    owner : ndarray of shape (n_windows,)
        The text each window comes from; every text has at least one window.
    """
    front, back = windows.front, windows.back
    content = tokens.lengths - front - back
    counts = 1 + np.maximum(0, -(-(content - windows.size) // windows.stride))
    owner = np.repeat(np.arange(len(tokens)), counts)
    first = np.cumsum(counts) - counts
    start = (np.arange(len(owner)) - first[owner]) * windows.stride
    text_length = np.minimum(windows.size, content[owner] - start)
    lengths = front + text_length + back
    offsets = np.zeros(len(owner) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # Position p of window w reads, in its text: a leading special token (p < front), a
    # text token (start + p), or a trailing special token (at the end of the text).
    window = np.repeat(np.arange(len(owner)), lengths)
    p = np.arange(offsets[-1]) - offsets[window]
    text_begin, text_end = tokens.offsets[owner][window], tokens.offsets[owner + 1][window]
    stop = front + text_length[window]
    source = np.where(
        p < front,
        text_begin + p,
        np.where(p < stop, text_begin + start[window] + p, text_end - back + (p - stop)),
    )
    return Tokens(tokens.ids[source], offsets, 0), owner


def pool(vectors: np.ndarray, owner: np.ndarray, weights: np.ndarray, n_texts: int) -> np.ndarray:
    """Mean of each text's window vectors, weighted; windows are summed in their order.

    Parameters
    ----------
    vectors : ndarray of shape (n_windows, dim)
        One (unnormalised) vector per window, grouped by text as :func:`split` orders them.
    owner : ndarray of shape (n_windows,)
        The text of each window.
    weights : ndarray of shape (n_windows,)
        Each window's weight: its number of tokens.
    n_texts : int
        Number of texts; each owns at least one window.

    Returns
    -------
    pooled : ndarray of shape (n_texts, dim), float32
    """
    weighted = vectors.astype(np.float64) * weights[:, None]
    first = np.searchsorted(owner, np.arange(n_texts))
    sums = np.add.reduceat(weighted, first, axis=0)
    totals = np.add.reduceat(weights.astype(np.float64), first)
    return (sums / totals[:, None]).astype(np.float32)


def embed_windows(
    tokens: Tokens,
    windows: Windows,
    encode: Callable[[Tokens, np.ndarray], None],
    dim: int,
    normalize: bool,
) -> np.ndarray:
    """Embed the texts of ``tokens`` window by window and pool them, one row per text.

    ``encode(window_tokens, out)`` fills ``out`` with one unnormalised vector per window, in
    length-sorted batches; the pooled vectors are normalised afterwards if ``normalize``.
    """
    window_tokens, owner = split(tokens, windows)
    vectors = np.empty((len(window_tokens), dim), dtype=np.float32)
    encode(window_tokens, vectors)
    pooled = pool(vectors, owner, window_tokens.lengths, len(tokens))
    if normalize:
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return pooled
