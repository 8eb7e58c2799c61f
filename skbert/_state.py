"""The fitted state: everything ``fit`` produces, declared once and swapped in whole.

A vectorizer holds its fitted state in one :class:`FittedState`, replaced by a single
assignment at the end of a successful ``fit``, so a ``transform`` running in another thread
sees the old state or the new one, never a mix. The public fitted attributes (``encoder_``,
``loss_``, ``history_``, ...) are :class:`FittedAttribute` views of it. Saving writes the
embedder as a model folder and every other field through its entry in :data:`CODECS`; a
field without one is refused when saving, so no fitted attribute is silently lost.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._embedder import Embedder
from ._plan import FitPlan


@dataclass(frozen=True)
class FittedState:
    """What one ``fit`` (or ``load``) produced.

    ``classes`` are the class labels of the softmax objective (None otherwise);
    ``stop_reason`` says why training stopped (None: nothing was trained).
    """

    embedder: Embedder
    plan: FitPlan
    input_kind: str
    history: list[dict[str, float]]
    n_truncated: int
    embedding_dim: int
    classes: np.ndarray | None = None
    stop_reason: str | None = None


def _plan_from_json(values: dict[str, Any]) -> FitPlan:
    return FitPlan(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def _json_value(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers, for ``json``."""
    return value.item() if isinstance(value, np.generic) else value


# How each field but the embedder (saved as a model folder) travels in JSON: (to, from).
CODECS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "plan": (dataclasses.asdict, _plan_from_json),
    "input_kind": (str, str),
    "history": (
        lambda history: [{k: _json_value(v) for k, v in r.items()} for r in history],
        list,
    ),
    "n_truncated": (int, int),
    "embedding_dim": (int, int),
    "classes": (
        lambda classes: None if classes is None else classes.tolist(),
        lambda classes: None if classes is None else np.asarray(classes),
    ),
    "stop_reason": (lambda reason: reason, lambda reason: reason),
}


def _codec(name: str) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    try:
        return CODECS[name]
    except KeyError:
        raise RuntimeError(
            f"FittedState.{name} has no entry in skbert._state.CODECS, so save() cannot "
            "write it; add one."
        ) from None


def _metadata_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(FittedState) if f.name != "embedder"]


def state_to_json(state: FittedState) -> dict[str, Any]:
    """Every field of ``state`` but the embedder, as JSON values."""
    return {name: _codec(name)[0](getattr(state, name)) for name in _metadata_fields()}


def state_from_json(values: dict[str, Any], embedder: Embedder) -> FittedState:
    """Rebuild the state :func:`state_to_json` wrote, around a loaded ``embedder``.

    Raises
    ------
    KeyError
        If ``values`` lacks a field (the folder was saved by another version of skbert).
    """
    return FittedState(
        embedder, **{name: _codec(name)[1](values[name]) for name in _metadata_fields()}
    )


def frozen_state(embedder: Embedder, embedding_dim: int | None = None) -> FittedState:
    """Return the state of a model loaded as it is, without fine-tuning."""
    return FittedState(
        embedder,
        plan=FitPlan("texts", None, seed=0),
        input_kind="texts",
        history=[],
        n_truncated=0,
        embedding_dim=embedding_dim or embedder.dim,
    )


class FittedAttribute:
    """A public fitted attribute, read from the estimator's fitted state.

    Parameters
    ----------
    read : callable
        Takes the :class:`FittedState`, returns the attribute's value.
    optional : bool, default=False
        The attribute exists only where ``read`` gives something other than None
        (``classes_`` only for the softmax objective, ...).
    """

    def __init__(self, read: Callable[[FittedState], Any], *, optional: bool = False) -> None:
        self.read = read
        self.optional = optional
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        state = obj.__dict__.get("_fitted")
        if state is None:
            raise AttributeError(
                f"{type(obj).__name__!r} object has no attribute {self.name!r}: it is set by fit."
            )
        value = self.read(state)
        if value is None and self.optional:
            raise AttributeError(
                f"{type(obj).__name__!r} object has no attribute {self.name!r}: this fit "
                "did not produce one."
            )
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        raise AttributeError(
            f"{self.name} is a fitted attribute, set by fit; it cannot be assigned."
        )


# The public fitted attributes, each a view of the fitted state.
FITTED_ATTRIBUTES = {
    "encoder_": FittedAttribute(lambda s: s.embedder.encoder),
    "tokenizer_": FittedAttribute(lambda s: s.embedder.tokenizer),
    "pooling_": FittedAttribute(lambda s: s.embedder.encoder.pooling),
    "normalize_": FittedAttribute(lambda s: s.embedder.encoder.normalize),
    "max_seq_length_": FittedAttribute(lambda s: s.embedder.max_seq_length),
    "lowercase_": FittedAttribute(lambda s: s.embedder.lowercase),
    "device_": FittedAttribute(lambda s: s.embedder.device),
    "plan_": FittedAttribute(lambda s: s.plan),
    "loss_": FittedAttribute(lambda s: s.plan.objective),
    "input_kind_": FittedAttribute(lambda s: s.input_kind),
    "history_": FittedAttribute(lambda s: s.history),
    "stop_reason_": FittedAttribute(lambda s: s.stop_reason),
    "n_truncated_": FittedAttribute(lambda s: s.n_truncated),
    "embedding_dim_": FittedAttribute(lambda s: s.embedding_dim),
    "classes_": FittedAttribute(lambda s: s.classes, optional=True),
    "score_range_": FittedAttribute(lambda s: s.plan.score_range, optional=True),
}


def with_fitted_attributes(cls: type) -> type:
    """Class decorator: give ``cls`` every attribute of :data:`FITTED_ATTRIBUTES`."""
    for name, attribute in FITTED_ATTRIBUTES.items():
        attribute.__set_name__(cls, name)
        setattr(cls, name, attribute)
    return cls
