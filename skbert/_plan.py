"""One fit's plan: every parameter checked, the objective chosen, every default filled in.

:func:`make_plan` is the one place that reads the estimator's parameters and the rules
between them. It validates ``X`` and ``y``, names the kind of data and the objective, holds
out rows for early stopping, builds the training and validation sets, resolves every
``None`` default for this objective and data, and counts the steps. Its result is an
immutable :class:`FitPlan`, recorded on the fitted vectorizer as ``plan_`` so a user sees
what ran, and handed to the modules that build the loss, draw the batches and train.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ._batching import steps_per_epoch
from ._defaults import (
    MAX_ROWS_PER_EPOCH,
    default_learning_rate,
    default_pairs_per_text,
    resolve_early_stopping,
    warn_large_budget,
)
from ._devices import resolve_device
from ._distributed import World
from ._features import PAIR_PARTS
from ._inputs import TextColumns, check_target, check_texts
from ._objectives import (
    BATCH_MINING,
    DATA_DESCRIPTIONS,
    DEFAULT_MARGIN,
    DEFAULT_SCALE,
    LABEL_SAMPLED,
    OBJECTIVE_DATA,
    PAIR_LOSSES,
    TARGET_KIND,
    choose_objective,
)
from ._precision import resolve_precision
from ._training_set import TrainingSet, held_out_rows, training_set
from ._validation import ValidationSet, validation_set

if TYPE_CHECKING:
    from ._embedder import Embedder

# The estimator's parameters and their allowed values, checked by scikit-learn on entry to
# ``fit``; the rules between parameters are :func:`check_params` and :func:`make_plan`.
PARAMETER_CONSTRAINTS: dict[str, list[Any]] = {
    "model": [str, os.PathLike],
    "pooling": [StrOptions({"auto", "mean", "max", "cls"})],
    "normalize": ["boolean", StrOptions({"auto"}), None],
    "loss": [StrOptions({"auto", *OBJECTIVE_DATA})],
    "epochs": [Interval(Integral, 0, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
    "warmup_ratio": [Interval(Real, 0, 1, closed="both")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
    "margin": [Interval(Real, 0, None, closed="neither"), None],
    "scale": [Interval(Real, 0, None, closed="neither"), None],
    "pairs_per_text": [Interval(Integral, 2, None, closed="left"), None],
    "positive_fraction": [Interval(Real, 0, 1, closed="neither"), None],
    "texts_per_class": [Interval(Integral, 2, None, closed="left"), None],
    "pair_features": [tuple, list],
    "score_range": [tuple, list, None],
    "truncate_dim": [Interval(Integral, 1, None, closed="left"), None],
    "matryoshka_dims": [tuple, list, None],
    "early_stopping": ["boolean", StrOptions({"auto"})],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "eval_steps": [Interval(Integral, 1, None, closed="left"), None],
    "max_steps": [Interval(Integral, 1, None, closed="left"), None],
    "max_time": [Interval(Real, 0, None, closed="neither"), None],
    "checkpoint_dir": [str, os.PathLike, None],
    "checkpoint_steps": [Interval(Integral, 1, None, closed="left")],
    "warm_start": ["boolean"],
    "max_seq_length": [Interval(Integral, 2, None, closed="left"), None],
    "long_texts": [StrOptions({"truncate", "windows"})],
    "window_stride": [Integral, None],  # its range depends on max_seq_length: _windows.py
    "device": [str],
    "precision": [StrOptions({"auto", "float32", "bfloat16", "float16", "int8"})],
    "cache_embeddings": ["boolean"],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "trust_remote_code": ["boolean"],
    "allow_pickle": ["boolean"],
}

DEFAULT_POSITIVE_FRACTION = 0.5
DEFAULT_TEXTS_PER_CLASS = 4
_T = TypeVar("_T")


@dataclass(frozen=True)
class FitPlan:
    """What one ``fit`` runs: the data, the objective, and every setting resolved.

    Recorded on the fitted vectorizer as ``plan_``. A setting the objective does not use
    is None (``margin`` for ``"cosine"``, ``pairs_per_text`` for fixed pairs, ...); with
    ``objective=None`` nothing is trained and only the first fields are set.
    ``total_steps`` is ``epochs * steps_per_epoch``, or ``max_steps`` if smaller: the
    learning-rate schedule is planned over it. ``validation`` says where the scored rows
    come from (``"given"``: ``X_val``; ``"held_out"``: ``validation_fraction`` of ``X``).
    """

    data_kind: str
    objective: str | None
    seed: int
    n_train: int = 0
    n_validation: int = 0
    epochs: int = 0
    steps_per_epoch: int = 0
    total_steps: int = 0
    batch_size: int | None = None
    learning_rate: float | None = None
    warmup_ratio: float | None = None
    weight_decay: float | None = None
    max_grad_norm: float | None = None
    precision: str | None = None
    margin: float | None = None
    scale: float | None = None
    pairs_per_text: int | None = None
    rows_per_epoch: int | None = None
    positive_fraction: float | None = None
    texts_per_class: int | None = None
    score_range: tuple[float, float] | None = None
    pair_features: tuple[str, ...] | None = None
    matryoshka_dims: tuple[int, ...] | None = None
    max_steps: int | None = None
    max_time: float | None = None
    validation: str | None = None
    validation_metric: str | None = None
    eval_steps: int | None = None
    early_stopping: bool = False
    n_iter_no_change: int | None = None
    tol: float | None = None


@dataclass(frozen=True)
class FitData:
    """What a plan trains and validates on: ``X``'s kind, the training set, held-out rows."""

    input_kind: str
    training: TrainingSet
    validation: ValidationSet | None = None


