"""Warnings skbert emits, as classes users can filter."""

from __future__ import annotations

from ._messages import warn

__all__ = ["PrecisionWarning", "TruncationWarning", "warn_truncated"]


class TruncationWarning(UserWarning):
    """Texts were longer than ``max_seq_length`` tokens and only their beginning was embedded.

    Filter it with ``warnings.filterwarnings("ignore", category=TruncationWarning)`` when
    truncation is expected; the count is in the message and, for ``fit``, in
    ``n_truncated_``.
    """


class PrecisionWarning(UserWarning):
    """The ``precision`` asked for was measured slower than float32 on such a CPU or GPU.

    Shown once per process for each precision and device type, with the instruction set
    or capability that is missing, the measured ratio to float32, where it was measured,
    and what to use instead. The
    precision still runs as asked. Filter it with
    ``warnings.filterwarnings("ignore", category=PrecisionWarning)`` once you have
    measured that the precision pays for you.
    """


def warn_truncated(n_truncated: int, n_texts: int, max_seq_length: int) -> None:
    """Warn that ``n_truncated`` of ``n_texts`` texts were cut to ``max_seq_length`` tokens."""
    if n_truncated:
        warn(
            f"{n_truncated} of {n_texts} texts are longer than max_seq_length="
            f"{max_seq_length} tokens and were cut to that length, so only their beginning "
            "is embedded. Set long_texts='windows' to embed them whole (in windows of "
            "max_seq_length tokens, pooled), raise max_seq_length (up to the model's limit), "
            "or filter TruncationWarning if this is intended.",
            TruncationWarning,
        )
