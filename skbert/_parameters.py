"""The estimator's parameters: their allowed values, and the rules on and between them.

:data:`PARAMETER_CONSTRAINTS` is what scikit-learn checks on entry to ``fit``; the functions
here check what it cannot (the contents of tuples, sizes against the model, a warm start
against the fitted encoder, the chosen objective against the other parameters) and warn
about a parameter that has no effect on this objective and data. Which objective reads which
parameter comes from the registry (:meth:`skbert._objectives.Objective.parameters`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ._defaults import DEFAULT_TEXTS_PER_CLASS
from ._messages import warn
from ._objectives import DATA_DESCRIPTIONS, OBJECTIVES
from ._pair_features import PAIR_PARTS

if TYPE_CHECKING:
    from ._embedder import Embedder

# The estimator's parameters and their allowed values, checked by scikit-learn on entry to
# ``fit``; the rules between parameters are :func:`check_params` and :func:`make_plan`.
PARAMETER_CONSTRAINTS: dict[str, list[Any] | str] = {
    "model": [str, os.PathLike],
    "pooling": [StrOptions({"auto", "mean", "max", "cls"})],
    "normalize": ["boolean", StrOptions({"auto"}), None],
    "loss": [StrOptions({"auto", *OBJECTIVES})],
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
    "unlabelled": "no_validation",  # any value y can hold: _targets.labelled_rows
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
    "backend": [StrOptions({"torch", "onnx"})],
    "trainable_layers": [Interval(Integral, 0, None, closed="left"), None],
    "cache_embeddings": ["boolean"],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "trust_remote_code": ["boolean"],
    "allow_pickle": ["boolean"],
}


def check_params(params: Mapping[str, Any]) -> None:
    """Rules on the contents of parameters, beyond ``_parameter_constraints``."""
    if params["trainable_layers"] == 0:
        raise ValueError(
            "trainable_layers=0 would train no weight of the encoder; use epochs=0 for the "
            "pretrained embeddings, or trainable_layers >= 1 (None trains every layer)."
        )
    if params["backend"] == "onnx" and params["precision"] in ("bfloat16", "float16"):
        raise ValueError(
            f"backend='onnx' embeds in float32 or int8, got precision="
            f"{params['precision']!r}; use precision='float32', 'int8' or 'auto', or "
            "backend='torch'."
        )
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


def check_objective(objective: str | None, params: Mapping[str, Any]) -> None:
    """Rules between the chosen objective and the parameters."""
    if objective is None:
        return
    record = OBJECTIVES[objective]
    if not record.matryoshka and params["matryoshka_dims"] is not None:
        raise ValueError(
            f"matryoshka_dims does not apply to loss={objective!r}: its classifier reads the "
            "full embedding. Use another objective, or matryoshka_dims=None."
        )
    if record.text_rows == "class_batches":
        per_class = params["texts_per_class"] or DEFAULT_TEXTS_PER_CLASS
        if params["batch_size"] < 2 * per_class:
            raise ValueError(
                f"loss={objective!r} needs at least 2 classes per batch, but batch_size="
                f"{params['batch_size']} holds fewer than 2 x texts_per_class={per_class}; "
                f"use batch_size >= {2 * per_class} or a smaller texts_per_class."
            )


# The objective-specific parameters that default to None, and what each does.
_OBJECTIVE_PARAMETERS = {
    "margin": "it is the margin of",
    "scale": "it scales the similarities of",
    "score_range": "it is the source range of the scores scaled onto [0, 1] by",
    "pairs_per_text": "it sets how many rows each labelled text anchors for",
    "positive_fraction": "it balances the pairs drawn from labelled texts for",
    "texts_per_class": "it shapes the batches of",
}


def _users(name: str, data_kind: str) -> str:
    """Name the objectives that read parameter ``name``: on ``data_kind``, or on any data."""
    on_kind = sorted(
        o.name
        for o in OBJECTIVES.values()
        if data_kind in o.data and name in o.parameters(data_kind)
    )
    if on_kind:
        return f"{on_kind} on {DATA_DESCRIPTIONS[data_kind]}"
    return str(
        sorted(o.name for o in OBJECTIVES.values() if any(name in o.parameters(k) for k in o.data))
    )


def warn_unused(
    params: Mapping[str, Any], objective: str | None, data_kind: str, given: bool
) -> None:
    """Warn about parameters that the chosen objective, on this data, ignores."""
    used = frozenset() if objective is None else OBJECTIVES[objective].parameters(data_kind)
    validating = params["early_stopping"] or given
    rules = [
        (name, params[name] is not None and name not in used, f"{use} {_users(name, data_kind)}")
        for name, use in _OBJECTIVE_PARAMETERS.items()
    ] + [
        ("early_stopping", params["early_stopping"] and objective is None, "nothing is trained"),
        ("matryoshka_dims", params["matryoshka_dims"] is not None and objective is None,
         "nothing is trained"),
        ("trainable_layers", params["trainable_layers"] is not None and objective is None,
         "nothing is trained"),
        ("X_val", given and objective is None, "nothing is trained"),
        ("eval_steps", params["eval_steps"] is not None and not validating,
         "nothing is evaluated: pass X_val, or set early_stopping=True"),
        ("validation_fraction",
         given and params["early_stopping"] and params["validation_fraction"] != 0.1,
         "X_val is scored instead of held-out rows"),
    ]  # fmt: skip
    if params["window_stride"] is not None and params["long_texts"] == "truncate":
        warn(
            f"window_stride={params['window_stride']} has no effect with "
            "long_texts='truncate'; it spaces the windows of long_texts='windows'."
        )
    described = "no fine-tuning" if objective is None else f"the {objective!r} objective"
    for name, unused, use in rules:
        if unused:
            value = "given" if name == "X_val" else params[name]
            warn(
                f"{name}={value} has no effect with {described} on "
                f"{DATA_DESCRIPTIONS[data_kind]}; {use}."
            )