def check_params(params: Mapping[str, Any]) -> None:
    """Rules on the contents of parameters, beyond ``_parameter_constraints``."""
    parts = tuple(params["pair_features"])
    if not parts or any(p not in PAIR_PARTS for p in parts) or len(set(parts)) != len(parts):
        raise ValueError(
            f"pair_features={params['pair_features']!r} must be a non-empty tuple of distinct "
            f"names from {PAIR_PARTS}, e.g. ('u', 'v', 'abs_diff')."
        )
    bounds = params["score_range"]
    if bounds is not None and (
        len(bounds) != 2
        or not all(isinstance(b, Real) and np.isfinite(b) for b in bounds)
        or bounds[0] >= bounds[1]
    ):
        raise ValueError(
            f"score_range={bounds!r} must be (low, high) with finite low < high, e.g. (0, 5) "
            "for STS scores."
        )
    dims = params["matryoshka_dims"]
    if dims is not None and (
        not dims
        or not all(isinstance(d, Integral) and not isinstance(d, bool) for d in dims)
        or min(dims) < 1
        or len(set(dims)) != len(dims)
    ):
        raise ValueError(
            f"matryoshka_dims={dims!r} must be a non-empty tuple of distinct positive ints, "
            "e.g. (384, 128, 64)."
        )


def check_dims(params: Mapping[str, Any], dim: int) -> None:
    """Output and Matryoshka sizes must fit the model's embedding dimension."""
    truncate = params["truncate_dim"]
    for name, dims in (
        ("truncate_dim", () if truncate is None else (truncate,)),
        ("matryoshka_dims", tuple(params["matryoshka_dims"] or ())),
    ):
        if dims and max(dims) > dim:
            raise ValueError(
                f"{name}={params[name]!r} exceeds the {dim} dimensions of the model's "
                f"embeddings; use sizes up to {dim}."
            )


def check_warm_start(params: Mapping[str, Any], fitted: Embedder) -> None:
    """Check that the fitted encoder a warm start continues has the structure asked for."""
    for name, has in (
        ("pooling", fitted.encoder.pooling),
        ("normalize", fitted.encoder.normalize),
        ("max_seq_length", fitted.max_seq_length),
    ):
        if params[name] not in ("auto", None, has):
            raise ValueError(
                f"warm_start=True continues the fitted encoder, which has {name}={has!r}, but "
                f"{name}={params[name]!r} now; set {name} back, or warm_start=False to start "
                "from model afresh."
            )


def _check_objective(objective: str | None, params: Mapping[str, Any]) -> None:
    """Rules between the chosen objective and the parameters."""
    if objective == "softmax" and params["matryoshka_dims"] is not None:
        raise ValueError(
            "matryoshka_dims does not apply to loss='softmax': its classifier reads the full "
            "embedding. Use another objective, or matryoshka_dims=None."
        )
    if objective in BATCH_MINING:
        per_class = params["texts_per_class"] or DEFAULT_TEXTS_PER_CLASS
        if params["batch_size"] < 2 * per_class:
            raise ValueError(
                f"loss={objective!r} needs at least 2 classes per batch, but batch_size="
                f"{params['batch_size']} holds fewer than 2 x texts_per_class={per_class}; "
                f"use batch_size >= {2 * per_class} or a smaller texts_per_class."
            )


