"""Planning one fit: every parameter checked, the objective chosen, every default filled in.

:func:`make_plan` is the one place that reads the estimator's parameters for a fit. It
validates ``X`` and ``y``, names the kind of data and the objective, holds out rows for early
stopping, builds the training and validation sets, resolves every ``None`` default for this
objective and data (the device and the normalisation too), and counts the steps. Its result
is an immutable :class:`~skbert._plan.FitPlan`, recorded on the fitted vectorizer as
``plan_`` so a user sees what ran, and handed to the modules that build the loss, draw the
batches and train.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target

from ._batching import Sampling, steps_per_epoch
from ._defaults import (
    DEFAULT_POSITIVE_FRACTION,
    DEFAULT_TEXTS_PER_CLASS,
    MAX_ROWS_PER_EPOCH,
    default_learning_rate,
    default_pairs_per_text,
    resolve_early_stopping,
    resolve_normalize,
    warn_large_budget,
)
from ._devices import resolve_device
from ._distributed import World, rank_device
from ._inputs import TextColumns, check_texts
from ._messages import warn
from ._objectives import DATA_DESCRIPTIONS, OBJECTIVES, TARGET_KIND, choose_objective
from ._parameters import check_objective, check_params, warn_unused
from ._plan import FitData, FitPlan
from ._precision import resolve_precision
from ._targets import YKind, check_target, labelled_rows
from ._training_set import TrainingSet, held_out_rows, training_set
from ._validation_set import validation_set

_T = TypeVar("_T")
# The objective-specific settings that default to None, and their defaults but the
# objective's own (``Objective.settings``).
_SETTING_DEFAULTS = {
    "positive_fraction": DEFAULT_POSITIVE_FRACTION,
    "texts_per_class": DEFAULT_TEXTS_PER_CLASS,
}
# The measure of held-out rows for each kind of data; the objective's loss otherwise.
METRICS = {
    "scored_pairs": "spearman",
    "labelled_texts": "accuracy",
    "multilabel_texts": "micro_f1",
    "scored_texts": "ridge_spearman",
    "labelled_pairs": "accuracy",
}


def _settings(
    params: Mapping[str, Any], data_kind: str, objective: str, training: TrainingSet
) -> dict[str, Any]:
    """Every objective setting, its ``None`` default resolved for this objective and data.

    A setting the objective does not read on this data is None.
    """
    record = OBJECTIVES[objective]
    used = record.parameters(data_kind)
    defaults = {
        **_SETTING_DEFAULTS,
        "pairs_per_text": default_pairs_per_text(training.n_rows),
        **record.settings,
    }
    settings: dict[str, Any] = {
        name: (defaults[name] if params[name] is None else params[name]) if name in used else None
        for name in ("margin", "scale", "pairs_per_text", "positive_fraction", "texts_per_class")
    }
    dims = params["matryoshka_dims"]
    budget = "pairs_per_text" in used and params["pairs_per_text"] is None
    return {
        **settings,
        "rows_per_epoch": MAX_ROWS_PER_EPOCH if budget else None,
        "score_range": training.score_range,
        "pair_features": tuple(params["pair_features"]) if "pair_features" in used else None,
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
    data_kind: str, X: TextColumns, y: np.ndarray | None, fraction: float, seed: int
) -> tuple[tuple[TextColumns, np.ndarray | None], tuple[TextColumns, np.ndarray | None]]:
    stratify = y if TARGET_KIND[data_kind] == "labels" else None
    kept, held = held_out_rows(X.n_samples, fraction, stratify, seed)
    return (
        (X.subset(kept), None if y is None else y[kept]),
        (X.subset(held), None if y is None else y[held]),
    )


def _labelled(
    columns: TextColumns, target: np.ndarray, y_kind: YKind, marker: Any, name: str
) -> tuple[TextColumns, np.ndarray | None, YKind | None]:
    """Drop the rows of ``target`` marked ``unlabelled``; the kind of what is left."""
    keep = labelled_rows(target, y_kind, marker, name=name)
    if not keep.any():
        return columns.subset(np.arange(0)), None, None
    rows = np.flatnonzero(keep)
    kept, kind = check_target(target[rows], len(rows), name=name)
    return columns.subset(rows), kept, kind


def _training_data(
    params: Mapping[str, Any], X: Any, y: Any
) -> tuple[TextColumns, np.ndarray | None, YKind | None, int]:
    """Validate ``X`` and ``y``, drop the rows marked ``unlabelled``, and count them."""
    columns = check_texts(X)
    if y is None:
        if params["unlabelled"] is not None:
            warn(
                f"unlabelled={params['unlabelled']!r} has no effect: fit got no y, so no row "
                "is labelled. It marks the unlabelled rows of y."
            )
        return columns, None, None, 0
    target, y_kind = check_target(y, columns.n_samples)
    if params["unlabelled"] is None:
        return columns, target, y_kind, 0
    kept, target, y_kind = _labelled(columns, target, y_kind, params["unlabelled"], "y")
    if target is None:
        warn(
            f"Every row of y is unlabelled={params['unlabelled']!r}, so there are no labels to "
            "fine-tune on: fit trains as on texts without labels (loss='auto': no fine-tuning)."
        )
        return columns, None, None, columns.n_samples
    return kept, target, y_kind, columns.n_samples - kept.n_samples


def _validation_data(
    params: Mapping[str, Any],
    data_kind: str,
    X: TextColumns,
    y: np.ndarray | None,
    X_val: Any,
    y_val: Any,
) -> tuple[TextColumns, np.ndarray | None] | None:
    """Check ``X_val`` and ``y_val``: the same kind of rows and targets as ``X`` and ``y``."""
    if X_val is None:
        if y_val is not None:
            raise ValueError("y_val was given without X_val; pass both, or neither.")
        return None
    columns = check_texts(X_val, name="X_val")
    if columns.input_kind != X.input_kind:
        raise ValueError(
            f"X_val holds {columns.input_kind} but X holds {X.input_kind}; validation rows "
            "must be of the kind fit trains on."
        )
    labelled = TARGET_KIND[data_kind] is not None
    if labelled != (y_val is not None):
        raise ValueError(
            f"fit got {DATA_DESCRIPTIONS[data_kind]}, so y_val must be "
            f"{'given, one target per row of X_val' if labelled else 'None'}."
        )
    if y_val is None:
        return columns, None
    target, kind = check_target(y_val, columns.n_samples, name="y_val", x_name="X_val")
    marker = params["unlabelled"]
    if marker is not None and any(value == marker for value in target.tolist()):
        columns, target, kind = _labelled(columns, target, kind, marker, "y_val")
        if target is None:
            raise ValueError(
                f"Every row of y_val is unlabelled={marker!r}; validation rows need labels."
            )
    expected = TARGET_KIND[data_kind]
    if kind != expected and not (expected == "scores" and kind == "labels"):
        raise ValueError(
            f"fit got {DATA_DESCRIPTIONS[data_kind]}, but y_val holds "
            f"{'a label-set matrix' if kind == 'label_sets' else kind}; give y_val the same "
            "kind of target as y."
        )
    if kind == "label_sets" and y is not None and target.shape[1] != y.shape[1]:
        raise ValueError(
            f"y has {y.shape[1]} label columns but y_val has {target.shape[1]}; binarize both "
            "with one MultiLabelBinarizer."
        )
    return columns, target


def make_plan(
    params: Mapping[str, Any], X: Any, y: Any, X_val: Any = None, y_val: Any = None
) -> tuple[FitPlan, FitData]:
    """Check everything about a fit before any model loads, and plan it.

    In a process that ``torchrun`` started, this joins its process group (the device and
    the seed are agreed between the processes).

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
    columns, target, y_kind, n_unlabelled = _training_data(params, X, y)
    kind, objective = choose_objective(params["loss"], columns, target, y_kind)
    if params["epochs"] == 0:
        objective = None
    given = _validation_data(params, kind, columns, target, X_val, y_val)
    stopping = resolve_early_stopping(
        params, kind, objective, columns.n_samples, given is not None
    )
    params = {**params, "early_stopping": stopping}
    check_objective(objective, params)
    warn_unused(params, objective, kind, given is not None)
    device = rank_device(resolve_device(params["device"]))  # joins torchrun's processes
    seed = int(check_random_state(params["random_state"]).randint(np.iinfo(np.int32).max))
    seed = World.current().agree(seed)  # in a fit of several processes, rank 0's seed
    where = {
        "device": str(device),
        "normalize": resolve_normalize(params["normalize"], columns.input_kind),
        "target_type": None if target is None else type_of_target(target),
        "n_unlabelled": n_unlabelled,
    }
    if objective is None:
        plan = FitPlan(kind, None, seed, **where)
        return plan, FitData(columns.input_kind, training_set(None, columns, target))
    held, fraction = given, params["validation_fraction"]
    if params["early_stopping"] and given is None:
        (columns, target), held = _split(kind, columns, target, fraction, seed)
    explain = given is None and held is not None
    build = partial(
        training_set,
        objective,
        columns,
        target,
        score_range=params["score_range"],
        labels_kind=(y_kind or "labels") if columns.input_kind == "texts" else "labels",
    )
    training = _explained("rows kept for training", fraction, build) if explain else build()
    settings = _settings(params, kind, objective, training)
    record = OBJECTIVES[objective]
    sampling = Sampling(
        record.text_rows,
        record.random_batches,
        params["batch_size"],
        settings["pairs_per_text"],
        settings["positive_fraction"],
        settings["texts_per_class"],
        settings["rows_per_epoch"],
    )
    steps = steps_per_epoch(training, sampling)
    total = min(steps * params["epochs"], params["max_steps"] or steps * params["epochs"])
    warn_large_budget(total, params["batch_size"], params["max_steps"], params["max_time"])
    plan = FitPlan(
        data_kind=kind,
        objective=objective,
        seed=seed,
        **where,
        n_train=training.n_rows,
        n_validation=0 if held is None else held[0].n_samples,
        epochs=params["epochs"],
        steps_per_epoch=steps,
        total_steps=total,
        batch_size=params["batch_size"],
        learning_rate=(
            default_learning_rate(kind)
            if params["learning_rate"] is None
            else params["learning_rate"]
        ),
        warmup_ratio=params["warmup_ratio"],
        weight_decay=params["weight_decay"],
        max_grad_norm=params["max_grad_norm"],
        precision=_training_precision(params["precision"], device),
        max_steps=params["max_steps"],
        max_time=params["max_time"],
        checkpoint_dir=None if params["checkpoint_dir"] is None else str(params["checkpoint_dir"]),
        checkpoint_steps=params["checkpoint_steps"],
        **settings,
        **_validation_settings(params, kind, held is not None, given is not None),
    )
    validation = None
    if held is not None:
        assert plan.validation_metric is not None
        build = partial(
            validation_set,
            plan.validation_metric,
            *held,
            columns,
            target,
            training,
            objective=objective,
            sampling=sampling,
            score_range=plan.score_range,
            seed=seed,
        )
        validation = _explained("held-out rows", fraction, build) if explain else build()
    return plan, FitData(columns.input_kind, training, validation)


def _validation_settings(
    params: Mapping[str, Any], data_kind: str, validating: bool, given: bool
) -> dict[str, Any]:
    """Where the scored rows come from, their measure, and the early-stopping rule."""
    if not validating:
        return {}
    stopping = bool(params["early_stopping"])
    return {
        "validation": "given" if given else "held_out",
        "validation_metric": METRICS.get(data_kind, "loss"),
        "eval_steps": params["eval_steps"],
        "early_stopping": stopping,
        "n_iter_no_change": params["n_iter_no_change"] if stopping else None,
        "tol": params["tol"] if stopping else None,
    }


def _training_precision(precision: str, device: torch.device) -> str:
    """Choose the precision ``fit`` trains in: float32 for int8, ``"auto"`` resolved."""
    return "float32" if precision == "int8" else resolve_precision(precision, device)