def _warn_unused(params: Mapping[str, Any], objective: str | None, kind: str, given: bool) -> None:
    """Warn about parameters that the chosen objective, on this data, ignores."""
    labelled = kind == "labelled_texts"
    validating = params["early_stopping"] or given
    rules = [
        ("margin", params["margin"] is not None and objective not in DEFAULT_MARGIN,
         f"it is used by {sorted(DEFAULT_MARGIN)}"),
        ("scale", params["scale"] is not None and objective not in DEFAULT_SCALE,
         f"it is used by {sorted(DEFAULT_SCALE)}"),
        ("score_range",
         params["score_range"] is not None and (objective != "cosine" or labelled),
         "it scales the scores of the cosine objective"),
        ("pairs_per_text",
         params["pairs_per_text"] is not None and not (labelled and objective in LABEL_SAMPLED),
         "it sets how many rows each labelled text anchors"),
        ("positive_fraction",
         params["positive_fraction"] is not None
         and not (labelled and objective in PAIR_LOSSES),
         f"it balances the pairs drawn from labelled texts for {sorted(PAIR_LOSSES)}"),
        ("texts_per_class",
         params["texts_per_class"] is not None and objective not in BATCH_MINING,
         f"it shapes the batches of {sorted(BATCH_MINING)}"),
        ("early_stopping", params["early_stopping"] and objective is None, "nothing is trained"),
        ("matryoshka_dims", params["matryoshka_dims"] is not None and objective is None,
         "nothing is trained"),
        ("X_val", given and objective is None, "nothing is trained"),
        ("eval_steps", params["eval_steps"] is not None and not validating,
         "nothing is evaluated: pass X_val, or set early_stopping=True"),
        ("validation_fraction",
         given and params["early_stopping"] and params["validation_fraction"] != 0.1,
         "X_val is scored instead of held-out rows"),
    ]  # fmt: skip
    described = "no fine-tuning" if objective is None else f"the {objective!r} objective"
    for name, unused, use in rules:
        if unused:
            value = "given" if name == "X_val" else params[name]
            warnings.warn(
                f"{name}={value} has no effect with {described} on "
                f"{DATA_DESCRIPTIONS[kind]}; {use}.",
                UserWarning,
                stacklevel=4,
            )


def _or(value: _T | None, default: _T, applies: bool) -> _T | None:
    """``value``, or ``default`` when it is None; None when the setting does not apply."""
    if not applies:
        return None
    return default if value is None else value


def _settings(
    params: Mapping[str, Any], kind: str, objective: str, training: TrainingSet
) -> dict[str, Any]:
    """Every objective setting, its ``None`` default resolved for this objective and data."""
    labelled = kind == "labelled_texts"
    dims = params["matryoshka_dims"]
    budget = labelled and objective in LABEL_SAMPLED and params["pairs_per_text"] is None
    return {
        "margin": _or(
            params["margin"], DEFAULT_MARGIN.get(objective), objective in DEFAULT_MARGIN
        ),
        "scale": _or(params["scale"], DEFAULT_SCALE.get(objective), objective in DEFAULT_SCALE),
        "pairs_per_text": _or(
            params["pairs_per_text"],
            default_pairs_per_text(training.n_rows),
            labelled and objective in LABEL_SAMPLED,
        ),
        "rows_per_epoch": MAX_ROWS_PER_EPOCH if budget else None,
        "positive_fraction": _or(
            params["positive_fraction"],
            DEFAULT_POSITIVE_FRACTION,
            labelled and objective in PAIR_LOSSES,
        ),
        "texts_per_class": _or(
            params["texts_per_class"], DEFAULT_TEXTS_PER_CLASS, objective in BATCH_MINING
        ),
        "score_range": training.score_range,
        "pair_features": tuple(params["pair_features"]) if objective == "softmax" else None,
        "matryoshka_dims": None if dims is None else tuple(dims),
    }


def _explained(part: str, fraction: float, build: Callable[..., _T], *args: Any) -> _T:
    """Run ``build``; an error about the data says it concerns ``part`` of the split."""
    try:
        return build(*args)
    except ValueError as exc:
        raise ValueError(
            f"{exc} (With early_stopping, this is about the {part}, after holding out "
            f"validation_fraction={fraction}: change validation_fraction, add examples, or "
            "set early_stopping=False.)"
        ) from exc


def _split(
    kind: str, data: TextColumns, target: np.ndarray | None, fraction: float, seed: int
) -> tuple[tuple[TextColumns, np.ndarray | None], tuple[TextColumns, np.ndarray | None]]:
    stratify = target if kind in ("labelled_texts", "labelled_pairs") else None
    kept, held = held_out_rows(data.n_samples, fraction, stratify, seed)
    return (
        (data.subset(kept), None if target is None else target[kept]),
        (data.subset(held), None if target is None else target[held]),
    )


def _validation_data(
    kind: str, X: TextColumns, X_val: Any, y_val: Any
) -> tuple[TextColumns, np.ndarray | None] | None:
    """Check ``X_val`` and ``y_val``: the same kind of rows and targets as ``X`` and ``y``."""
    if X_val is None:
        if y_val is not None:
            raise ValueError("y_val was given without X_val; pass both, or neither.")
        return None
    data = check_texts(X_val, name="X_val")
    if data.kind != X.kind:
        raise ValueError(
            f"X_val holds {data.kind} but X holds {X.kind}; validation rows must be of the "
            "kind fit trains on."
        )
    labelled = TARGET_KIND[kind] is not None
    if labelled != (y_val is not None):
        raise ValueError(
            f"fit got {DATA_DESCRIPTIONS[kind]}, so y_val must be "
            f"{'given, one target per row of X_val' if labelled else 'None'}."
        )
    if y_val is None:
        return data, None
    return data, check_target(y_val, data.n_samples, name="y_val", x_name="X_val")[0]


def make_plan(
    params: Mapping[str, Any], X: Any, y: Any, X_val: Any = None, y_val: Any = None
) -> tuple[FitPlan, FitData]:
    """Check everything about a fit before any model loads, and plan it.

    Parameters
    ----------
    params : mapping
        The estimator's parameters (``get_params()``).
    X, y, X_val, y_val
        What ``fit`` was given.

    Returns
    -------
    plan : FitPlan
    data : FitData
    """
    check_params(params)
    data = check_texts(X)
    target, y_kind = (None, None) if y is None else check_target(y, data.n_samples)
    kind, objective = choose_objective(params["loss"], data, target, y_kind)
    if params["epochs"] == 0:
        objective = None
    given = _validation_data(kind, data, X_val, y_val)
    stopping = resolve_early_stopping(params, kind, objective, data.n_samples, given is not None)
    params = {**params, "early_stopping": stopping}
    _check_objective(objective, params)
    _warn_unused(params, objective, kind, given is not None)
    seed = int(check_random_state(params["random_state"]).randint(np.iinfo(np.int32).max))
    seed = World.current().agree(seed)  # in a fit of several processes, rank 0's seed
    if objective is None:
        return FitPlan(kind, None, seed), FitData(data.kind, training_set(None, data, target))
    held, fraction = given, params["validation_fraction"]
    if params["early_stopping"] and given is None:
        (data, target), held = _split(kind, data, target, fraction, seed)
    explain = given is None and held is not None
    build = partial(training_set, objective, data, target, score_range=params["score_range"])
    training = _explained("rows kept for training", fraction, build) if explain else build()
    plan = FitPlan(
        data_kind=kind,
        objective=objective,
        seed=seed,
        n_train=training.n_rows,
        n_validation=0 if held is None else held[0].n_samples,
        epochs=params["epochs"],
        batch_size=params["batch_size"],
        learning_rate=(
            default_learning_rate(kind)
            if params["learning_rate"] is None
            else params["learning_rate"]
        ),
        warmup_ratio=params["warmup_ratio"],
        weight_decay=params["weight_decay"],
        max_grad_norm=params["max_grad_norm"],
        precision=_training_precision(params),
        max_steps=params["max_steps"],
        max_time=params["max_time"],
        **_settings(params, kind, objective, training),
        **_validation_settings(params, kind, held is not None, given is not None),
    )
    steps = steps_per_epoch(training, plan)
    total = steps * plan.epochs
    plan = dataclasses.replace(
        plan, steps_per_epoch=steps, total_steps=min(total, plan.max_steps or total)
    )
    warn_large_budget(plan, params)
    validation = None
    if held is not None:
        build = partial(validation_set, plan, *held, data, target, training)
        validation = _explained("held-out rows", fraction, build) if explain else build()
    return plan, FitData(data.kind, training, validation)


# The measure of held-out rows for each kind of data; the objective's loss otherwise.
METRICS = {
    "scored_pairs": "spearman",
    "labelled_texts": "accuracy",
    "labelled_pairs": "accuracy",
}


def _validation_settings(
    params: Mapping[str, Any], kind: str, validating: bool, given: bool
) -> dict[str, Any]:
    """Where the scored rows come from, their measure, and the early-stopping rule."""
    if not validating:
        return {}
    stopping = bool(params["early_stopping"])
    return {
        "validation": "given" if given else "held_out",
        "validation_metric": METRICS.get(kind, "loss"),
        "eval_steps": params["eval_steps"],
        "early_stopping": stopping,
        "n_iter_no_change": params["n_iter_no_change"] if stopping else None,
        "tol": params["tol"] if stopping else None,
    }


def _training_precision(params: Mapping[str, Any]) -> str:
    """Choose the precision ``fit`` trains in: float32 for int8, ``"auto"`` resolved."""
    if params["precision"] == "int8":
        return "float32"
    # stacklevel 5: this function, make_plan, fit, scikit-learn's wrapper, the caller of fit
    return resolve_precision(params["precision"], resolve_device(params["device"]), stacklevel=5)
